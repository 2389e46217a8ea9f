"""The public face: the job API."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.identity import Identity
from stacks.constructs.job_api import JobApi
from stacks.constructs.job_store import JobStore
from stacks.constructs.live_updates import LiveUpdates
from stacks.constructs.operational_alarms import FIVE_MINUTES, OperationalAlarms
from stacks.constructs.python_functions import PythonFunctions
from stacks.nag import apply_nag

API_5XX_RATE = 0.01
API_P99_MS = 5000


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        store: JobStore,
        identity: Identity,
        state_machine: sfn.IStateMachine,
        alarms: OperationalAlarms,
        live: LiveUpdates,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = PythonFunctions(self, "Functions", config=config)
        self.api = JobApi(
            self, "JobApi", config=config, functions=functions, table=store.table,
            idempotency_table=store.idempotency, keys=store.keys, live=live, manifests=store.manifests,
            state_machine=state_machine,
            user_pool=identity.user_pool, user_pool_clients=[identity.dashboard_client],
        )
        # 5XXError is 0 or 1 per request, so its average is the share of requests that failed.
        alarms.add(
            self, "ApiServerErrors",
            self.api.rest_api.metric_server_error(period=FIVE_MINUTES, statistic="Average"),
            threshold=API_5XX_RATE, evaluation_periods=2,
            description=f"Over {API_5XX_RATE:.0%} of API requests answered 5xx for 10 minutes: the API function "
            "or the authorizer is failing or timing out (see the runbook).",
        )
        alarms.add(
            self, "ApiSlow",
            self.api.rest_api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            threshold=API_P99_MS, evaluation_periods=3,
            description=f"The API's p99 latency stayed above {API_P99_MS / 1000:g} s for 15 minutes (API Gateway "
            "gives up at 29 s): DynamoDB throttling, cold starts or large submissions.",
        )
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        CfnOutput(self, "RestApiId", value=self.api.rest_api.rest_api_id)
        CfnOutput(self, "UsageKeyPrefix", value=self.api.usage_plans.key_prefix)
        apply_nag(self, "api", emulator=config.emulator)
