"""Task code cannot reach API keys, scan the job table, delete from it, or touch items outside the job
table's own key prefixes; the API keys' table is read only by the authorizers and written only by the API.

Each roles' grants are read from the synthesized templates of every stack, so a grant added anywhere (a
grant_read_write_data, a wildcard, a new statement) fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import JOB_PREFIXES_ONLY, CdkApp


def task_running_roles(app: CdkApp) -> dict[str, tuple[str, Any]]:
    """Every role that runs task code or acts on a task's behalf: (stack role, grantee) by name."""
    orchestration = app.orchestration
    roles: dict[str, tuple[str, Any]] = {
        "runner": ("orchestration", orchestration.runner.function),
        "watchdog": ("orchestration", orchestration.watchdog.function),
        "dead letter drain": ("orchestration", orchestration.dead_letter_intake.function),
        "workers (IRSA)": ("workers", app.workers.fleet.worker_service_account),
    }
    for name, function in orchestration.workflow.step_functions.items():
        roles[f"workflow step {name}"] = ("orchestration", function)
    return roles


def statements_of(app: CdkApp, role: str, grantee: Any) -> list[dict[str, Any]]:
    return app.role_policies(role, grantee)


@pytest.fixture(scope="module")
def roles(cdk_app: CdkApp) -> dict[str, tuple[str, Any]]:
    return task_running_roles(cdk_app)


def test_every_task_running_role_is_checked(roles: dict[str, tuple[str, Any]]) -> None:
    assert {"runner", "watchdog", "dead letter drain", "workers (IRSA)", "workflow step dispatch_tasks"} <= set(roles)
    assert len(roles) >= 9  # the five workflow steps too


def test_no_task_running_role_can_reach_the_api_keys(cdk_app: CdkApp, roles: dict[str, tuple[str, Any]]) -> None:
    arns = cdk_app.arns()
    for name, (role, grantee) in roles.items():
        reached = [r for r in cdk_app.permissions(role, grantee) if r.startswith(arns.keys)]
        assert reached == [], f"{name} may reach the API keys' table: {reached}"


def test_no_task_running_role_may_scan_delete_or_use_wildcards(
    cdk_app: CdkApp, roles: dict[str, tuple[str, Any]]
) -> None:
    for name, (role, grantee) in roles.items():
        for statement in statements_of(cdk_app, role, grantee):
            granted = cdk_app.actions(statement)
            assert not granted & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:PartiQLSelect"}, (name, granted)
            assert not any(a.endswith(":*") or a == "*" for a in granted), (name, granted)


def test_task_running_roles_reach_job_items_only_under_the_job_prefixes(
    cdk_app: CdkApp, roles: dict[str, tuple[str, Any]]
) -> None:
    """No role that runs tasks touches the job table without the LeadingKeys condition, nor any of its indexes."""
    arns = cdk_app.arns()
    for name, (role, grantee) in roles.items():
        table_grants = {r: a for r, a in cdk_app.permissions(role, grantee).items() if r.startswith(arns.table)}
        stream = f"{arns.table.removesuffix('.Arn}')}.StreamArn}}"
        assert set(table_grants) - {stream} == {arns.job_items}, f"{name}: {sorted(table_grants)}"


def test_the_prefix_condition_allows_exactly_the_job_tables_own_prefixes() -> None:
    from stacks.constructs.tables import JOB_ITEM_PREFIXES

    # Patterns (another key layout may spread a job over several JOB#... keys), never one exact key.
    assert JOB_ITEM_PREFIXES == ("JOB#*", "DEAD#*")
    assert JOB_PREFIXES_ONLY == " [LeadingKeys: JOB#*, DEAD#*]"


def test_only_the_dispatcher_may_batch_write_job_items(cdk_app: CdkApp, roles: dict[str, tuple[str, Any]]) -> None:
    """BatchWriteItem carries deletes too, which IAM cannot tell apart from puts."""
    writers = {
        name
        for name, (role, grantee) in roles.items()
        for statement in statements_of(cdk_app, role, grantee)
        if "dynamodb:BatchWriteItem" in cdk_app.actions(statement)
    }
    assert writers == {"workflow step dispatch_tasks"}


def test_workers_read_only_stored_payloads(cdk_app: CdkApp) -> None:
    arns = cdk_app.arns()
    objects = {
        r: a for r, a in cdk_app.access("workers", cdk_app.workers.fleet.worker_service_account).items()
        if r.startswith(f"{arns.bucket}/")
    }
    assert objects == {f"{arns.bucket}/payloads/*": "read"}


def test_the_keys_table_is_granted_only_to_the_authorizers_and_the_api(cdk_app: CdkApp) -> None:
    keys_id = cdk_app.logical_id("data", cdk_app.data.store.keys)
    holders: dict[str, set[str]] = {}
    for role in cdk_app.stacks:
        for logical_id, policy in cdk_app.resources(role, "AWS::IAM::Policy").items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if keys_id in str(statement["Resource"]):
                    holders.setdefault(f"{role}:{logical_id}", set()).update(cdk_app.actions(statement))
    api = cdk_app.api.api
    live = cdk_app.stacks["live"].live  # type: ignore[attr-defined]
    expected_roles = {
        ("api", api.function), ("api", api.authorizer_function), ("live", live.authorizer_function),
    }
    allowed = set()
    for role, function in expected_roles:
        role_id = cdk_app.logical_id(role, function.role)
        for logical_id, policy in cdk_app.resources(role, "AWS::IAM::Policy").items():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                allowed.add(f"{role}:{logical_id}")
    # each of the three holds it (in its default policy), and no policy of another role does
    assert set(holders) <= allowed and len(holders) == len(expected_roles)
    for holder, granted in holders.items():
        assert not granted & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}, holder


def test_the_keys_table_is_apart_from_the_job_table(cdk_app: CdkApp) -> None:
    props = cdk_app.resource("data", cdk_app.data.store.keys)["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "digest", "KeyType": "HASH"}]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-tenant"
    assert index["KeySchema"] == [
        {"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "key_id", "KeyType": "RANGE"}
    ]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
