"""Key administration through the API: only an admin key may create, list and revoke a tenant's keys;
revoking refuses the key at the authorizer and closes the key's live connections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Api
from fakes import FakeVerifier, MemoryKeys
from test_live import FakeConnections, FakePusher

from lambdas.api import admin
from tasklane.auth import Unauthorized, authenticate, issue_api_key
from tasklane.live import Connection

ADMIN = {"tenant": "ops", "subject": "key:adm", "method": "api_key", "admin": "true", "principalId": "key:adm"}
NO_TOKENS = FakeVerifier({})


class Live:
    def __init__(self) -> None:
        self.store, self.pusher = FakeConnections(), FakePusher()


class Usage:
    def __init__(self) -> None:
        self.enrolled: list[str] = []

    def enroll(self, tenant: str) -> None:
        self.enrolled.append(tenant)


@pytest.fixture
def keys() -> MemoryKeys:
    return MemoryKeys()


@pytest.fixture
def live() -> Live:
    return Live()


@pytest.fixture
def usage() -> Usage:
    return Usage()


@pytest.fixture(autouse=True)
def wired(keys: MemoryKeys, live: Live, usage: Usage) -> Iterator[None]:
    with admin.keys.override(keys), admin.live.override((live.store, live.pusher)), admin.usage.override(usage):
        yield


def test_an_admin_creates_a_key_that_authenticates_as_the_tenant(api: Api, keys: MemoryKeys, usage: Usage) -> None:
    status, body = api.call("POST", "/admin/tenants/initech/keys", {"name": "ci"}, authorizer=ADMIN)
    assert status == 201
    assert usage.enrolled == ["initech"]  # the tenant is under its usage plan before its key works
    assert body["tenant"] == "initech" and body["name"] == "ci" and body["admin"] is False
    assert body["secret"].startswith("tlk_")
    principal = authenticate(f"ApiKey {body['secret']}", keys, NO_TOKENS)
    assert (principal.tenant, principal.subject, principal.admin) == ("initech", f"key:{body['key_id']}", False)


def test_listing_shows_the_tenants_keys_without_their_secrets(api: Api, keys: MemoryKeys) -> None:
    mine, secret = issue_api_key("initech", "ci", keys)
    issue_api_key("globex", "other", keys)
    status, body = api.call("GET", "/admin/tenants/initech/keys", authorizer=ADMIN)
    assert status == 200
    assert [k["key_id"] for k in body["keys"]] == [mine.key_id]
    assert "secret" not in body["keys"][0] and secret not in str(body)


def test_revoking_refuses_the_key_and_closes_its_live_connections(api: Api, keys: MemoryKeys, live: Live) -> None:
    record, secret = issue_api_key("initech", "ci", keys)
    other, _ = issue_api_key("initech", "other", keys)
    subject = f"key:{record.key_id}"
    live.store.add_connection(Connection("c1", "initech", subject), 0)
    live.store.add_connection(Connection("c2", "initech", f"key:{other.key_id}"), 0)

    status, body = api.call("DELETE", f"/admin/tenants/initech/keys/{record.key_id}", authorizer=ADMIN)

    assert status == 200 and body["revoked"] is True and body["revoked_at"]
    assert body["closed_connections"] == 1 and live.pusher.closed == ["c1"]
    assert set(live.store.connections) == {"c2"}
    with pytest.raises(Unauthorized):
        authenticate(f"ApiKey {secret}", keys, NO_TOKENS)


def test_a_key_of_another_tenant_or_unknown_is_404(api: Api, keys: MemoryKeys) -> None:
    record, _ = issue_api_key("globex", "ci", keys)
    status, body = api.call("DELETE", f"/admin/tenants/initech/keys/{record.key_id}", authorizer=ADMIN)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert not keys.list_keys("globex")[0].revoked


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/admin/tenants/acme/keys", {"name": "mine"}),
        ("GET", "/admin/tenants/acme/keys", None),
        ("DELETE", "/admin/tenants/acme/keys/0123456789ab", None),
    ],
)
def test_a_tenants_own_credential_is_forbidden(
    api: Api, keys: MemoryKeys, usage: Usage, method: str, path: str, body: Any
) -> None:
    # The default caller is tenant acme with an ordinary key (or a forged "admin" that is not "true").
    status, answer = api.call(method, path, body)
    assert status == 403 and answer["error"]["code"] == "forbidden"
    forged = {"tenant": "acme", "subject": "key:x", "admin": "yes"}
    assert api.call(method, path, body, authorizer=forged)[0] == 403
    assert keys.records == {} and usage.enrolled == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/tenants/Not_A_Tenant/keys", {"name": "ci"}),
        ("/admin/tenants/initech/keys", {"name": ""}),
        ("/admin/tenants/initech/keys", {"name": "ci", "extra": 1}),
    ],
)
def test_bad_input_is_a_4xx_and_issues_nothing(api: Api, keys: MemoryKeys, path: str, body: Any) -> None:
    status, _ = api.call("POST", path, body, authorizer=ADMIN)
    assert 400 <= status < 500
    assert keys.records == {}
