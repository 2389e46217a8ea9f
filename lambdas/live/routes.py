"""The WebSocket API's routes: $connect records the connection under the authorizer's tenant, $disconnect
forgets it, and $default carries the client's messages (subscribe, unsubscribe, ping; see tasklane/live.py).
Replies go through the @connections API, so they need no route responses."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.live.views import job_view
from tasklane.aws.dynamodb_store import DynamoJobStore
from tasklane.aws.live_connections import DynamoConnectionStore
from tasklane.aws.live_push import ApiGatewayPusher
from tasklane.live import Subscriptions
from tasklane.live_settings import LiveSettings
from tasklane.provided import provided

logger = Logger(service="tasklane-live")


@provided
def subscriptions() -> Subscriptions:
    settings = LiveSettings()
    return Subscriptions(
        store=DynamoConnectionStore(settings.connections_table_name),
        jobs=DynamoJobStore(settings.table_name),
        pusher=ApiGatewayPusher(settings.management_endpoint),
        view=job_view,
        snapshot_limit=settings.live_snapshot_limit,
        max_connections_per_tenant=settings.live_max_connections_per_tenant,
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    connection_id = request["connectionId"]
    kind = request.get("eventType")
    logger.append_keys(connection_id=connection_id, route=request.get("routeKey"))
    if kind == "CONNECT":
        authorizer = request.get("authorizer") or {}
        tenant, subject = authorizer.get("tenant"), authorizer.get("subject") or authorizer.get("principalId")
        if not tenant:
            logger.warning("connect without an authorized tenant")
            return {"statusCode": 403}
        if not subscriptions().connect(connection_id, tenant, subject or "?"):
            logger.warning("connection cap reached", extra={"tenant": tenant})
            return {"statusCode": 429}  # API Gateway refuses the handshake
        logger.info("connected", extra={"tenant": tenant})
    elif kind == "DISCONNECT":
        subscriptions().disconnect(connection_id)
        logger.info("disconnected")
    else:
        subscriptions().receive(connection_id, event.get("body") or "")
    return {"statusCode": 200}
