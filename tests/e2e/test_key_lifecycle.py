"""API keys on the embedded AWS: an operator creates, lists and revokes a tenant's keys through the public
API; a revoked key is refused within a minute and its live connection is closed at once; keys live in their
own table, which the authorizers read."""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from cli.client import ApiError, TasklaneClient
from tasklane.auth import digest_of, usage_key, usage_plan_name

pytestmark = pytest.mark.e2e
REVOKED_WITHIN_SECONDS = 60


@pytest.fixture(scope="module")
def operator(endpoints: dict[str, Any]) -> Iterator[TasklaneClient]:
    client = TasklaneClient(endpoints["api_url"], endpoints["tenants"]["ops"]["headers"])
    yield client
    client.close()


@pytest.fixture
def tenant() -> str:
    """A tenant of its own per test, so that runs never see each other's keys."""
    return f"initech-{uuid.uuid4().hex[:8]}"


def test_an_operator_issues_a_key_that_works_and_revokes_it(
    endpoints: dict[str, Any], operator: TasklaneClient, tenant: str
) -> None:
    # Given a key the operator issued for a new tenant
    created = operator.create_key(tenant, "e2e")
    key = TasklaneClient(endpoints["api_url"], {"Authorization": f"ApiKey {created['secret']}"})

    # Then it works as that tenant, and is listed without its secret
    job_id = key.submit({"name": "first job", "tasks": [{"type": "echo"}]})["job_id"]
    assert key.job(job_id)["job_id"] == job_id
    listed = operator.keys(tenant)
    assert [(k["key_id"], k["revoked"]) for k in listed] == [(created["key_id"], False)]
    assert created["secret"] not in str(listed)

    # When it is revoked, with a live connection open on it
    authorization = urllib.parse.quote(f"ApiKey {created['secret']}")
    with connect(f"{endpoints['ws_url']}?token={authorization}", open_timeout=30, close_timeout=2) as ws:
        ws.send('{"action": "ping"}')
        assert '"pong"' in str(ws.recv(timeout=15))
        revoked_at = time.monotonic()
        revoked = operator.revoke_key(tenant, created["key_id"])
        assert revoked["revoked"] is True and revoked["closed_connections"] == 1

        # Then the connection is closed by the platform at once
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)

    # And the key is refused within a minute (the authorizer's cached decision expires)
    while True:
        try:
            key.job(job_id)
        except ApiError as refused:
            assert refused.status == 401
            break
        assert time.monotonic() - revoked_at < REVOKED_WITHIN_SECONDS, "the revoked key still works"
        time.sleep(2)
    assert operator.keys(tenant)[0]["revoked"] is True


def test_a_tenants_key_cannot_administer_keys(endpoints: dict[str, Any], api: TasklaneClient, tenant: str) -> None:
    for method, path in (
        ("POST", f"admin/tenants/{tenant}/keys"),
        ("GET", "admin/tenants/acme/keys"),
        ("DELETE", "admin/tenants/acme/keys/0123456789ab"),
    ):
        with pytest.raises(ApiError) as raised:
            api.request(method, path, json={"name": "mine"} if method == "POST" else None)
        assert raised.value.status == 403, path


def test_keys_live_in_their_own_table_and_nowhere_in_the_job_table(
    endpoints: dict[str, Any], operator: TasklaneClient, aws: Any, tenant: str
) -> None:
    created = operator.create_key(tenant, "e2e")
    ddb = aws("dynamodb")
    item = ddb.get_item(TableName=endpoints["keys_table_name"], Key={"digest": {"S": digest_of(created["secret"])}})
    assert item["Item"]["tenant"]["S"] == tenant
    assert created["secret"] not in str(item)
    stray = ddb.scan(
        TableName=endpoints["table_name"], FilterExpression="begins_with(pk, :key)",
        ExpressionAttributeValues={":key": {"S": "APIKEY#"}},
    )
    assert stray["Items"] == []


def test_a_tenants_first_key_puts_the_tenant_under_its_usage_plan(
    endpoints: dict[str, Any], operator: TasklaneClient, aws: Any, tenant: str
) -> None:
    operator.create_key(tenant, "e2e")
    operator.create_key(tenant, "e2e-2")  # a second key: the same usage key, still in one plan
    apigateway = aws("apigateway")
    prefix = endpoints["usage_key_prefix"]
    (plan,) = [p for p in apigateway.get_usage_plans(limit=500)["items"] if p["name"] == usage_plan_name(prefix)]
    in_plan = [k["name"] for k in apigateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]]
    assert in_plan.count(usage_key(prefix, tenant)) == 1
    keys = apigateway.get_api_keys(nameQuery=usage_key(prefix, tenant), includeValues=True)["items"]
    assert [(k["name"], k["value"]) for k in keys] == [(usage_key(prefix, tenant), usage_key(prefix, tenant))]
