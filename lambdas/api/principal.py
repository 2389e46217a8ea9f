"""Who is calling, as the tenant authorizer established it (lambdas/authorizer)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from tasklane.auth import Unauthorized

_app: APIGatewayRestResolver | None = None


@dataclass(frozen=True)
class Caller:
    tenant: str
    subject: str
    admin: bool = False


def bind(app: APIGatewayRestResolver) -> None:
    global _app
    _app = app


def caller() -> Caller:
    if _app is None:
        raise RuntimeError("principal.bind(app) was not called")
    context = _app.current_event.request_context.authorizer.get_context() or {}
    tenant, subject = context.get("tenant"), context.get("subject")
    if not tenant:
        # Only reachable when the authorizer is bypassed: refuse rather than guess a tenant.
        raise Unauthorized("the request carries no tenant: send 'Authorization: ApiKey <key>' or a Bearer token")
    # Authorizer context values reach the API as strings.
    admin = str(context.get("admin", "")).lower() == "true"
    return Caller(tenant=str(tenant), subject=str(subject or "unknown"), admin=admin)
