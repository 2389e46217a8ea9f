"""The API stack: REST API, stage, and the API function's wiring and permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "api"


@pytest.fixture(scope="module")
def function_id(cdk_app: CdkApp) -> str:
    return cdk_app.logical_id(ROLE, cdk_app.api.api.function)


@pytest.fixture(scope="module")
def rest_api_id(cdk_app: CdkApp) -> str:
    return cdk_app.logical_id(ROLE, cdk_app.api.api.rest_api)


def _actions(statement: dict[str, Any]) -> set[str]:
    return {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])


def test_one_rest_api(cdk_app: CdkApp, rest_api_id: str) -> None:
    assert list(cdk_app.resources(ROLE, "AWS::ApiGateway::RestApi")) == [rest_api_id]


def test_proxy_resource_sends_everything_to_the_api_function(
    cdk_app: CdkApp, rest_api_id: str, function_id: str
) -> None:
    proxies = {
        k: r
        for k, r in cdk_app.resources(ROLE, "AWS::ApiGateway::Resource").items()
        if r["Properties"]["PathPart"] == "{proxy+}"
    }
    assert len(proxies) == 1
    ((proxy_id, proxy),) = proxies.items()
    assert proxy["Properties"]["ParentId"] == {"Fn::GetAtt": [rest_api_id, "RootResourceId"]}
    methods = [
        m["Properties"]
        for m in cdk_app.resources(ROLE, "AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": proxy_id}
    ]
    assert [m["HttpMethod"] for m in methods if m["HttpMethod"] != "OPTIONS"] == ["ANY"]
    any_method = next(m for m in methods if m["HttpMethod"] == "ANY")
    integration = any_method["Integration"]
    assert integration["Type"] == "AWS_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    uri = cdk_app.render(integration["Uri"])
    assert f"/functions/${{{function_id}.Arn}}/invocations" in uri


def test_api_gateway_may_invoke_the_function_from_this_api_only(
    cdk_app: CdkApp, rest_api_id: str, function_id: str
) -> None:
    permissions = [
        p["Properties"]
        for p in cdk_app.resources(ROLE, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permissions
    for permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert f":${{{rest_api_id}}}/" in cdk_app.render(permission["SourceArn"])


def test_stage_v1_writes_access_logs(cdk_app: CdkApp, rest_api_id: str) -> None:
    stages = [s["Properties"] for s in cdk_app.resources(ROLE, "AWS::ApiGateway::Stage").values()]
    assert [s["StageName"] for s in stages] == ["v1"]
    stage = stages[0]
    assert stage["RestApiId"] == {"Ref": rest_api_id}
    destination = stage["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"]
    assert destination[1] == "Arn"
    assert cdk_app.json(ROLE)["Resources"][destination[0]]["Type"] == "AWS::Logs::LogGroup"
    for field in ("$context.requestId", "$context.status", "$context.identity.sourceIp"):
        assert field in stage["AccessLogSetting"]["Format"]


def test_stage_throttles(cdk_app: CdkApp) -> None:
    (stage,) = (s["Properties"] for s in cdk_app.resources(ROLE, "AWS::ApiGateway::Stage").values())
    settings = {m["ResourcePath"]: m for m in stage["MethodSettings"]}
    assert settings["/*"]["ThrottlingRateLimit"] > 0 and settings["/*"]["ThrottlingBurstLimit"] > 0


def test_api_function_environment_points_at_the_platform(cdk_app: CdkApp, function_id: str) -> None:
    env = cdk_app.json(ROLE)["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    store = cdk_app.data.store
    expected = {
        "TABLE_NAME": ("data", {"Ref": cdk_app.logical_id("data", store.table)}),
        "MANIFEST_BUCKET": ("data", {"Ref": cdk_app.logical_id("data", store.manifests)}),
        "STATE_MACHINE_ARN": (
            "orchestration",
            {"Ref": cdk_app.logical_id("orchestration", cdk_app.orchestration.workflow.state_machine)},
        ),
    }
    for name, (role, value) in expected.items():
        assert name in env, f"the API function has no {name}"
        import_name = env[name]["Fn::ImportValue"]
        assert cdk_app.stack_of_export(import_name) == role, name
        assert cdk_app.export(import_name) == value, name


def test_api_function_environment_matches_its_settings(cdk_app: CdkApp, function_id: str) -> None:
    from tasklane.settings import ApiSettings

    env = cdk_app.json(ROLE)["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    for name, field in ApiSettings.model_fields.items():
        if field.is_required():
            assert name.upper() in env, f"the API function needs {name.upper()}"


def test_api_function_may_start_executions_of_the_state_machine_only(cdk_app: CdkApp, function_id: str) -> None:
    statements = cdk_app.role_policies(ROLE, cdk_app.api.api.function)
    states = [s for s in statements if any(a.startswith("states:") for a in _actions(s))]
    assert states, "the API function cannot start the workflow"
    machine_arn = cdk_app.json(ROLE)["Resources"][function_id]["Properties"]["Environment"]["Variables"][
        "STATE_MACHINE_ARN"
    ]
    for statement in states:
        assert {a for a in _actions(statement) if a.startswith("states:")} == {"states:StartExecution"}, statement
        assert statement["Resource"] == machine_arn
    for statement in statements:
        assert "*" not in cdk_app.as_list(statement["Resource"]), statement


def test_api_function_only_writes_manifests(cdk_app: CdkApp) -> None:
    """The API stores a job's manifest; only the dispatcher reads it, and nothing deletes it."""
    statements = cdk_app.role_policies(ROLE, cdk_app.api.api.function)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    assert len(s3) == 1
    assert "s3:PutObject" in _actions(s3[0])
    assert not {a for a in _actions(s3[0]) if a.startswith(("s3:Get", "s3:List", "s3:Delete"))}
    bucket_import = cdk_app.render(cdk_app.as_list(s3[0]["Resource"])[0]).removesuffix("/*")
    assert [cdk_app.render(r) for r in cdk_app.as_list(s3[0]["Resource"])] == [f"{bucket_import}/*"]
    bucket_id = cdk_app.logical_id("data", cdk_app.data.store.manifests)
    assert cdk_app.export(bucket_import.removeprefix("${Import:").removesuffix("}")) == {
        "Fn::GetAtt": [bucket_id, "Arn"]
    }
