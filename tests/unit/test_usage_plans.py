"""Each tenant's usage key in API Gateway: created once, in the tenant's own plan or the default one."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasklane.auth import usage_key
from tasklane.aws.usage_plans import ApiGatewayUsagePlans


class FakeApiGateway:
    """The three API Gateway calls enrolment makes, answering as AWS does (a key already in a plan: 409)."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.plan_keys: dict[str, set[str]] = {}
        self.plans = {"tasklane-test-plan": "default", "tasklane-test-plan-initech": "big", "other-plan": "x"}

    def get_usage_plans(self, limit: int) -> dict[str, Any]:
        return {"items": [{"id": i, "name": n} for n, i in self.plans.items()]}

    def get_api_keys(self, nameQuery: str, includeValues: bool) -> dict[str, Any]:
        # nameQuery matches names that start with it, so "…-acme" also finds "…-acme-2"
        found = [{"id": i, "name": k["name"]} for i, k in self.keys.items() if k["name"].startswith(nameQuery)]
        return {"items": found}

    def create_api_key(self, name: str, value: str, enabled: bool, description: str) -> dict[str, Any]:
        key_id = f"k{len(self.keys)}"
        self.keys[key_id] = {"name": name, "value": value, "enabled": enabled}
        return {"id": key_id}

    def create_usage_plan_key(self, usagePlanId: str, keyId: str, keyType: str) -> None:
        held = self.plan_keys.setdefault(usagePlanId, set())
        if keyId in held:
            raise ClientError({"Error": {"Code": "ConflictException", "Message": "exists"}}, "CreateUsagePlanKey")
        held.add(keyId)


def names(api: FakeApiGateway, plan: str) -> list[str]:
    return sorted(api.keys[k]["name"] for k in api.plan_keys.get(plan, set()))


def test_a_tenant_is_enrolled_once_in_its_plan() -> None:
    api = FakeApiGateway()
    plans = ApiGatewayUsagePlans("tasklane-test", api)

    plans.enroll("acme-2")
    plans.enroll("acme")
    plans.enroll("acme")  # a tenant's second key: nothing new
    plans.enroll("initech")

    assert names(api, "default") == ["tasklane-test-tenant-acme", "tasklane-test-tenant-acme-2"]
    assert names(api, "big") == ["tasklane-test-tenant-initech"]
    assert sorted((k["name"], k["value"], k["enabled"]) for k in api.keys.values()) == [
        ("tasklane-test-tenant-acme", "tasklane-test-tenant-acme", True),
        ("tasklane-test-tenant-acme-2", "tasklane-test-tenant-acme-2", True),
        ("tasklane-test-tenant-initech", "tasklane-test-tenant-initech", True),
    ]


def test_other_errors_are_raised() -> None:
    class Refusing(FakeApiGateway):
        def create_usage_plan_key(self, usagePlanId: str, keyId: str, keyType: str) -> None:
            raise ClientError({"Error": {"Code": "NotFoundException", "Message": "no plan"}}, "CreateUsagePlanKey")

    with pytest.raises(ClientError, match="NotFoundException"):
        ApiGatewayUsagePlans("tasklane-test", Refusing()).enroll("acme")


def test_usage_keys_are_long_enough_for_api_gateway() -> None:
    # API Gateway refuses a key value under 20 characters; the shortest environment name is two characters
    # (stacks/config.py) and the shortest tenant name one.
    assert len(usage_key("tasklane-ab", "x")) >= 20
