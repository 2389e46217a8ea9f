"""Python Lambda functions sharing one code asset and one dependency layer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.assets import lambda_code_dir, lambda_layer_dir
from stacks.config import EnvironmentConfig
from stacks.constructs.log_retention import retention

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
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=retention(self._config.log_retention_days),
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
            # Reserved: never starved by task runs, and never more than this of the account's concurrency.
            reserved_concurrent_executions=reserved_concurrency,
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
        keys: dynamodb.ITable,
        user_pool: cognito.IUserPool,
        user_pool_clients: list[cognito.IUserPoolClient],
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        """A function that finds a caller's tenant from an API key (in the `keys` table) or a Cognito ID token.

        It reads one key item by its digest and nothing else: no job data, no listing of keys."""
        function = self.function(
            construct_id,
            handler=handler,
            description=description,
            environment={
                "KEYS_TABLE_NAME": keys.table_name,
                "USER_POOL_ID": user_pool.user_pool_id,
                "USER_POOL_CLIENT_IDS": ",".join(c.user_pool_client_id for c in user_pool_clients),
            },
            timeout=Duration.seconds(10),
            reserved_concurrency=reserved_concurrency,
        )
        # The table only, not its index: a key is found by its digest, never listed.
        iam.Grant.add_to_principal(grantee=function, actions=["dynamodb:GetItem"], resource_arns=[keys.table_arn])
        return function
