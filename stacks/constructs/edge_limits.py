"""Limits at the edge: WAF's per-IP rate rule and API Gateway's per-tenant usage plans.

WAF counts requests per client IP over 5 minutes and answers 429 with Retry-After once an IP passes the
limit: it stops a flood from one address before it costs a Lambda invocation. Usage plans limit each tenant,
whatever its addresses: the REST API's authorizer names the caller's tenant usage key (tasklane.auth.usage_key)
and API Gateway applies that key's plan (rate, burst, daily quota), answering 429 itself.
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.config import EnvironmentConfig, TenantLimits
from tasklane.auth import usage_plan_name

# How long a client blocked by the rate rule is told to wait: WAF re-evaluates the rate every 5 minutes.
WAF_RETRY_AFTER_SECONDS = 300


class RateLimitedWebAcl(Construct):
    """A web ACL that lets everything through but an IP over `requests_per_5_minutes`.

    `scope` is REGIONAL (API Gateway) or CLOUDFRONT; a CLOUDFRONT web ACL must be created in us-east-1,
    whatever the region of the distribution's stack."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str, waf_scope: str,
                 requests_per_5_minutes: int) -> None:
        super().__init__(scope, construct_id)
        visibility = wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope=waf_scope,
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility,
            custom_response_bodies={
                "rate-limited": wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=json.dumps({"error": {"code": "too_many_requests",
                                                  "message": "too many requests from this address; retry later"}}),
                )
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="requests-per-ip",
                    priority=0,
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=requests_per_5_minutes, evaluation_window_sec=300
                        )
                    ),
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=429,
                                custom_response_body_key="rate-limited",
                                response_headers=[
                                    wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                                        name="Retry-After", value=str(WAF_RETRY_AFTER_SECONDS)
                                    )
                                ],
                            )
                        )
                    ),
                    visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                        cloud_watch_metrics_enabled=True, metric_name=f"{name}-requests-per-ip",
                        sampled_requests_enabled=True,
                    ),
                )
            ],
        )

    @property
    def arn(self) -> str:
        return self.web_acl.attr_arn


class TenantUsagePlans(Construct):
    """A usage plan for every tenant (the environment's default limits) and one per tenant with overrides.

    Plans hold no keys here: a tenant's usage key joins its plan when its first API key is issued (the API's
    key administration, tasklane/aws/usage_plans.py), since tenants come and go without a deployment."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, stage: apigw.Stage) -> None:
        super().__init__(scope, construct_id)
        self.key_prefix = config.resource_prefix()
        # Named as tasklane/aws/usage_plans.py finds them (the API cannot be told their ids: they depend on
        # the API's stage, which depends on the API's function).
        self.default = self._plan("Default", None, config.tenant_limits, stage)
        self.plans = [self.default] + [
            self._plan(f"Tenant-{tenant}", tenant, limits, stage)
            for tenant, limits in sorted(config.tenant_limit_overrides.items())
        ]

    def _plan(self, construct_id: str, tenant: str | None, limits: TenantLimits, stage: apigw.Stage) -> apigw.UsagePlan:
        who = f"tenant {tenant}" if tenant else "every tenant without limits of its own"
        return apigw.UsagePlan(
            self,
            construct_id,
            name=usage_plan_name(self.key_prefix, tenant),
            description=f"Limits of {who}: requests per second, burst and requests per day",
            api_stages=[apigw.UsagePlanPerApiStage(api=stage.rest_api, stage=stage)],
            throttle=apigw.ThrottleSettings(rate_limit=limits.rate_per_second, burst_limit=limits.burst),
            quota=apigw.QuotaSettings(limit=limits.daily_quota, period=apigw.Period.DAY),
        )

    def grant_enrol(self, grantee: iam.IRole) -> iam.Policy:
        """Let `grantee` create tenants' usage keys and add them to these plans.

        A policy of its own, not the role's default one: a function depends on its default policy, and these
        plans depend (through the stage) on the API's function."""
        stack = Stack.of(self)
        apigateway = f"arn:{stack.partition}:apigateway:{stack.region}::"
        return iam.Policy(
            self,
            "EnrolTenants",
            roles=[grantee],
            statements=[
                iam.PolicyStatement(actions=["apigateway:GET"], resources=[f"{apigateway}/usageplans"]),
                iam.PolicyStatement(actions=["apigateway:GET", "apigateway:POST"], resources=[f"{apigateway}/apikeys"]),
                iam.PolicyStatement(
                    actions=["apigateway:POST"],
                    resources=[f"{apigateway}/usageplans/{plan.usage_plan_id}/keys" for plan in self.plans],
                ),
            ],
        )
