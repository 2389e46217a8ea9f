"""What a Tasklane account needs once, whatever its environments: API Gateway's CloudWatch role."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import PROJECT
from stacks.constructs.api_gateway_account import ApiGatewayAccount
from stacks.nag import apply_nag

# Not named after an environment: every environment's app includes this same stack, and `make destroy`
# removes only the stacks of its own environment (tasklane-<env>-*).
ACCOUNT_STACK_NAME = f"{PROJECT}-account"


class AccountStack(Stack):
    def __init__(self, scope: Construct, construct_id: str = ACCOUNT_STACK_NAME, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.api_gateway = ApiGatewayAccount(self, "ApiGateway")
        CfnOutput(self, "ApiGatewayCloudWatchRoleArn", value=self.api_gateway.role.role_arn)
        apply_nag(self, "account")
