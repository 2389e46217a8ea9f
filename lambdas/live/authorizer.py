"""REQUEST authorizer of the WebSocket API's $connect: the caller's tenant from the `token` query parameter.

Browsers cannot set headers on a WebSocket handshake, so the credential the REST API takes in its
Authorization header (`ApiKey <key>` or `Bearer <Cognito ID token>`) comes URL-encoded in `?token=`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.authorizer.credentials import verifiers
from tasklane.auth import Unauthorized, authenticate, principal_context

logger = Logger(service="tasklane-live-authorizer")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    keys, tokens = verifiers()
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        principal = authenticate(token, keys, tokens)
    except Unauthorized as refused:
        logger.info("refused", extra={"reason": str(refused)})
        raise Exception("Unauthorized") from None  # API Gateway answers the handshake with 401
    return {
        "principalId": principal.subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "context": principal_context(principal),
    }
