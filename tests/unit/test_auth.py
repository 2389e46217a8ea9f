"""Who is calling: API keys (stored as digests) and Cognito ID tokens verified against the pool's keys."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes import FakeVerifier, MemoryKeys
from jwt.algorithms import RSAAlgorithm

from tasklane.auth import (
    API_KEY_PREFIX,
    ApiKeyRecord,
    Principal,
    Unauthorized,
    authenticate,
    digest_of,
    issue_api_key,
)
from tasklane.aws.api_keys import DynamoApiKeyStore
from tasklane.aws.cognito_tokens import CognitoTokenVerifier

POOL = "us-east-1_TestPool"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
CLIENT = "web-client-id"
KID = "key-1"


NO_TOKENS = FakeVerifier({})


# --- API keys -----------------------------------------------------------------------------------------


def test_an_issued_key_authenticates_as_its_tenant() -> None:
    keys = MemoryKeys()
    record, secret = issue_api_key("acme", "ci", keys)
    assert secret.startswith(API_KEY_PREFIX)
    # only the digest is stored, never the secret
    assert list(keys.records) == [digest_of(secret)]
    assert secret not in repr(keys.records)

    principal = authenticate(f"ApiKey {secret}", keys, NO_TOKENS)

    assert principal == Principal(tenant="acme", subject=f"key:{record.key_id}", method="api_key")
    # the scheme is case-insensitive and surrounding spaces do not matter
    assert authenticate(f"  apikey   {secret} ", keys, NO_TOKENS) == principal
    assert NO_TOKENS.seen == []


def test_two_keys_are_different_secrets() -> None:
    keys = MemoryKeys()
    (_, one), (_, two) = issue_api_key("acme", "a", keys), issue_api_key("acme", "b", keys)
    assert one != two and len(keys.records) == 2


def test_an_unknown_key_is_refused() -> None:
    keys = MemoryKeys()
    issue_api_key("acme", "ci", keys)
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        authenticate("ApiKey tlk_not-a-key-anyone-was-given", keys, NO_TOKENS)


def test_a_revoked_key_is_refused() -> None:
    keys = MemoryKeys()
    record, secret = issue_api_key("acme", "ci", keys)
    keys.records[digest_of(secret)] = ApiKeyRecord(
        key_id=record.key_id, tenant=record.tenant, name=record.name, created_at=record.created_at, revoked=True
    )
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        authenticate(f"ApiKey {secret}", keys, NO_TOKENS)


@pytest.mark.parametrize("tenant", ["Acme", "", "-acme", "acme_corp", "a" * 64, "acme corp"])
def test_a_key_is_issued_only_for_a_well_formed_tenant(tenant: str) -> None:
    keys = MemoryKeys()
    with pytest.raises(ValueError, match="tenant"):
        issue_api_key(tenant, "ci", keys)
    assert keys.records == {}


def test_api_keys_round_trip_through_dynamodb(keys_table: str, ddb: Any) -> None:
    keys = DynamoApiKeyStore(keys_table, ddb)
    record, secret = issue_api_key("acme", "ci", keys)
    assert keys.find_key(digest_of(secret)) == record
    assert keys.find_key(digest_of(secret + "x")) is None
    # a digest is written once: a second key under it is refused
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        keys.put_key(digest_of(secret), record)
    # the secret itself is nowhere in the table
    items = ddb.scan(TableName=keys_table)["Items"]
    assert secret not in repr(items)
    assert keys.list_keys("acme") == [record] and keys.list_keys("globex") == []
    revoked = keys.revoke_key("acme", record.key_id, "2026-01-01T00:00:00.000Z")
    assert revoked is not None and revoked.revoked and revoked.revoked_at == "2026-01-01T00:00:00.000Z"
    # revoking again keeps the first time; another tenant cannot revoke it; an unknown id is None
    assert keys.revoke_key("acme", record.key_id, "2027-01-01T00:00:00.000Z") == revoked
    assert keys.revoke_key("globex", record.key_id, "2027-01-01T00:00:00.000Z") is None
    assert keys.revoke_key("acme", "000000000000", "2027-01-01T00:00:00.000Z") is None
    assert keys.list_keys("acme") == [revoked]
    with pytest.raises(Unauthorized):
        authenticate(f"ApiKey {secret}", keys, NO_TOKENS)


# --- headers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   ", "ApiKey", "ApiKey   ", "Bearer", "tlk_secret-without-scheme"])
def test_a_missing_credential_is_refused_with_how_to_send_one(header: str | None) -> None:
    with pytest.raises(Unauthorized, match="Authorization: ApiKey"):
        authenticate(header, MemoryKeys(), NO_TOKENS)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Digest x"])
def test_another_scheme_is_refused(header: str) -> None:
    with pytest.raises(Unauthorized, match="unsupported authorization scheme"):
        authenticate(header, MemoryKeys(), NO_TOKENS)


# --- bearer tokens ------------------------------------------------------------------------------------


def test_a_bearer_token_authenticates_as_the_tenant_it_names() -> None:
    verifier = FakeVerifier({"sub": "u-123", "custom:tenant": "globex"})
    principal = authenticate("Bearer good-token", MemoryKeys(), verifier)
    assert principal == Principal(tenant="globex", subject="user:u-123", method="jwt")
    assert verifier.seen == ["good-token"]


def test_a_token_the_verifier_refuses_is_refused() -> None:
    with pytest.raises(Unauthorized, match="invalid token"):
        authenticate("Bearer forged", MemoryKeys(), FakeVerifier({"custom:tenant": "acme"}))


@pytest.mark.parametrize(
    "claims",
    [{"sub": "u"}, {"sub": "u", "custom:tenant": ""}, {"sub": "u", "custom:tenant": "ACME"},
     {"sub": "u", "custom:tenant": ["acme"]}, {"sub": "u", "tenant": "acme"}],
)
def test_a_token_without_a_valid_tenant_claim_is_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized, match="names no tenant"):
        authenticate("Bearer good-token", MemoryKeys(), FakeVerifier(claims))


# --- Cognito ID tokens --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def verifier(signing_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> CognitoTokenVerifier:
    """The verifier with its PyJWKClient answering from a locally served JWKS instead of the pool's URL."""
    jwk = {**RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True), "kid": KID, "alg": "RS256", "use": "sig"}
    key_set = jwt.PyJWKSet.from_dict({"keys": [jwk]})
    found = CognitoTokenVerifier(ISSUER, [CLIENT, "cli-client-id"], f"{ISSUER}/.well-known/jwks.json")

    def get_signing_key_from_jwt(token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for key in key_set.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')

    monkeypatch.setattr(found._keys, "get_signing_key_from_jwt", get_signing_key_from_jwt)
    return found


def id_token(key: rsa.RSAPrivateKey, kid: str = KID, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "u-42", "iss": ISSUER, "aud": CLIENT, "token_use": "id", "iat": now, "exp": now + 3600,
        "custom:tenant": "acme", "email": "dev@acme.test",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_a_valid_id_token_yields_its_claims(verifier: CognitoTokenVerifier, signing_key: rsa.RSAPrivateKey) -> None:
    claims = verifier.claims(id_token(signing_key))
    assert (claims["sub"], claims["custom:tenant"], claims["aud"]) == ("u-42", "acme", CLIENT)
    # and through authenticate, the caller is the token's tenant
    principal = authenticate(f"Bearer {id_token(signing_key)}", MemoryKeys(), verifier)
    assert principal == Principal(tenant="acme", subject="user:u-42", method="jwt")


def test_any_of_the_platforms_clients_is_accepted(
    verifier: CognitoTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    assert verifier.claims(id_token(signing_key, aud="cli-client-id"))["aud"] == "cli-client-id"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, "issuer"),
        ({"iss": None}, "iss"),
        ({"exp": None}, "exp"),
        ({"token_use": None}, "token_use"),
    ],
)
def test_a_token_that_fails_verification_is_refused(
    verifier: CognitoTokenVerifier, signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any], why: str
) -> None:
    with pytest.raises(Unauthorized, match=why):
        verifier.claims(id_token(signing_key, **overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"token_use": "access", "aud": None, "client_id": CLIENT},  # as Cognito issues access tokens
        {"token_use": "access"},  # even one that names the platform's client as its audience
    ],
)
def test_an_access_token_is_refused(
    verifier: CognitoTokenVerifier, signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any]
) -> None:
    with pytest.raises(Unauthorized, match="not an ID token"):
        verifier.claims(id_token(signing_key, **overrides))


def test_an_id_token_of_another_client_is_refused(
    verifier: CognitoTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(Unauthorized, match="not an ID token"):
        verifier.claims(id_token(signing_key, aud="someone-elses-app"))


def test_a_token_signed_by_another_key_is_refused(
    verifier: CognitoTokenVerifier, other_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(Unauthorized, match="invalid token"):
        verifier.claims(id_token(other_key))  # claims the pool's key id, signed with another key


def test_a_token_naming_an_unknown_key_is_refused(
    verifier: CognitoTokenVerifier, signing_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(Unauthorized, match="signing key"):
        verifier.claims(id_token(signing_key, kid="rotated-away"))


def test_a_symmetric_token_is_refused(verifier: CognitoTokenVerifier) -> None:
    token = jwt.encode({"sub": "u", "iss": ISSUER, "aud": CLIENT, "token_use": "id", "exp": int(time.time()) + 60,
                        "custom:tenant": "acme"}, "a-shared-secret-of-enough-length-32b", algorithm="HS256",
                       headers={"kid": KID})
    with pytest.raises(Unauthorized):
        verifier.claims(token)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
def test_garbage_is_refused(verifier: CognitoTokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.claims(token)
