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
from stacks.constructs.python_functions import PythonFunctions
from stacks.nag import apply_nag


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
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        CfnOutput(self, "RestApiId", value=self.api.rest_api.rest_api_id)
        CfnOutput(self, "UsageKeyPrefix", value=self.api.usage_plans.key_prefix)
        apply_nag(self, "api", emulator=config.emulator)
