"""Live job status for dashboards: the WebSocket API and the job table's stream consumer."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.identity import Identity
from stacks.constructs.job_store import JobStore
from stacks.constructs.live_updates import LiveUpdates
from stacks.constructs.python_functions import PythonFunctions
from stacks.nag import apply_nag


class LiveStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        store: JobStore,
        identity: Identity,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = PythonFunctions(self, "Functions", config=config)
        self.live = LiveUpdates(
            self, "LiveUpdates", config=config, functions=functions, table=store.table, keys=store.keys,
            user_pool=identity.user_pool, user_pool_clients=[identity.dashboard_client],
        )
        CfnOutput(self, "WebSocketApiId", value=self.live.api.api_id)
        CfnOutput(self, "WebSocketStage", value=self.live.stage.stage_name)
        CfnOutput(self, "WebSocketUrl", value=self.live.url)
        CfnOutput(self, "ConnectionsTableName", value=self.live.connections.table_name)
        CfnOutput(self, "PublisherFunctionName", value=self.live.publisher_function.function_name)
        apply_nag(self, "live")
