"""Cognito user-pool JWTs verified with PyJWT against the pool's published keys."""

from __future__ import annotations

from typing import Any

import jwt

from tasklane.auth import Unauthorized


class CognitoTokenVerifier:
    def __init__(self, issuer: str, client_ids: list[str], jwks_url: str) -> None:
        self.issuer = issuer
        self.client_ids = set(client_ids)
        # PyJWKClient caches the key set and refetches it when a token names an unknown key id.
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    def claims(self, token: str) -> dict[str, Any]:
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, signing_key.key, algorithms=["RS256"], issuer=self.issuer,
                options={"require": ["exp", "iss", "token_use"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        # ID tokens name their app client in `aud`; only the platform's own clients are accepted.
        if claims.get("token_use") != "id" or claims.get("aud") not in self.client_ids:
            raise Unauthorized("the token is not an ID token of this platform's sign-in")
        return claims
