"""Credentials and tenant isolation through API Gateway's authorizer."""

from __future__ import annotations

import httpx
import pytest

from cli.client import ApiError, TasklaneClient
from scripts.local_tenants import id_token


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "ApiKey tlk_not-a-key"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic x"},
    ],
)
def test_missing_or_wrong_credentials_get_401_in_the_error_shape(endpoints: dict, headers: dict) -> None:
    response = httpx.get(f"{endpoints['api_url']}jobs", headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_public_routes_need_no_credentials(endpoints: dict) -> None:
    for path in ("health", "openapi.json", "docs"):
        assert httpx.get(f"{endpoints['api_url']}{path}", timeout=30).status_code == 200


def test_a_dashboard_user_signs_in_with_cognito_and_sees_its_tenant(endpoints: dict, api: TasklaneClient) -> None:
    # Given a job of tenant acme, submitted with acme's API key
    job_id = api.submit({"name": "seen by people too", "tasks": [{"type": "echo"}]})["job_id"]

    # When acme's operator signs in to the user pool and calls the API with the ID token
    user = endpoints["tenants"]["acme"]["user"]
    token = id_token(endpoints, user["username"], user["password"])
    person = TasklaneClient(endpoints["api_url"], {"Authorization": f"Bearer {token}"})

    # Then the person reads the same job, and globex's operator cannot
    assert person.job(job_id)["job_id"] == job_id
    other = endpoints["tenants"]["globex"]["user"]
    stranger = TasklaneClient(
        endpoints["api_url"], {"Authorization": f"Bearer {id_token(endpoints, other['username'], other['password'])}"}
    )
    with pytest.raises(ApiError) as raised:
        stranger.job(job_id)
    assert raised.value.status == 404


def test_a_forged_token_is_refused(endpoints: dict) -> None:
    user = endpoints["tenants"]["acme"]["user"]
    header, payload, signature = id_token(endpoints, user["username"], user["password"]).split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = httpx.get(f"{endpoints['api_url']}jobs", headers={"Authorization": f"Bearer {forged}"}, timeout=30)
    assert response.status_code == 401


def test_one_tenant_can_neither_read_list_cancel_nor_retry_anothers_job(
    api: TasklaneClient, other_tenant: TasklaneClient
) -> None:
    # Given a job of acme
    job_id = api.submit({"name": "acme only", "tasks": [{"type": "fail", "payload": {}, "max_attempts": 1}]})["job_id"]
    api.wait(job_id, timeout=60)

    # Then globex gets 404 everywhere, exactly as for a job that does not exist
    for method, path in [
        ("GET", f"jobs/{job_id}"),
        ("GET", f"jobs/{job_id}/tasks"),
        ("GET", f"jobs/{job_id}/tasks/t00000000"),
        ("POST", f"jobs/{job_id}/cancel"),
        ("POST", f"jobs/{job_id}/retry"),
    ]:
        with pytest.raises(ApiError) as raised:
            other_tenant.request(method, path)
        assert raised.value.status == 404, path
        assert raised.value.code == "not_found"
    assert job_id not in [j["job_id"] for j in other_tenant.request("GET", "jobs", params={"limit": 200})["items"]]
    assert job_id in [j["job_id"] for j in api.request("GET", "jobs", params={"limit": 200})["items"]]


def test_listing_is_newest_first_and_paginates(api: TasklaneClient) -> None:
    ids = [api.submit({"name": f"page {i}", "tasks": [{"type": "echo"}]})["job_id"] for i in range(3)]
    first = api.request("GET", "jobs", params={"limit": 2})
    second = api.request("GET", "jobs", params={"limit": 2, "next_token": first["next_token"]})
    listed = [j["job_id"] for j in first["items"] + second["items"]]
    assert listed[:3] == list(reversed(ids))
    created = [j["created_at"] for j in first["items"] + second["items"]]
    assert created == sorted(created, reverse=True)
