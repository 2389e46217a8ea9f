"""Messages to WebSocket clients through API Gateway's @connections management API."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import ClientError

logger = Logger(service="tasklane-live")

# A post is one small HTTPS call; a slow or failing one must not hold up the other connections for long.
PUSH_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=3,
                     max_pool_connections=16)
GONE = {"GoneException", "410"}


class ApiGatewayPusher:
    def __init__(self, endpoint_url: str, management_api: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self._api = management_api or boto3.session.Session().client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url, config=PUSH_CONFIG
        )

    def post(self, connection_id: str, data: bytes) -> bool:
        try:
            self._api.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in GONE or status == 410:
                return False
            # Anything else is this connection's problem (throttled, payload too large): the others go on.
            logger.warning("post failed", extra={"connection_id": connection_id, "code": code})
        return True

    def close(self, connection_id: str) -> None:
        try:
            self._api.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in GONE and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 410:
                raise
