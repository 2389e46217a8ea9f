"""The live-updates Lambda handlers: the $connect authorizer and the WebSocket routes, as API Gateway calls them."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_events import FakeLambdaContext

from lambdas.live import authorizer, routes
from tasklane.auth import ApiKeyRecord, digest_of

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/live/$connect"


class Keys:
    def find_key(self, digest: str) -> ApiKeyRecord | None:
        if digest == digest_of("tlk_good"):
            return ApiKeyRecord(key_id="k1", tenant="acme", name="ci", created_at="t")
        return None


class NoTokens:
    def claims(self, token: str) -> dict[str, Any]:
        raise AssertionError("no JWT in these tests")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorizer, "verifiers", lambda: (Keys(), NoTokens()))


def connect_event(token: str | None) -> dict[str, Any]:
    return {"type": "REQUEST", "methodArn": METHOD_ARN,
            "queryStringParameters": {"token": token} if token is not None else None,
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c1="}}


def test_the_authorizer_admits_a_key_and_names_its_tenant(keys: None) -> None:
    answer = authorizer.lambda_handler(connect_event("ApiKey tlk_good"), FakeLambdaContext())
    assert answer["context"] == {"tenant": "acme", "subject": "key:k1", "method": "api_key", "admin": "false"}
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    ]


@pytest.mark.parametrize("token", [None, "", "ApiKey tlk_bad", "Basic dXNlcg=="])
def test_the_authorizer_refuses_anything_else_with_unauthorized(keys: None, token: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(connect_event(token), FakeLambdaContext())


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.admit = True

    def connect(self, *args: Any) -> bool:
        self.calls.append(("connect", *args))
        return self.admit

    def disconnect(self, *args: Any) -> None:
        self.calls.append(("disconnect", *args))

    def receive(self, *args: Any) -> None:
        self.calls.append(("receive", *args))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(routes, "subscriptions", lambda: recorder)
    return recorder


def route_event(kind: str, authorizer_context: dict[str, str] | None = None, body: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"eventType": kind, "connectionId": "c1=", "routeKey": "$x"}
    if authorizer_context is not None:
        context["authorizer"] = authorizer_context
    return {"requestContext": context, "body": body}


def test_routes_record_connections_under_the_authorized_tenant(recorder: Recorder) -> None:
    ctx = FakeLambdaContext()
    event = route_event("CONNECT", {"tenant": "acme", "subject": "key:k1", "principalId": "key:k1"})
    assert routes.lambda_handler(event, ctx) == {"statusCode": 200}
    assert routes.lambda_handler(route_event("MESSAGE", body='{"action":"ping"}'), ctx) == {"statusCode": 200}
    assert routes.lambda_handler(route_event("DISCONNECT"), ctx) == {"statusCode": 200}
    assert recorder.calls == [("connect", "c1=", "acme", "key:k1"), ("receive", "c1=", '{"action":"ping"}'),
                              ("disconnect", "c1=")]


def test_a_connect_without_an_authorized_tenant_is_refused(recorder: Recorder) -> None:
    assert routes.lambda_handler(route_event("CONNECT", {}), FakeLambdaContext()) == {"statusCode": 403}
    assert recorder.calls == []


def test_a_connect_over_the_tenants_cap_is_refused_with_429(recorder: Recorder) -> None:
    recorder.admit = False
    event = route_event("CONNECT", {"tenant": "acme", "subject": "key:k1"})
    assert routes.lambda_handler(event, FakeLambdaContext()) == {"statusCode": 429}
