"""Who is calling: a principal of one tenant, proven by an API key (machines) or a Cognito JWT (people).

Both arrive in the Authorization header: `ApiKey <secret>` or `Bearer <jwt>`. API keys are stored only
as their SHA-256 digest; a key's secret is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from tasklane.clock import now_iso
from tasklane.errors import DomainError

API_KEY_PREFIX = "tlk_"
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TENANT_CLAIM = "custom:tenant"


class Unauthorized(DomainError):
    """The credentials are missing, malformed, unknown, revoked or expired."""


class Forbidden(DomainError):
    """The caller is known but may not do this (an operator's route called with a tenant's credential)."""


class KeyNotFound(DomainError):
    def __init__(self, tenant: str, key_id: str) -> None:
        super().__init__(f"tenant {tenant!r} has no API key {key_id!r}")


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    method: str  # "api_key" or "jwt"
    admin: bool = False  # an operator's key: may administer every tenant's keys


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    tenant: str
    name: str
    created_at: str
    revoked: bool = False
    admin: bool = False
    revoked_at: str | None = None


class ApiKeyStore(Protocol):
    def put_key(self, digest: str, record: ApiKeyRecord) -> None: ...

    def find_key(self, digest: str) -> ApiKeyRecord | None: ...

    def list_keys(self, tenant: str) -> list[ApiKeyRecord]:
        """The tenant's keys, revoked ones included, oldest first."""
        ...

    def revoke_key(self, tenant: str, key_id: str, revoked_at: str) -> ApiKeyRecord | None:
        """Mark the key revoked (idempotent); None when the tenant has no such key."""
        ...


class UsagePlans(Protocol):
    """API Gateway's per-tenant limits: each tenant's usage key, in the usage plan the operator chose for it."""

    def enroll(self, tenant: str) -> None:
        """Make sure the tenant's usage key exists and is in its plan (idempotent)."""
        ...


class TokenVerifier(Protocol):
    def claims(self, token: str) -> dict[str, Any]:
        """The token's verified claims; raises Unauthorized when it is not a valid token of the pool."""
        ...


def usage_key(prefix: str, tenant: str) -> str:
    """The value (and name) of the tenant's API Gateway key, which the authorizer returns as the request's
    usage identifier so that the tenant's usage plan limits it. Clients never send it (the API's key source is
    the authorizer), so it is not a secret; it names the deployment so that two environments of one account
    never share a key."""
    return f"{prefix}-tenant-{tenant}"


def usage_plan_name(prefix: str, tenant: str | None = None) -> str:
    """The name of the usage plan of a tenant with limits of its own, or (no tenant) of every other tenant."""
    return f"{prefix}-plan-{tenant}" if tenant else f"{prefix}-plan"


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(tenant: str, name: str, store: ApiKeyStore, *, admin: bool = False) -> tuple[ApiKeyRecord, str]:
    """A new key for `tenant`; returns its record and the secret, which nothing stores in clear."""
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"tenant {tenant!r} must be lower-case letters, digits and dashes")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        key_id=digest_of(secret)[:12], tenant=tenant, name=name, created_at=now_iso(), admin=admin
    )
    store.put_key(digest_of(secret), record)
    return record, secret


def revoke_api_key(tenant: str, key_id: str, store: ApiKeyStore) -> ApiKeyRecord:
    """Revoke one of the tenant's keys; authorizers refuse it once their cached decision expires."""
    record = store.revoke_key(tenant, key_id, now_iso())
    if record is None:
        raise KeyNotFound(tenant, key_id)
    return record


def key_subject(key_id: str) -> str:
    """The principal a key authenticates as; live connections record it, so revocation can find them."""
    return f"key:{key_id}"


def principal_context(principal: Principal) -> dict[str, str]:
    """What an authorizer passes on to the API (context values are strings)."""
    return {
        "tenant": principal.tenant, "subject": principal.subject, "method": principal.method,
        "admin": "true" if principal.admin else "false",
    }


def authenticate(authorization: str | None, keys: ApiKeyStore, tokens: TokenVerifier) -> Principal:
    scheme, _, credential = (authorization or "").strip().partition(" ")
    credential = credential.strip()
    if not credential:
        raise Unauthorized("send 'Authorization: ApiKey <key>' or 'Authorization: Bearer <token>'")
    if scheme.lower() == "apikey":
        record = keys.find_key(digest_of(credential))
        if record is None or record.revoked:
            raise Unauthorized("unknown or revoked API key")
        return Principal(
            tenant=record.tenant, subject=key_subject(record.key_id), method="api_key", admin=record.admin
        )
    if scheme.lower() == "bearer":
        claims = tokens.claims(credential)
        tenant = claims.get(TENANT_CLAIM)
        if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
            raise Unauthorized("the token names no tenant")
        return Principal(tenant=tenant, subject=f"user:{claims.get('sub', '?')}", method="jwt")
    raise Unauthorized(f"unsupported authorization scheme {scheme!r}")
