"""The live-updates stack: the WebSocket API, its $connect authorizer, the connections table and the stream
consumer that pushes job changes to subscribed dashboards."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "live"


@pytest.fixture(scope="module")
def live(cdk_app: CdkApp) -> Any:
    return cdk_app.stacks[ROLE].live  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def resources(cdk_app: CdkApp) -> dict[str, dict[str, Any]]:
    return cdk_app.json(ROLE)["Resources"]  # type: ignore[no-any-return]


def of_type(resources: dict[str, dict[str, Any]], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == type_}


def test_one_websocket_api_selecting_routes_by_action(resources: dict[str, dict[str, Any]]) -> None:
    (api,) = of_type(resources, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    assert api["Properties"]["Name"] == "tasklane-dev-live"


def test_connect_needs_the_token_authorizer_and_every_route_calls_the_routes_function(
    cdk_app: CdkApp, live: Any, resources: dict[str, dict[str, Any]]
) -> None:
    found = of_type(resources, "AWS::ApiGatewayV2::Route").values()
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in found}
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    ((authorizer_id, authorizer),) = of_type(resources, "AWS::ApiGatewayV2::Authorizer").items()
    assert authorizer["Properties"]["AuthorizerType"] == "REQUEST"
    assert authorizer["Properties"]["IdentitySource"] == ["route.request.querystring.token"]
    uri = cdk_app.render(authorizer["Properties"]["AuthorizerUri"])
    assert cdk_app.logical_id(ROLE, live.authorizer_function) in uri
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    # API Gateway allows an authorizer on $connect only; the others act for connections $connect admitted.
    assert all(routes[k].get("AuthorizationType", "NONE") == "NONE" for k in ("$disconnect", "$default"))
    function = cdk_app.logical_id(ROLE, live.routes_function)
    for properties in routes.values():
        integration = resources[cdk_app.render(properties["Target"]).removeprefix("integrations/${").rstrip("}")]
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert f"${{{function}.Arn}}" in cdk_app.render(integration["Properties"]["IntegrationUri"])


def test_the_stage_deploys_itself_throttles_and_logs_access(resources: dict[str, dict[str, Any]]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "live"
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 1000, "ThrottlingRateLimit": 500}
    log_format = json.loads(properties["AccessLogSettings"]["Format"])
    assert {"connectionId", "eventType", "routeKey", "status"} <= set(log_format)


def test_connections_expire_by_ttl(cdk_app: CdkApp, live: Any) -> None:
    table = cdk_app.resource(ROLE, live.connections)["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_the_publisher_reads_only_job_items_from_the_job_tables_stream_as_soon_as_polled(
    cdk_app: CdkApp, live: Any, resources: dict[str, dict[str, Any]]
) -> None:
    (mapping,) = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["FunctionName"] == {"Ref": cdk_app.logical_id(ROLE, live.publisher_function)}
    jobs = cdk_app.logical_id("data", cdk_app.data.store.table)
    assert cdk_app.resolve(properties["EventSourceArn"]) == f"${{{jobs}.StreamArn}}"
    assert properties["StartingPosition"] == "LATEST"
    assert properties["BatchSize"] == 1000
    assert properties["MaximumBatchingWindowInSeconds"] == 0
    assert properties["MaximumRetryAttempts"] == 2
    assert properties["MaximumRecordAgeInSeconds"] == 60
    (pattern,) = [json.loads(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["JOB"]}}}}


@pytest.mark.parametrize("name", ["routes_function", "publisher_function"])
def test_live_functions_know_the_tables_and_the_connections_endpoint(cdk_app: CdkApp, live: Any, name: str) -> None:
    environment = cdk_app.resource(ROLE, getattr(live, name))["Properties"]["Environment"]["Variables"]
    api = cdk_app.logical_id(ROLE, live.api)
    assert cdk_app.resolve(environment["TABLE_NAME"]) == f"${{{cdk_app.logical_id('data', cdk_app.data.store.table)}}}"
    assert cdk_app.render(environment["CONNECTIONS_TABLE_NAME"]) == f"${{{cdk_app.logical_id(ROLE, live.connections)}}}"
    assert cdk_app.render(environment["WS_API_ID"]) == f"${{{api}}}"
    assert environment["WS_STAGE"] == "live"
    assert cdk_app.render(environment["WS_CALLBACK_URL"]) == f"https://${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/live"


def test_each_live_function_may_do_only_its_part(cdk_app: CdkApp, live: Any) -> None:
    arns = cdk_app.arns()
    connections = cdk_app.arn(ROLE, live.connections)
    post = (
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
        f"${{{cdk_app.logical_id(ROLE, live.api)}}}/live/*/@connections/*"
    )
    routes = cdk_app.permissions(ROLE, live.routes_function)
    assert routes.pop(post) == {"execute-api:ManageConnections"}
    assert {k: v for k, v in cdk_app.access(ROLE, live.routes_function).items() if k != post} == {
        arns.table: "read", arns.indexes: "read", connections: "read-write",
    }
    publisher = cdk_app.permissions(ROLE, live.publisher_function)
    assert publisher.pop(post) == {"execute-api:ManageConnections"}
    assert publisher.pop(f"{arns.table.removesuffix('.Arn}')}.StreamArn}}") == {
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
    }
    assert publisher.pop("*") == {"dynamodb:ListStreams"}  # no resource-level permission exists for it
    assert set(publisher) == {connections}  # it never touches the job table's items
    assert cdk_app.access(ROLE, live.authorizer_function) == {arns.table: "read", arns.indexes: "read"}


def test_the_websocket_url_is_an_output(cdk_app: CdkApp) -> None:
    outputs = cdk_app.json(ROLE)["Outputs"]
    assert {"WebSocketApiId", "WebSocketStage", "WebSocketUrl", "ConnectionsTableName", "PublisherFunctionName"} <= set(
        outputs
    )
    assert cdk_app.render(outputs["WebSocketUrl"]["Value"]).startswith("wss://")
