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
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.edge_limits import RateLimitedWebAcl, TenantUsagePlans
from stacks.constructs.live_updates import LiveUpdates
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.tables import JOB_WRITES, grant_job_items

PUBLIC_ROUTES = ("health", "openapi.json", "docs")
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
AUTHORIZER_CACHE_SECONDS = 30
# Retry-After of API Gateway's own 429s: a rate limit refills within a second; a daily quota within the day,
# so an hour is a polite first wait.
THROTTLED_RETRY_AFTER_SECONDS = 1
QUOTA_RETRY_AFTER_SECONDS = 3600
LIVE_ENVIRONMENT = ("CONNECTIONS_TABLE_NAME", "WS_API_ID", "WS_STAGE", "WS_CALLBACK_URL")


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
        keys: dynamodb.ITable,
        live: LiveUpdates,
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
                "KEYS_TABLE_NAME": keys.table_name,
                # Where a revoked key's live connections are found and closed.
                **{name: live.environment[name] for name in LIVE_ENVIRONMENT},
                **config.task_timeout_environment(),
            },
            timeout=Duration.seconds(29),
            memory_mb=1769,  # one full vCPU: validating 100,000 tasks is CPU-bound
            reserved_concurrency=config.api_reserved_concurrency,
        )
        grant_job_items(self.function, table, JOB_WRITES, by_tenant=True)
        idempotency_table.grant_read_write_data(self.function)
        # The key administration routes: issue (Put), list (Query on the index), revoke (Update).
        keys.grant(self.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query")
        live.connections.grant(self.function, "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchWriteItem")
        live.stage.grant_management_api_access(self.function)
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
            keys=keys,
            user_pool=user_pool,
            user_pool_clients=user_pool_clients,
            reserved_concurrency=config.authorizer_reserved_concurrency,
        )
        authorizer = apigw.TokenAuthorizer(
            self,
            "TenantAuthorizer",
            handler=self.authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            # A decision is reused this long per credential: a revoked key is refused within a minute.
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=config.removal_policy
        )
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            description="Submit and follow Tasklane jobs",
            # Access logging needs the account's API Gateway CloudWatch role: the account stack sets it, and
            # this API's stack depends on that stack (stacks/app_builder.py).
            cloud_watch_role=False,
            # Each tenant's usage plan applies through the usage key its authorizer names, never a header.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
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
                # The whole stage's ceiling, shared by every caller; each tenant's own limits are its usage plan.
                throttling_rate_limit=1000,
                throttling_burst_limit=2000,
            ),
        )
        integration = apigw.LambdaIntegration(self.function)
        # A usage key is required on every authorized method: a request is always under its tenant's plan.
        limited = not config.emulator
        authorized = apigw.MethodOptions(
            authorizer=authorizer, authorization_type=apigw.AuthorizationType.CUSTOM, api_key_required=limited
        )
        # add_proxy also mounts ANY on the root, but without the proxy's method options (so unauthenticated);
        # mounted here first, behind the authorizer, the root's ANY is the one add_proxy keeps.
        self.rest_api.root.add_method(
            "ANY", integration, authorizer=authorizer, authorization_type=apigw.AuthorizationType.CUSTOM,
            api_key_required=limited,
        )
        self.rest_api.root.add_proxy(
            default_integration=integration, any_method=True, default_method_options=authorized
        )
        for route in PUBLIC_ROUTES:
            self.rest_api.root.add_resource(route).add_method("GET", integration)

        # API Gateway's own refusals speak the API's error shape, with CORS so browsers can read them. Its
        # 429s (a tenant over its rate or daily quota, or the stage over its own) say when to come back.
        cors = {"Access-Control-Allow-Origin": "'*'"}
        for response_type, code, extra in (
            (apigw.ResponseType.UNAUTHORIZED, "unauthorized", {}),
            (apigw.ResponseType.ACCESS_DENIED, "forbidden", {}),
            (apigw.ResponseType.THROTTLED, "too_many_requests", {"Retry-After": f"'{THROTTLED_RETRY_AFTER_SECONDS}'"}),
            (apigw.ResponseType.QUOTA_EXCEEDED, "quota_exceeded", {"Retry-After": f"'{QUOTA_RETRY_AFTER_SECONDS}'"}),
            # A tenant whose usage key is not in a plan (its first key was never issued through the API).
            (apigw.ResponseType.INVALID_API_KEY, "tenant_not_enrolled", {}),
            (apigw.ResponseType.DEFAULT_4_XX, "bad_request", {}),
            (apigw.ResponseType.DEFAULT_5_XX, "gateway_error", {}),
        ):
            self.rest_api.add_gateway_response(
                f"{code.title().replace('_', '')}Response", type=response_type,
                status_code="429" if "Retry-After" in extra else None,
                response_headers={**cors, **extra}, templates=_json_error(code),
            )

        # Per-tenant limits: the plans, and where the key administration puts each tenant's usage key.
        self.usage_plans = TenantUsagePlans(self, "UsagePlans", config=config, stage=self.rest_api.deployment_stage)
        self.authorizer_function.add_environment("USAGE_KEY_PREFIX", self.usage_plans.key_prefix)
        self.function.add_environment("USAGE_KEY_PREFIX", self.usage_plans.key_prefix)
        assert self.function.role is not None
        self.usage_plans.grant_enrol(self.function.role)

        # Per-IP limits before any function runs. The embedded AWS has no WAF association.
        self.web_acl = RateLimitedWebAcl(
            self, "Waf", name=f"{config.resource_prefix()}-api", waf_scope="REGIONAL",
            requests_per_5_minutes=config.waf_requests_per_ip_per_5_minutes,
        )
        if not config.emulator:
            wafv2.CfnWebACLAssociation(
                self, "WafAssociation", resource_arn=self.rest_api.deployment_stage.stage_arn,
                web_acl_arn=self.web_acl.arn,
            )
