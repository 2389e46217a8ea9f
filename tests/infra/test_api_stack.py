"""The API stack: REST API, authorizer, gateway responses, stage, and the functions' wiring and permissions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "api"
PUBLIC = {("/health", "GET"), ("/openapi.json", "GET"), ("/docs", "GET")}
AUTHORIZED = {("/", "ANY"), ("/{proxy+}", "ANY")}


@pytest.fixture(scope="module")
def function_id(cdk_app: CdkApp) -> str:
    return cdk_app.logical_id(ROLE, cdk_app.api.api.function)


@pytest.fixture(scope="module")
def authorizer_function_id(cdk_app: CdkApp) -> str:
    return cdk_app.logical_id(ROLE, cdk_app.api.api.authorizer_function)


@pytest.fixture(scope="module")
def rest_api_id(cdk_app: CdkApp) -> str:
    return cdk_app.logical_id(ROLE, cdk_app.api.api.rest_api)


@pytest.fixture(scope="module")
def authorizer(cdk_app: CdkApp) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = cdk_app.resources(ROLE, "AWS::ApiGateway::Authorizer").items()
    return logical_id, resource["Properties"]


@pytest.fixture(scope="module")
def methods(cdk_app: CdkApp, rest_api_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every method of the API by (resource path, HTTP method)."""
    resources = cdk_app.resources(ROLE, "AWS::ApiGateway::Resource")
    root = {"Fn::GetAtt": [rest_api_id, "RootResourceId"]}

    def path(resource_id: Any) -> str:
        if resource_id == root:
            return "/"
        props = resources[resource_id["Ref"]]["Properties"]
        parent = path(props["ParentId"])
        return f"{parent.rstrip('/')}/{props['PathPart']}"

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for method in cdk_app.resources(ROLE, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        assert props["RestApiId"] == {"Ref": rest_api_id}
        key = (path(props["ResourceId"]), props["HttpMethod"])
        assert key not in found, key
        found[key] = props
    return found


def test_one_rest_api(cdk_app: CdkApp, rest_api_id: str) -> None:
    assert list(cdk_app.resources(ROLE, "AWS::ApiGateway::RestApi")) == [rest_api_id]


def test_the_api_has_exactly_its_routes(methods: dict[tuple[str, str], dict[str, Any]]) -> None:
    routes = {key for key in methods if key[1] != "OPTIONS"}
    assert routes == PUBLIC | AUTHORIZED
    # A CORS preflight on every resource.
    assert {path for path, verb in methods if verb == "OPTIONS"} == {path for path, _ in routes}


def test_every_route_but_the_public_ones_needs_the_tenant_authorizer(
    methods: dict[tuple[str, str], dict[str, Any]], authorizer: tuple[str, dict[str, Any]]
) -> None:
    authorizer_id, _ = authorizer
    for key, props in methods.items():
        if key in AUTHORIZED:
            assert props["AuthorizationType"] == "CUSTOM", key
            assert props["AuthorizerId"] == {"Ref": authorizer_id}, key
        else:
            assert key in PUBLIC or key[1] == "OPTIONS", key
            assert props["AuthorizationType"] == "NONE", key
            assert "AuthorizerId" not in props, key
        # A usage key only where the authorizer names one: the tenant's (tests/infra/test_edge_limits.py).
        assert props.get("ApiKeyRequired", False) is (key in AUTHORIZED), key


def test_routes_proxy_to_the_api_function_and_preflights_stay_in_api_gateway(
    cdk_app: CdkApp, methods: dict[tuple[str, str], dict[str, Any]], function_id: str
) -> None:
    for key, props in methods.items():
        integration = props["Integration"]
        if key[1] == "OPTIONS":
            assert integration["Type"] == "MOCK", key
            continue
        assert integration["Type"] == "AWS_PROXY", key
        assert integration["IntegrationHttpMethod"] == "POST", key
        assert f"/functions/${{{function_id}.Arn}}/invocations" in cdk_app.render(integration["Uri"]), key


def _unauthenticated(method: str, path: str) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it for a method without an authorizer."""
    return {
        "resource": path, "path": path, "httpMethod": method, "headers": {"Accept": "*/*"},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": path, "httpMethod": method, "path": f"/v1{path}", "stage": "v1", "requestId": "r-1",
            "accountId": "123456789012", "apiId": "abc123", "identity": {"sourceIp": "203.0.113.9"},
        },
    }


@dataclass
class _Context:
    function_name: str = "api"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:api"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = "r-1"
    log_group_name: str = "/aws/lambda/api"
    log_stream_name: str = "s"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def test_public_routes_answer_without_the_authorizer_and_others_do_not() -> None:
    """API Gateway lets the public routes through with no tenant: the handler must serve them so, and refuse
    the others (as it would if a route lost its authorizer)."""
    from lambdas.api.handler import lambda_handler
    from stacks.constructs.job_api import PUBLIC_ROUTES

    assert {(f"/{route}", "GET") for route in PUBLIC_ROUTES} == PUBLIC
    for path, method in PUBLIC:
        response = lambda_handler(_unauthenticated(method, path), _Context())  # type: ignore[arg-type]
        assert response["statusCode"] == 200, (path, response)
    refused = lambda_handler(_unauthenticated("GET", "/jobs"), _Context())  # type: ignore[arg-type]
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["error"]["code"] == "unauthorized"


def test_preflight_allows_the_headers_the_api_reads(methods: dict[tuple[str, str], dict[str, Any]]) -> None:
    from lambdas.api.handler import CORS_HEADERS

    preflight = methods[("/{proxy+}", "OPTIONS")]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
    headers = preflight["method.response.header.Access-Control-Allow-Headers"].strip("'").split(",")
    assert {"Authorization", "Content-Type", "Idempotency-Key"} <= set(headers)
    assert set(CORS_HEADERS) <= set(headers)  # what the handler itself answers preflights with
    assert preflight["method.response.header.Access-Control-Allow-Origin"] == "'*'"


def test_token_authorizer_reads_the_authorization_header_and_caches(
    cdk_app: CdkApp, rest_api_id: str, authorizer: tuple[str, dict[str, Any]], authorizer_function_id: str
) -> None:
    _, props = authorizer
    assert props["Type"] == "TOKEN"
    assert props["RestApiId"] == {"Ref": rest_api_id}
    assert props["IdentitySource"] == "method.request.header.Authorization"
    # A revoked key is refused within a minute: the longest any authorizer decision is reused.
    assert 0 < props["AuthorizerResultTtlInSeconds"] <= 60
    assert f"/functions/${{{authorizer_function_id}.Arn}}/invocations" in cdk_app.render(props["AuthorizerUri"])
    function = cdk_app.json(ROLE)["Resources"][authorizer_function_id]["Properties"]
    assert function["Handler"] == "lambdas.authorizer.handler.lambda_handler"


def test_the_authorizer_may_be_invoked_by_this_api_only(
    cdk_app: CdkApp, rest_api_id: str, authorizer: tuple[str, dict[str, Any]], authorizer_function_id: str
) -> None:
    authorizer_id, _ = authorizer
    permissions = [
        p["Properties"]
        for p in cdk_app.resources(ROLE, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [authorizer_function_id, "Arn"]}
    ]
    assert len(permissions) == 1
    assert permissions[0]["Principal"] == "apigateway.amazonaws.com"
    assert cdk_app.render(permissions[0]["SourceArn"]).endswith(f":${{{rest_api_id}}}/authorizers/${{{authorizer_id}}}")


def test_authorizer_environment_names_the_user_pool_and_its_client(
    cdk_app: CdkApp, authorizer_function_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasklane.settings import AuthorizerSettings

    env = cdk_app.json(ROLE)["Resources"][authorizer_function_id]["Properties"]["Environment"]["Variables"]
    identity, store = cdk_app.data.identity, cdk_app.data.store
    assert cdk_app.export(env["USER_POOL_ID"]["Fn::ImportValue"]) == {
        "Ref": cdk_app.logical_id("data", identity.user_pool)
    }
    assert cdk_app.export(env["USER_POOL_CLIENT_IDS"]["Fn::ImportValue"]) == {
        "Ref": cdk_app.logical_id("data", identity.dashboard_client)
    }
    assert cdk_app.export(env["KEYS_TABLE_NAME"]["Fn::ImportValue"]) == {"Ref": cdk_app.logical_id("data", store.keys)}
    assert "TABLE_NAME" not in env  # the job table is not the authorizer's to read
    # Lambda sets AWS_REGION itself; the rest must come from the stack.
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"placeholder-{name.lower()}")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = AuthorizerSettings()
    assert settings.client_ids == ["placeholder-user_pool_client_ids"]
    assert settings.aws_endpoint_url is None  # in AWS, the pool's keys come from Cognito itself


def test_gateway_responses_speak_the_api_error_shape(cdk_app: CdkApp, rest_api_id: str) -> None:
    """API Gateway's own refusals (a missing or bad token, a throttle, a fault) answer like the API does."""
    from lambdas.api.schemas import ErrorOut

    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in cdk_app.resources(ROLE, "AWS::ApiGateway::GatewayResponse").values()
    }
    expected = {
        "UNAUTHORIZED": "unauthorized",
        "ACCESS_DENIED": "forbidden",
        "THROTTLED": "too_many_requests",
        "QUOTA_EXCEEDED": "quota_exceeded",
        "INVALID_API_KEY": "tenant_not_enrolled",
        "DEFAULT_4XX": "bad_request",
        "DEFAULT_5XX": "gateway_error",
    }
    assert set(responses) == set(expected)
    for response_type, code in expected.items():
        props = responses[response_type]
        assert props["RestApiId"] == {"Ref": rest_api_id}
        retry_after = {"THROTTLED": "'1'", "QUOTA_EXCEEDED": "'3600'"}.get(response_type)
        assert props["ResponseParameters"] == {
            "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
            **({"gatewayresponse.header.Retry-After": retry_after} if retry_after else {}),
        }, response_type
        # Every 429 API Gateway answers says when to ask again (before, a throttle had no Retry-After)
        assert props.get("StatusCode") == ("429" if retry_after else None), response_type
        assert set(props["ResponseTemplates"]) == {"application/json"}
        template = props["ResponseTemplates"]["application/json"]
        # $context.error.messageString is the message already quoted as a JSON string.
        message = 'Unauthorized "quoted"'
        body = json.loads(template.replace("$context.error.messageString", json.dumps(message)))
        assert body == {"error": {"code": code, "message": message}}, response_type
        ErrorOut.model_validate(body)
        assert "$context.error.message " not in template and "$context.error.message}" not in template


def test_api_function_may_be_invoked_from_this_api_only(cdk_app: CdkApp, rest_api_id: str, function_id: str) -> None:
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


def test_access_logs_can_be_written_from_the_first_deployment(cdk_app: CdkApp) -> None:
    """The account stack sets the account's API Gateway role, and this stack is deployed after it
    (tests/infra/test_deployment_rules.py checks the rule for every stack and environment)."""
    assert cdk_app.resources(ROLE, "AWS::ApiGateway::Account") == {}
    resources = cdk_app.json("account")["Resources"]
    ((_, account),) = cdk_app.resources("account", "AWS::ApiGateway::Account").items()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}}
    ]
    assert [cdk_app.render(a) for a in role["ManagedPolicyArns"]] == [
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    ]
    assert cdk_app.stacks["account"] in cdk_app.api.dependencies


def test_stage_throttles(cdk_app: CdkApp) -> None:
    (stage,) = (s["Properties"] for s in cdk_app.resources(ROLE, "AWS::ApiGateway::Stage").values())
    settings = {m["ResourcePath"]: m for m in stage["MethodSettings"]}
    assert settings["/*"]["ThrottlingRateLimit"] > 0 and settings["/*"]["ThrottlingBurstLimit"] > 0


def test_api_function_environment_points_at_the_platform(cdk_app: CdkApp, function_id: str) -> None:
    env = cdk_app.json(ROLE)["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    store = cdk_app.data.store
    connections = cdk_app.stacks["live"].live.connections  # type: ignore[attr-defined]
    expected = {
        "TABLE_NAME": ("data", {"Ref": cdk_app.logical_id("data", store.table)}),
        "IDEMPOTENCY_TABLE_NAME": ("data", {"Ref": cdk_app.logical_id("data", store.idempotency)}),
        "MANIFEST_BUCKET": ("data", {"Ref": cdk_app.logical_id("data", store.manifests)}),
        "KEYS_TABLE_NAME": ("data", {"Ref": cdk_app.logical_id("data", store.keys)}),
        "CONNECTIONS_TABLE_NAME": ("live", {"Ref": cdk_app.logical_id("live", connections)}),
        "STATE_MACHINE_ARN": (
            "orchestration",
            {"Ref": cdk_app.logical_id("orchestration", cdk_app.orchestration.workflow.state_machine)},
        ),
    }
    # the task timeouts of the environment, as its settings read them
    assert json.loads(env["TASK_TIMEOUT_MAX_SECONDS"]) == cdk_app.config.task_timeout_max_seconds
    assert json.loads(env["TASK_TIMEOUT_DEFAULT_SECONDS"]) == cdk_app.config.task_timeout_default_seconds
    for name, (role, value) in expected.items():
        assert name in env, f"the API function has no {name}"
        import_name = env[name]["Fn::ImportValue"]
        assert cdk_app.stack_of_export(import_name) == role, name
        assert cdk_app.export(import_name) == value, name


def test_api_function_role_is_least_privilege(cdk_app: CdkApp) -> None:
    """Jobs (their own key prefixes, no Scan or DeleteItem) and idempotency records; API keys (issue, list,
    revoke); put manifests and presign uploads, read uploads and payloads (never manifests); start executions
    and answer their task tokens (a cancel's SendTaskFailure); close a revoked key's live connections. No queue."""
    arns = cdk_app.arns()
    live = cdk_app.stacks["live"].live  # type: ignore[attr-defined]
    access = cdk_app.access(ROLE, cdk_app.api.api.function)
    manage = {k for k, v in access.items() if v == "unexpected: execute-api:ManageConnections"}
    assert [k.endswith("/live/*/@connections/*") for k in manage] == [True]
    # enrolling tenants in their usage plans: tests/infra/test_edge_limits.py
    manage |= {k for k in access if ":apigateway:" in k}
    assert {k: v for k, v in access.items() if k not in manage} == {
        arns.job_items: "write-items",
        arns.by_tenant: "query",
        arns.keys: "administer-keys",
        arns.keys_indexes: "administer-keys",
        cdk_app.arn("live", live.connections): "close-connections",
        arns.idempotency: "read-write",
        arns.bucket: "read",  # GetBucket*/List*: a missing upload is NoSuchKey, not AccessDenied
        f"{arns.bucket}/*": "put",
        f"{arns.bucket}/uploads/*": "read",
        f"{arns.bucket}/payloads/*": "read",
        arns.state_machine: "start+resume",
    }


def test_authorizer_role_only_gets_api_keys(cdk_app: CdkApp) -> None:
    """It looks one API key up by its digest; verifying a Cognito ID token needs only the pool's public keys (no
    IAM). It reads nothing of the job table."""
    arns = cdk_app.arns()
    assert cdk_app.access(ROLE, cdk_app.api.api.authorizer_function) == {arns.keys: "get"}
