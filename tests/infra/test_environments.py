"""The environments of cdk.json and what each one promises: staging exists, prod protects its data and its
cluster endpoint, settings that cannot work are refused before anything is deployed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stacks.config import EnvironmentConfig
from tests.infra.conftest import CDK_CONTEXT, CdkApp


def test_dev_staging_and_prod_are_valid() -> None:
    assert set(CDK_CONTEXT["environments"]) == {"dev", "staging", "prod"}
    for name, settings in CDK_CONTEXT["environments"].items():
        EnvironmentConfig(name=name, **settings)


def test_production_refuses_a_public_endpoint_open_to_all() -> None:
    prod: dict[str, Any] = {**CDK_CONTEXT["environments"]["prod"], "eks_public_access_cidrs": []}
    with pytest.raises(ValidationError, match="list eks_public_access_cidrs"):
        EnvironmentConfig(name="prod", **prod)
    EnvironmentConfig(name="prod", **{**prod, "eks_public_endpoint": False})  # private only is fine


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"interface_endpoints": ["sqs", "ec2"]}, "unknown"),
        ({"task_timeout_max_seconds": {"lambda": 200, "eks": 60}, "task_timeout_default_seconds": {"lambda": 60,
                                                                                                   "eks": 60}},
         "must leave the runner"),
        ({"task_timeout_max_seconds": {"eks": 60}}, "exactly the runtimes"),
        ({"task_timeout_max_seconds": {"lambda": 60, "eks": 8 * 24 * 3600}}, "at most 604800"),
        ({"worker_node_min": 5, "worker_node_max": 4}, "worker_node_min"),
        ({"alarm_email": "not an address"}, "alarm_email"),
    ],
)
def test_impossible_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EnvironmentConfig(name="test", **settings)


def _deletion_protection(app: CdkApp) -> dict[str, Any]:
    data = app.json("data")["Resources"]
    live = app.json("live")["Resources"]
    tables = {k: r["Properties"].get("DeletionProtectionEnabled", False)
              for k, r in {**data, **live}.items() if r["Type"] == "AWS::DynamoDB::Table"}
    (pool,) = [r["Properties"].get("DeletionProtection", "INACTIVE") for r in data.values()
               if r["Type"] == "AWS::Cognito::UserPool"]
    return {"tables": set(tables.values()), "count": len(tables), "pool": pool}


# The job table, the idempotency table, the API keys table and the live connections table.
TABLES = 4


def test_prod_tables_and_user_pool_are_protected_from_deletion(prod_app: CdkApp) -> None:
    assert _deletion_protection(prod_app) == {"tables": {True}, "count": TABLES, "pool": "ACTIVE"}


def test_dev_can_be_torn_down(cdk_app: CdkApp) -> None:
    assert _deletion_protection(cdk_app) == {"tables": {False}, "count": TABLES, "pool": "INACTIVE"}
    bucket = cdk_app.resource("data", cdk_app.data.store.manifests)
    assert bucket["DeletionPolicy"] == "Delete"  # `make destroy` empties it first (tests/unit/test_deploy_checks.py)


def test_staging_is_its_own_environment(staging_app: CdkApp) -> None:
    assert {s.stack_name for s in staging_app.stacks.values()} >= {
        "tasklane-staging-data", "tasklane-staging-orchestration", "tasklane-staging-api", "tasklane-staging-live",
        "tasklane-staging-workers", "tasklane-staging-dashboard",
    }
