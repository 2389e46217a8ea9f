"""The job API: API Gateway (REST) in front of one Powertools-routed function, behind one authorizer.

Every route but /health, /openapi.json and /docs goes through a TOKEN authorizer that accepts an API key
(machines) or a Cognito ID token (people) and passes the caller's tenant to the handler.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_functions import PythonFunctions

PUBLIC_ROUTES = ("health", "openapi.json", "docs")
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
# A throttle refills within a second; a usage plan's quota (per day) does not, so its wait is longer than a
# client retries for: the caller learns at once that its quota is spent.
THROTTLED_RETRY_AFTER_SECONDS = 1
QUOTA_RETRY_AFTER_SECONDS = 3600


def _json_error(code: str) -> dict[str, str]:
    return {"application/json": f'{{"error": {{"code": "{code}", "message": $context.error.messageString}}}}'}


class JobApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        idempotency_table: dynamodb.ITable,
        manifests: s3.IBucket,
        state_machine: sfn.IStateMachine,
        user_pool: cognito.IUserPool,
        user_pool_clients: list[cognito.IUserPoolClient],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.function(
            "Handler",
            handler="lambdas.api.handler.lambda_handler",
            description="Tasklane's job API",
            environment={
                "TABLE_NAME": table.table_name,
                "IDEMPOTENCY_TABLE_NAME": idempotency_table.table_name,
                "MANIFEST_BUCKET": manifests.bucket_name,
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                **config.task_timeout_environment(),
            },
            timeout=Duration.seconds(29),
            memory_mb=1769,  # one full vCPU: validating 100,000 tasks is CPU-bound
        )
        table.grant_read_write_data(self.function)
        idempotency_table.grant_read_write_data(self.function)
        # It writes manifests, reads what clients uploaded and the large payloads a task detail shows.
        manifests.grant_put(self.function)
        manifests.grant_read(self.function, "uploads/*")
        manifests.grant_read(self.function, "payloads/*")
        state_machine.grant_start_execution(self.function)
        # Cancelling a job interrupts its waiting execution (SendTaskFailure).
        state_machine.grant_task_response(self.function)

        self.authorizer_function = functions.tenant_authorizer(
            "Authorizer",
            handler="lambdas.authorizer.handler.lambda_handler",
            description="Finds the caller's tenant from an API key or a Cognito ID token",
            table=table,
            user_pool=user_pool,
            user_pool_clients=user_pool_clients,
        )
        authorizer = apigw.TokenAuthorizer(
            self,
            "TenantAuthorizer",
            handler=self.authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.minutes(5),
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=config.removal_policy
        )
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            description="Submit and follow Tasklane jobs",
            # Access logging needs the account's API Gateway CloudWatch role; this creates it if missing.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=config.removal_policy,
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=apigw.Cors.ALL_ORIGINS, allow_methods=apigw.Cors.ALL_METHODS, allow_headers=CORS_HEADERS
            ),
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True,
                ),
                throttling_rate_limit=1000,
                throttling_burst_limit=2000,
            ),
        )
        integration = apigw.LambdaIntegration(self.function)
        authorized = apigw.MethodOptions(authorizer=authorizer, authorization_type=apigw.AuthorizationType.CUSTOM)
        # add_proxy also mounts ANY on the root, but without the proxy's method options (so unauthenticated);
        # mounted here first, behind the authorizer, the root's ANY is the one add_proxy keeps.
        self.rest_api.root.add_method(
            "ANY", integration, authorizer=authorizer, authorization_type=apigw.AuthorizationType.CUSTOM
        )
        self.rest_api.root.add_proxy(
            default_integration=integration, any_method=True, default_method_options=authorized
        )
        for route in PUBLIC_ROUTES:
            self.rest_api.root.add_resource(route).add_method("GET", integration)

        # API Gateway's own refusals speak the API's error shape, with CORS so browsers can read them.
        cors = {"Access-Control-Allow-Origin": "'*'"}
        for response_type, code in (
            (apigw.ResponseType.UNAUTHORIZED, "unauthorized"),
            (apigw.ResponseType.ACCESS_DENIED, "forbidden"),
            (apigw.ResponseType.DEFAULT_4_XX, "bad_request"),
            (apigw.ResponseType.DEFAULT_5_XX, "gateway_error"),
        ):
            self.rest_api.add_gateway_response(
                f"{code.title().replace('_', '')}Response", type=response_type, response_headers=cors,
                templates=_json_error(code),
            )
        # Every 429 of API Gateway's says when to ask again (jobctl waits that long, within its own bound).
        for response_type, name, retry_after in (
            (apigw.ResponseType.THROTTLED, "Throttled", THROTTLED_RETRY_AFTER_SECONDS),
            (apigw.ResponseType.QUOTA_EXCEEDED, "QuotaExceeded", QUOTA_RETRY_AFTER_SECONDS),
        ):
            self.rest_api.add_gateway_response(
                f"{name}Response", type=response_type, status_code="429",
                response_headers={**cors, "Retry-After": f"'{retry_after}'"},
                templates=_json_error("too_many_requests"),
            )
