"""State that outlives deployments: the job table, the manifest bucket and the user pool."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.identity import Identity
from stacks.constructs.job_store import JobStore
from stacks.nag import apply_nag


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.store = JobStore(self, "JobStore", config=config)
        self.identity = Identity(self, "Identity", config=config)
        CfnOutput(self, "TableName", value=self.store.table.table_name)
        CfnOutput(self, "KeysTableName", value=self.store.keys.table_name)
        CfnOutput(self, "ManifestBucket", value=self.store.manifests.bucket_name)
        CfnOutput(self, "UserPoolId", value=self.identity.user_pool.user_pool_id)
        CfnOutput(self, "DashboardClientId", value=self.identity.dashboard_client.user_pool_client_id)
        apply_nag(self, "data")
