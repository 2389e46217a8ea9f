"""Python Lambda functions sharing one code asset and one dependency layer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.assets import lambda_code_dir, lambda_layer_dir
from stacks.config import EnvironmentConfig

RUNTIME = lambda_.Runtime.PYTHON_3_13


class PythonFunctions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._code = lambda_.Code.from_asset(str(lambda_code_dir(config.task_packages)))
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(lambda_layer_dir())),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="Powertools, pydantic and pydantic-settings for Tasklane's functions",
        )

    def function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: dict[str, str],
        timeout: Duration | None = None,
        memory_mb: int = 512,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=_retention(self._config.log_retention_days),
            removal_policy=self._config.removal_policy,
        )
        return lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=self._code,
            handler=handler,
            layers=[self.layer],
            description=description,
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_mb,
            log_group=log_group,
            environment={
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "POWERTOOLS_SERVICE_NAME": "tasklane",
                **({"TASK_PACKAGES": self._config.task_package_modules} if self._config.task_packages else {}),
                **environment,
            },
        )


    def tenant_authorizer(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        table: dynamodb.ITable,
        user_pool: cognito.IUserPool,
        user_pool_clients: list[cognito.IUserPoolClient],
    ) -> lambda_.Function:
        """A function that finds a caller's tenant from an API key (in `table`) or a Cognito ID token."""
        function = self.function(
            construct_id,
            handler=handler,
            description=description,
            environment={
                "TABLE_NAME": table.table_name,
                "USER_POOL_ID": user_pool.user_pool_id,
                "USER_POOL_CLIENT_IDS": ",".join(c.user_pool_client_id for c in user_pool_clients),
            },
            timeout=Duration.seconds(10),
        )
        table.grant_read_data(function)
        return function


RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    """CloudWatch keeps logs only for some periods: take the shortest one that keeps `days`."""
    return next((RETENTIONS[d] for d in sorted(RETENTIONS) if d >= days), logs.RetentionDays.ONE_YEAR)
