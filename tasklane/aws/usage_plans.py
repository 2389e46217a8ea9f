"""Tenants' usage keys in API Gateway, each in the usage plan the operator chose for its tenant.

Plans are found by name (tasklane.auth.usage_plan_name): a tenant's own plan when the environment gives it
limits of its own, else the environment's default plan.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tasklane.auth import usage_key, usage_plan_name
from tasklane.aws.clients import client


class ApiGatewayUsagePlans:
    def __init__(self, key_prefix: str, apigateway: Any = None) -> None:
        self.key_prefix = key_prefix
        self._api = apigateway or client("apigateway")
        self._plans: dict[str, str] | None = None

    def _plan_id(self, tenant: str) -> str:
        if self._plans is None:
            items = self._api.get_usage_plans(limit=500).get("items", [])
            self._plans = {plan["name"]: plan["id"] for plan in items}
        own = self._plans.get(usage_plan_name(self.key_prefix, tenant))
        return own or self._plans[usage_plan_name(self.key_prefix)]

    def enroll(self, tenant: str) -> None:
        name = usage_key(self.key_prefix, tenant)
        found = self._api.get_api_keys(nameQuery=name, includeValues=False).get("items", [])
        key_id = next((k["id"] for k in found if k.get("name") == name), None)
        if key_id is None:
            created = self._api.create_api_key(
                name=name, value=name, enabled=True, description=f"usage plan key of tenant {tenant}"
            )
            key_id = created["id"]
        try:
            self._api.create_usage_plan_key(usagePlanId=self._plan_id(tenant), keyId=key_id, keyType="API_KEY")
        except ClientError as exc:
            # Already in the plan: a tenant's second key, or a retried request.
            if exc.response["Error"]["Code"] != "ConflictException":
                raise
