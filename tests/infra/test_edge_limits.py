"""Limits at the edge: each tenant under a usage plan (rate, burst, daily quota), API Gateway's 429s with
Retry-After, a WAF rate rule per client IP on the API, and concurrency reserved for the API and its authorizers."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CdkApp

ROLE = "api"


def the(app: CdkApp, type_: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in app.resources(ROLE, type_).values()]


def test_every_tenant_is_under_the_environments_usage_plan(cdk_app: CdkApp) -> None:
    from tasklane.auth import usage_plan_name

    limits = cdk_app.config.tenant_limits
    (plan,) = the(cdk_app, "AWS::ApiGateway::UsagePlan")  # dev has no per-tenant override
    assert plan["UsagePlanName"] == usage_plan_name("tasklane-dev") == "tasklane-dev-plan"
    assert plan["Throttle"] == {"RateLimit": limits.rate_per_second, "BurstLimit": limits.burst}
    assert plan["Quota"] == {"Limit": limits.daily_quota, "Period": "DAY"}
    (stage,) = plan["ApiStages"]
    assert stage["ApiId"] == {"Ref": cdk_app.logical_id(ROLE, cdk_app.api.api.rest_api)}
    assert stage["Stage"] == {"Ref": cdk_app.logical_id(ROLE, cdk_app.api.api.rest_api.deployment_stage)}


def test_prod_sets_its_own_tenant_limits(prod_app: CdkApp) -> None:
    (plan,) = the(prod_app, "AWS::ApiGateway::UsagePlan")
    assert plan["Throttle"] == {"RateLimit": 100, "BurstLimit": 200}
    assert plan["Quota"] == {"Limit": 2_000_000, "Period": "DAY"}


def test_a_tenant_with_limits_of_its_own_gets_a_plan_of_its_own() -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk.assertions import Template

    from stacks.config import EnvironmentConfig, TenantLimits
    from stacks.constructs.edge_limits import TenantUsagePlans

    stack = Stack(App(), "Probe")
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET", apigw.MockIntegration())
    config = EnvironmentConfig(name="t1", tenant_limit_overrides={"initech": TenantLimits(rate_per_second=5,
                                                                                          burst=10, daily_quota=99)})
    TenantUsagePlans(stack, "Plans", config=config, stage=api.deployment_stage)
    plans = {p["Properties"]["UsagePlanName"]: p["Properties"]
             for p in Template.from_stack(stack).find_resources("AWS::ApiGateway::UsagePlan").values()}
    assert set(plans) == {"tasklane-t1-plan", "tasklane-t1-plan-initech"}
    assert plans["tasklane-t1-plan-initech"]["Throttle"] == {"RateLimit": 5, "BurstLimit": 10}
    assert plans["tasklane-t1-plan-initech"]["Quota"] == {"Limit": 99, "Period": "DAY"}


def test_every_authorized_method_requires_the_usage_key_the_authorizer_names(cdk_app: CdkApp) -> None:
    (api,) = the(cdk_app, "AWS::ApiGateway::RestApi")
    assert api["ApiKeySourceType"] == "AUTHORIZER"  # the authorizer's usageIdentifierKey, never a header
    for method in the(cdk_app, "AWS::ApiGateway::Method"):
        if method["HttpMethod"] == "OPTIONS":
            continue
        authorized = method["AuthorizationType"] == "CUSTOM"
        assert method.get("ApiKeyRequired", False) is authorized, method
    env = cdk_app.resource(ROLE, cdk_app.api.api.authorizer_function)["Properties"]["Environment"]["Variables"]
    assert env["USAGE_KEY_PREFIX"] == "tasklane-dev"
    api_env = cdk_app.resource(ROLE, cdk_app.api.api.function)["Properties"]["Environment"]["Variables"]
    assert api_env["USAGE_KEY_PREFIX"] == "tasklane-dev"  # where key administration enrolls each tenant


def test_the_api_may_enrol_tenants_in_these_plans_only(cdk_app: CdkApp) -> None:
    grants = {k: v for k, v in cdk_app.permissions(ROLE, cdk_app.api.api.function).items() if ":apigateway:" in k}
    (plan_id,) = cdk_app.resources(ROLE, "AWS::ApiGateway::UsagePlan")
    base = "arn:${AWS::Partition}:apigateway:${AWS::Region}::"
    assert grants == {
        f"{base}/usageplans": {"apigateway:GET"},
        f"{base}/apikeys": {"apigateway:GET", "apigateway:POST"},
        f"{base}/usageplans/${{{plan_id}}}/keys": {"apigateway:POST"},
    }


@pytest.mark.parametrize(("response_type", "seconds"), [("THROTTLED", "'1'"), ("QUOTA_EXCEEDED", "'3600'")])
def test_api_gateways_429s_carry_retry_after(cdk_app: CdkApp, response_type: str, seconds: str) -> None:
    (response,) = [r for r in the(cdk_app, "AWS::ApiGateway::GatewayResponse") if r["ResponseType"] == response_type]
    assert response["ResponseParameters"]["gatewayresponse.header.Retry-After"] == seconds


def test_a_waf_rate_rule_per_client_ip_guards_the_api_stage(cdk_app: CdkApp) -> None:
    (acl,) = the(cdk_app, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    (rule,) = acl["Rules"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate == {"AggregateKeyType": "IP", "Limit": cdk_app.config.waf_requests_per_ip_per_5_minutes,
                    "EvaluationWindowSec": 300}
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    assert response["ResponseHeaders"] == [{"Name": "Retry-After", "Value": "300"}]
    (association,) = the(cdk_app, "AWS::WAFv2::WebACLAssociation")
    assert association["WebACLArn"] == {"Fn::GetAtt": [cdk_app.logical_id(ROLE, cdk_app.api.api.web_acl.web_acl),
                                                        "Arn"]}
    stage = cdk_app.logical_id(ROLE, cdk_app.api.api.rest_api.deployment_stage)
    assert f"/stages/${{{stage}}}" in cdk_app.render(association["ResourceArn"])


def test_the_api_and_its_authorizers_reserve_concurrency_in_prod(prod_app: CdkApp, cdk_app: CdkApp) -> None:
    live = prod_app.stacks["live"].live  # type: ignore[attr-defined]
    api = prod_app.api.api
    for role, function, reserved in (
        ("api", api.function, prod_app.config.api_reserved_concurrency),
        ("api", api.authorizer_function, prod_app.config.authorizer_reserved_concurrency),
        ("live", live.authorizer_function, prod_app.config.authorizer_reserved_concurrency),
    ):
        assert reserved is not None
        assert prod_app.resource(role, function)["Properties"]["ReservedConcurrentExecutions"] == reserved
    # dev leaves it unreserved: a new account's small quota keeps 10 unreserved and could not spare it
    assert "ReservedConcurrentExecutions" not in cdk_app.resource("api", cdk_app.api.api.function)["Properties"]


def test_the_emulator_switch_comes_from_the_context() -> None:
    from aws_cdk import App

    from stacks.config import load_config

    assert load_config(App(context={"environments": {"dev": {}}}).node).emulator is False
    assert load_config(App(context={"environments": {"dev": {}}, "emulator": "true"}).node).emulator is True


def test_the_api_functions_environment_satisfies_its_key_administration_and_live_settings(
    cdk_app: CdkApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin routes read KeyAdminSettings and LiveSettings (to close a revoked key's connections)."""
    from tasklane.live_settings import LiveSettings
    from tasklane.settings import KeyAdminSettings

    env = cdk_app.resource(ROLE, cdk_app.api.api.function)["Properties"]["Environment"]["Variables"]
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"placeholder-{name.lower()}")
    assert KeyAdminSettings().usage_key_prefix == "tasklane-dev"
    assert LiveSettings().ws_stage == "live"
