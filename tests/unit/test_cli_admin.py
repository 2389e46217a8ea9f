"""jobctl admin keys create|list|revoke: the admin routes called with the operator's credential."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cli_fakes import API_URL, CLEAN_ENV, write_endpoints
from typer.testing import CliRunner, Result

from cli.main import Session, app

KEY = {"key_id": "0123456789ab", "tenant": "initech", "name": "ci", "created_at": "2026-01-01T00:00:00.000Z",
       "admin": False, "revoked": False, "revoked_at": None}


class AdminApi:
    """Answers the admin routes for the operator's key and 403 for any other."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != "ApiKey tlk_ops":
            return httpx.Response(403, json={"error": {"code": "forbidden", "message": "only an operator's admin key"}})
        path = request.url.path.removeprefix("/v1/")
        if request.method == "POST" and path == "admin/tenants/initech/keys":
            body = json.loads(request.content)
            return httpx.Response(201, json={**KEY, "name": body["name"], "admin": body["admin"], "secret": "tlk_new"})
        if request.method == "GET" and path == "admin/tenants/initech/keys":
            return httpx.Response(200, json={"keys": [KEY]})
        if request.method == "DELETE" and path == "admin/tenants/initech/keys/0123456789ab":
            revoked = {**KEY, "revoked": True, "revoked_at": "2026-01-02T00:00:00.000Z", "closed_connections": 2}
            return httpx.Response(200, json=revoked)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such key"}})


@pytest.fixture
def api() -> AdminApi:
    return AdminApi()


@pytest.fixture
def endpoints(tmp_path: Path) -> Path:
    return write_endpoints(tmp_path / "endpoints.json", {"acme": "tlk_acme", "ops": "tlk_ops"})


def jobctl(api: AdminApi, endpoints: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--endpoints", str(endpoints), *args], env=CLEAN_ENV,
                              obj=Session(transport=httpx.MockTransport(api)))


def test_create_sends_the_name_and_prints_the_secret_once(api: AdminApi, endpoints: Path) -> None:
    result = jobctl(api, endpoints, "--tenant", "ops", "admin", "keys", "create", "initech", "--name", "deploys")
    assert result.exit_code == 0, result.output
    (request,) = api.requests
    assert (request.method, str(request.url)) == ("POST", f"{API_URL}admin/tenants/initech/keys")
    assert json.loads(request.content) == {"name": "deploys", "admin": False}
    assert result.output.count("tlk_new") == 1 and "0123456789ab" in result.output


def test_create_an_admin_key_as_json(api: AdminApi, endpoints: Path) -> None:
    result = jobctl(api, endpoints, "--tenant", "ops", "-o", "json", "admin", "keys", "create", "initech",
                    "--name", "ops2", "--admin")
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content)["admin"] is True
    assert json.loads(result.output)["secret"] == "tlk_new"


def test_list_shows_each_key_and_its_status(api: AdminApi, endpoints: Path) -> None:
    result = jobctl(api, endpoints, "--tenant", "ops", "admin", "keys", "list", "initech")
    assert result.exit_code == 0, result.output
    assert "0123456789ab" in result.output and "active" in result.output and "tlk_" not in result.output


def test_revoke_reports_the_closed_connections(api: AdminApi, endpoints: Path) -> None:
    result = jobctl(api, endpoints, "--tenant", "ops", "admin", "keys", "revoke", "initech", "0123456789ab")
    assert result.exit_code == 0, result.output
    assert api.requests[0].method == "DELETE"
    assert "revoked" in result.output and "2 live connections closed" in result.output


def test_a_tenants_key_is_refused_in_one_line_with_exit_3(api: AdminApi, endpoints: Path) -> None:
    result = jobctl(api, endpoints, "--tenant", "acme", "admin", "keys", "list", "initech")
    assert result.exit_code == 3
    assert "403 forbidden" in result.output
