"""The dashboard's web ACL, always in us-east-1.

WAF takes a CloudFront distribution's web ACL only with the CLOUDFRONT scope, created in us-east-1, whatever
the region of the distribution's own stack. So this stack is deployed to us-east-1 and publishes the ACL's
ARN as an SSM parameter there; the dashboard stack reads it across regions (DashboardWebAcl, a custom
resource calling SSM in us-east-1). CDK's own cross-region references (crossRegionReferences) would do the
same, but need every stack's region known at synth time, and the platform's stacks are environment-agnostic.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import PROJECT, EnvironmentConfig
from stacks.constructs.edge_limits import RateLimitedWebAcl
from stacks.nag import apply_nag

EDGE_REGION = "us-east-1"


def web_acl_parameter(config: EnvironmentConfig) -> str:
    return f"/{PROJECT}/{config.name}/dashboard-web-acl-arn"


class EdgeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.web_acl = RateLimitedWebAcl(
            self, "DashboardWaf", name=f"{config.resource_prefix()}-dashboard", waf_scope="CLOUDFRONT",
            requests_per_5_minutes=config.waf_requests_per_ip_per_5_minutes,
        )
        self.parameter = ssm.StringParameter(
            self, "DashboardWebAclArn", parameter_name=web_acl_parameter(config), string_value=self.web_acl.arn,
            description="The dashboard distribution's web ACL (read by the dashboard stack)",
        )
        apply_nag(self, "edge")
