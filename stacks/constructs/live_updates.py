"""Live job status over WebSocket: API Gateway's WebSocket API, fed by the job table's stream.

$connect goes through a REQUEST authorizer that reads the caller's credential from the `token` query
parameter (the REST API's `ApiKey ...` or `Bearer ...`, URL-encoded: browsers cannot set handshake headers).
One function serves $connect, $disconnect and $default (subscribe / unsubscribe / ping), keeping connections
and subscriptions in their own table, expired by TTL. A second function consumes the job table's stream,
only jobs' head and counter items (filter sk = "JOB" or "COUNT"), so that a busy job's many counter updates
leave as one push: it reads each job of a batch once and posts that snapshot to the subscribed connections
of the job's own tenant, and forgets connections that are gone.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.tables import JOB_READS, grant_job_items, on_demand_table

STAGE = "live"
TOKEN_PARAMETER = "token"
# Lambda polls each stream shard 4 times a second and, with no batching window, invokes with what each poll
# found (up to BATCH_SIZE job records): a busy job is pushed at most ~4 times a second, each change within
# ~0.3 s of its write. (The window is whole seconds: 1 s would coalesce more but deliver up to a second late.)
BATCH_SIZE = 1000
BATCHING_WINDOW = Duration.seconds(0)
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "connectionId": "$context.connectionId",
    "error": "$context.error.message",
    "authorizerError": "$context.authorizer.error",
}


class LiveUpdates(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: PythonFunctions,
        table: dynamodb.ITable,
        keys: dynamodb.ITable,
        user_pool: cognito.IUserPool,
        user_pool_clients: list[cognito.IUserPoolClient],
    ) -> None:
        super().__init__(scope, construct_id)
        self.connections = on_demand_table(
            self, "Connections", config, partition_key="pk", sort_key="sk", time_to_live_attribute="expires_at"
        )

        self.authorizer_function = functions.tenant_authorizer(
            "LiveAuthorizer",
            handler="lambdas.live.authorizer.lambda_handler",
            description="Finds a WebSocket caller's tenant from the token query parameter",
            keys=keys,
            user_pool=user_pool,
            user_pool_clients=user_pool_clients,
            reserved_concurrency=config.authorizer_reserved_concurrency,
        )

        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=f"{config.resource_prefix()}-live",
            description="Live status of Tasklane jobs",
            route_selection_expression="$request.body.action",
        )
        # The routes are added once the function they call exists (its environment names this API).
        region = Stack.of(self).region
        url_suffix = Stack.of(self).url_suffix
        callback_url = f"https://{self.api.api_id}.execute-api.{region}.{url_suffix}/{STAGE}"
        self.environment = environment = {
            "TABLE_NAME": table.table_name,
            "CONNECTIONS_TABLE_NAME": self.connections.table_name,
            "WS_API_ID": self.api.api_id,
            "WS_STAGE": STAGE,
            "WS_CALLBACK_URL": callback_url,
        }
        self.routes_function = functions.function(
            "LiveRoutes",
            handler="lambdas.live.routes.lambda_handler",
            description="WebSocket $connect, $disconnect and subscriptions of live job status",
            environment={
                **environment, "LIVE_MAX_CONNECTIONS_PER_TENANT": str(config.live_max_connections_per_tenant)
            },
            timeout=Duration.seconds(10),
        )
        grant_job_items(self.routes_function, table, JOB_READS, by_tenant=True)  # a subscriber's snapshot
        self.connections.grant_read_write_data(self.routes_function)

        self.publisher_function = functions.function(
            "LivePublisher",
            handler="lambdas.live.publisher.lambda_handler",
            description="Pushes job status changes from the job table's stream to subscribed WebSocket clients",
            environment=environment,
            timeout=Duration.seconds(60),
        )
        self.connections.grant_read_write_data(self.publisher_function)
        # A job's counts are summed from its counter shards: it reads job items, never writes them.
        grant_job_items(self.publisher_function, table, JOB_READS)
        self.publisher_function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=BATCH_SIZE,
                max_batching_window=BATCHING_WINDOW,
                # A live update that could not be pushed within a minute is stale: clients resubscribe and get
                # a snapshot. Retrying a failing batch twice is enough; it then moves on.
                retry_attempts=2,
                max_record_age=Duration.seconds(60),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.or_("INSERT", "MODIFY"),
                            "dynamodb": {"Keys": {"sk": {"S": lambda_.FilterRule.or_("JOB", "COUNT")}}},
                        }
                    )
                ],
            )
        )

        authorizer = authorizers.WebSocketLambdaAuthorizer(
            "TenantAuthorizer",
            self.authorizer_function,
            identity_source=[f"route.request.querystring.{TOKEN_PARAMETER}"],
        )
        routes = integrations.WebSocketLambdaIntegration
        for route_key, name, route_authorizer in (
            ("$connect", "Connect", authorizer),
            ("$disconnect", "Disconnect", None),
            ("$default", "Default", None),
        ):
            apigwv2.WebSocketRoute(
                self, f"{name}Route", web_socket_api=self.api, route_key=route_key,
                integration=routes(f"{name}Integration", self.routes_function), authorizer=route_authorizer,
            )

        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=500, burst_limit=1000),
        )
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=config.removal_policy
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
        )
        self.stage.grant_management_api_access(self.routes_function)
        self.stage.grant_management_api_access(self.publisher_function)

    @property
    def url(self) -> str:
        """wss://<api>.execute-api.<region>.amazonaws.com/live"""
        return self.stage.url
