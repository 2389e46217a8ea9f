"""The web dashboard, served by CloudFront from S3, configured at deploy time with the API's and live URLs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.dashboard_site import DashboardSite
from stacks.constructs.identity import Identity
from stacks.constructs.job_api import JobApi
from stacks.constructs.live_updates import LiveUpdates
from stacks.nag import apply_nag


class DashboardStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        api: JobApi,
        live: LiveUpdates,
        identity: Identity,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.site = DashboardSite(
            self, "Dashboard", config=config, api_url=api.rest_api.url, ws_url=live.url,
            user_pool_client_id=identity.dashboard_client.user_pool_client_id,
        )
        CfnOutput(self, "DashboardUrl", value=self.site.url)
        CfnOutput(self, "DashboardBucket", value=self.site.bucket.bucket_name)
        apply_nag(self, "dashboard")
