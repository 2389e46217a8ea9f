"""Operators' routes: create, list and revoke a tenant's API keys.

Only an admin key (an API key issued with admin=true) may call them; any other credential gets 403. A
tenant's first key also enrolls the tenant in its usage plan (tasklane/aws/usage_plans.py). The
first admin key of a deployment is issued with AWS credentials (scripts/issue_admin_key.py), which makes
IAM the root of trust. A revoked key is refused once the authorizer's cached decision for it expires (at
most AUTHORIZER_CACHE_SECONDS, see stacks/constructs/job_api.py), and its live connections are closed by
the live stack, which follows the keys table's stream.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field

from lambdas.api.principal import caller
from tasklane.auth import (
    TENANT_PATTERN,
    ApiKeyRecord,
    ApiKeyStore,
    Forbidden,
    UsagePlans,
    issue_api_key,
    key_subject,
    revoke_api_key,
)
from tasklane.aws.api_keys import DynamoApiKeyStore
from tasklane.aws.live_connections import DynamoConnectionStore
from tasklane.aws.live_push import ApiGatewayPusher
from tasklane.aws.usage_plans import ApiGatewayUsagePlans
from tasklane.live import ConnectionStore, Pusher, close_connections_of
from tasklane.live_settings import LiveSettings
from tasklane.provided import provided
from tasklane.settings import KeyAdminSettings

router = Router()
TENANT = Annotated[str, Path(pattern=TENANT_PATTERN.pattern, max_length=63)]
KEY_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]

@provided
def keys() -> ApiKeyStore:
    return DynamoApiKeyStore(KeyAdminSettings().keys_table_name)


@provided
def usage() -> UsagePlans:
    return ApiGatewayUsagePlans(KeyAdminSettings().usage_key_prefix)


@provided
def live() -> tuple[ConnectionStore, Pusher]:
    """The WebSocket connections, where a revoked key's are found and closed."""
    settings = LiveSettings()
    return DynamoConnectionStore(settings.connections_table_name), ApiGatewayPusher(settings.management_endpoint)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="what the key is for, e.g. 'ci'")
    admin: bool = Field(default=False, description="an operator's key, allowed on these routes")


class KeyOut(BaseModel):
    key_id: str
    tenant: str
    name: str
    created_at: str
    admin: bool
    revoked: bool
    revoked_at: str | None = None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyOut:
        return cls(
            key_id=record.key_id, tenant=record.tenant, name=record.name, created_at=record.created_at,
            admin=record.admin, revoked=record.revoked, revoked_at=record.revoked_at,
        )


class KeyCreated(KeyOut):
    secret: str = Field(description="shown once: only its SHA-256 digest is stored")


class KeysOut(BaseModel):
    keys: list[KeyOut]


class KeyRevoked(KeyOut):
    closed_connections: int = Field(description="live (WebSocket) connections of the key that were closed")


def _require_admin() -> None:
    if not caller().admin:
        raise Forbidden("only an operator's admin key may administer API keys")


@router.post("/admin/tenants/<tenant>/keys")
def create_key(tenant: TENANT, key: Annotated[KeyIn, Body()]) -> Response[KeyCreated]:
    _require_admin()
    # Enrolled first: a key that works is never outside its tenant's usage plan.
    usage().enroll(tenant)
    record, secret = issue_api_key(tenant, key.name, keys(), admin=key.admin)
    body = KeyCreated(**KeyOut.of(record).model_dump(), secret=secret)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)


@router.get("/admin/tenants/<tenant>/keys")
def list_keys(tenant: TENANT) -> KeysOut:
    _require_admin()
    return KeysOut(keys=[KeyOut.of(record) for record in keys().list_keys(tenant)])


@router.delete("/admin/tenants/<tenant>/keys/<key_id>")
def revoke_key(tenant: TENANT, key_id: KEY_ID) -> KeyRevoked:
    _require_admin()
    record = revoke_api_key(tenant, key_id, keys())
    closed = close_connections_of(*live(), tenant, key_subject(key_id))
    return KeyRevoked(**KeyOut.of(record).model_dump(), closed_connections=closed)
