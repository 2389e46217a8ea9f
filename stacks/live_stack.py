"""Live job status for dashboards: the WebSocket API and the job table's stream consumer."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.identity import Identity
from stacks.constructs.job_store import JobStore
from stacks.constructs.live_updates import LiveUpdates
from stacks.constructs.operational_alarms import FIVE_MINUTES, OperationalAlarms, table_throttles
from stacks.constructs.python_functions import PythonFunctions
from stacks.nag import apply_nag

# Pushes should leave within a second; at 60 s the event source mapping starts skipping records.
PUBLISHER_MAX_AGE_MS = 30_000


class LiveStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        store: JobStore,
        identity: Identity,
        alarms: OperationalAlarms,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = PythonFunctions(self, "Functions", config=config)
        self.live = LiveUpdates(
            self, "LiveUpdates", config=config, functions=functions, table=store.table, keys=store.keys,
            user_pool=identity.user_pool, user_pool_clients=[identity.dashboard_client],
        )
        alarms.add(
            self, "LivePublisherBehind",
            self.live.publisher_function.metric("IteratorAge", period=FIVE_MINUTES, statistic="Maximum"),
            threshold=PUBLISHER_MAX_AGE_MS,
            description=f"The live publisher is over {PUBLISHER_MAX_AGE_MS // 1000} s behind the job table's "
            "stream: dashboards lag, and records older than 60 s are skipped (see the runbook).",
        )
        table_throttles(alarms, self, "Connections", self.live.connections)
        CfnOutput(self, "WebSocketApiId", value=self.live.api.api_id)
        CfnOutput(self, "WebSocketStage", value=self.live.stage.stage_name)
        CfnOutput(self, "WebSocketUrl", value=self.live.url)
        CfnOutput(self, "ConnectionsTableName", value=self.live.connections.table_name)
        CfnOutput(self, "PublisherFunctionName", value=self.live.publisher_function.function_name)
        apply_nag(self, "live")
