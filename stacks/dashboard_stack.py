"""The web dashboard, served by CloudFront from S3, configured at deploy time with the API's and live URLs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.dashboard_site import DashboardSite
from stacks.constructs.identity import Identity
from stacks.constructs.job_api import JobApi
from stacks.constructs.live_updates import LiveUpdates
from stacks.edge_stack import EDGE_REGION
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
        web_acl_parameter: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The distribution's web ACL lives in us-east-1 (stacks/edge_stack.py): its ARN is read from there.
        read = cr.AwsSdkCall(
            service="SSM", action="getParameter", parameters={"Name": web_acl_parameter}, region=EDGE_REGION,
            physical_resource_id=cr.PhysicalResourceId.of(web_acl_parameter),
        )
        self.web_acl = cr.AwsCustomResource(
            self, "DashboardWebAcl", on_create=read, on_update=read, install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(
                    actions=["ssm:GetParameter"],
                    resources=[self.format_arn(service="ssm", region=EDGE_REGION, resource="parameter",
                                               resource_name=web_acl_parameter.lstrip("/"))],
                )
            ]),
        )
        self.site = DashboardSite(
            self, "Dashboard", config=config, api_url=api.rest_api.url, ws_url=live.url,
            user_pool_id=identity.user_pool.user_pool_id,
            user_pool_client_id=identity.dashboard_client.user_pool_client_id,
            web_acl_arn=self.web_acl.get_response_field("Parameter.Value"),
        )
        CfnOutput(self, "DashboardUrl", value=self.site.url)
        CfnOutput(self, "DashboardBucket", value=self.site.bucket.bucket_name)
        apply_nag(self, "dashboard")
