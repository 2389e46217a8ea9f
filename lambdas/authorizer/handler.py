"""API Gateway TOKEN authorizer: the caller's tenant from an API key or a Cognito ID token.

The policy it returns covers the whole stage, so API Gateway can cache one decision per credential
across every route (authorizerResultTtlInSeconds); the tenant travels to the API in the context, and the
tenant's usage key (the usage identifier) puts the request under the tenant's usage plan.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.authorizer.credentials import usage_key_prefix, verifiers
from tasklane.auth import Unauthorized, authenticate, principal_context, usage_key

logger = Logger(service="tasklane-authorizer")


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def lambda_handler(event: APIGatewayAuthorizerTokenEvent, context: LambdaContext) -> dict[str, Any]:
    keys, tokens = verifiers()
    try:
        principal = authenticate(event.authorization_token, keys, tokens)
    except Unauthorized as refused:
        logger.info("refused", extra={"reason": str(refused)})
        # This exact message is API Gateway's signal for a 401 (instead of a 403 from a Deny policy).
        raise Exception("Unauthorized") from None
    arn = event.parsed_arn
    prefix = usage_key_prefix()
    response = APIGatewayAuthorizerResponse(
        principal_id=principal.subject, region=arn.region, aws_account_id=arn.aws_account_id,
        api_id=arn.api_id, stage=arn.stage,
        # The tenant's usage plan (rate, burst, daily quota) applies to every request it makes.
        usage_identifier_key=usage_key(prefix, principal.tenant) if prefix else None,
        context=principal_context(principal),
    )
    response.allow_all_routes()
    return response.asdict()
