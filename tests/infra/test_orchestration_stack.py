"""The orchestration stack's queues and short-task runner."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from lambdas.api.schemas import TaskIn

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "orchestration"


def max_attempts_limit() -> int:
    """The largest max_attempts the API accepts for a task (TaskIn's `le` constraint)."""
    limits = [m.le for m in TaskIn.model_fields["max_attempts"].metadata if getattr(m, "le", None) is not None]
    assert limits, "TaskIn.max_attempts has no upper bound: SQS could dead-letter a task the platform would retry"
    return int(limits[0])


def queue_pairs(cdk_app: CdkApp) -> dict[str, tuple[str, str]]:
    queues = cdk_app.orchestration.queues
    return {
        "short": (cdk_app.logical_id(ROLE, queues.short), cdk_app.logical_id(ROLE, queues.short_dlq)),
        "long": (cdk_app.logical_id(ROLE, queues.long), cdk_app.logical_id(ROLE, queues.long_dlq)),
    }


@pytest.mark.parametrize("name", ["short", "long"])
def test_each_queue_redrives_to_its_own_dead_letter_queue(cdk_app: CdkApp, name: str) -> None:
    queue_id, dlq_id = queue_pairs(cdk_app)[name]
    resources = cdk_app.json(ROLE)["Resources"]
    redrive = resources[queue_id]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert redrive["maxReceiveCount"] == cdk_app.config.max_receive_count == 25
    assert "RedrivePolicy" not in resources[dlq_id]["Properties"]
    # Messages must outlive their retries on the dead-letter queue too.
    dlq_retention = resources[dlq_id]["Properties"]["MessageRetentionPeriod"]
    assert dlq_retention > resources[queue_id]["Properties"]["MessageRetentionPeriod"]


def test_dead_letter_queues_are_distinct(cdk_app: CdkApp) -> None:
    pairs = queue_pairs(cdk_app)
    assert pairs["short"][1] != pairs["long"][1]


def test_sqs_dead_letters_only_after_the_platform_gave_up(cdk_app: CdkApp) -> None:
    """Every receive of a message is one attempt; SQS must not dead-letter a task the platform would retry."""
    assert cdk_app.config.max_receive_count > max_attempts_limit()
    for queue_id, _ in queue_pairs(cdk_app).values():
        redrive = cdk_app.json(ROLE)["Resources"][queue_id]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] > max_attempts_limit()


def test_every_queue_is_encrypted_and_refuses_plain_http(cdk_app: CdkApp) -> None:
    queues = cdk_app.resources(ROLE, "AWS::SQS::Queue")
    assert len(queues) == 4
    policies = cdk_app.resources(ROLE, "AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, queue_id
        statements = [
            s
            for p in policies
            if {"Ref": queue_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert {
            "Action": "sqs:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
        } in statements, f"{queue_id} accepts requests without TLS"


def test_short_queue_visibility_is_six_times_the_runner_timeout(cdk_app: CdkApp) -> None:
    short_id, _ = queue_pairs(cdk_app)["short"]
    runner = cdk_app.resource(ROLE, cdk_app.orchestration.runner.function)["Properties"]
    assert runner["Timeout"] == cdk_app.config.runner_timeout_seconds
    visibility = cdk_app.json(ROLE)["Resources"][short_id]["Properties"]["VisibilityTimeout"]
    assert visibility == 6 * runner["Timeout"]


def test_long_queue_visibility_comes_from_config(cdk_app: CdkApp) -> None:
    long_id, _ = queue_pairs(cdk_app)["long"]
    visibility = cdk_app.json(ROLE)["Resources"][long_id]["Properties"]["VisibilityTimeout"]
    assert visibility == cdk_app.config.long_task_visibility_seconds


def test_runner_reads_the_short_queue_reporting_batch_item_failures(cdk_app: CdkApp) -> None:
    short_id, _ = queue_pairs(cdk_app)["short"]
    runner_id = cdk_app.logical_id(ROLE, cdk_app.orchestration.runner.function)
    mappings = list(cdk_app.resources(ROLE, "AWS::Lambda::EventSourceMapping").values())
    assert len(mappings) == 1
    props = mappings[0]["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [short_id, "Arn"]}
    assert props["FunctionName"] == {"Ref": runner_id}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == cdk_app.config.runner_batch_size
    assert props["ScalingConfig"] == {"MaximumConcurrency": cdk_app.config.runner_max_concurrency}


def test_runner_concurrency_follows_the_environment(prod_app: CdkApp) -> None:
    assert prod_app.config.runner_max_concurrency == 100
    prod_app.template(ROLE).has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": 100}}
    )


def _actions(statement: dict[str, Any]) -> set[str]:
    return {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])


def test_runner_role_is_least_privilege(cdk_app: CdkApp) -> None:
    """DynamoDB on the job table (and its indexes), consume on the short queue, resume on the state machine."""
    orchestration = cdk_app.orchestration
    runner = orchestration.runner.function
    short_id, _ = queue_pairs(cdk_app)["short"]
    statements = cdk_app.role_policies(ROLE, runner)
    assert statements, "the runner's role has no policy"

    services = {action.split(":")[0] for s in statements for action in _actions(s)}
    assert services == {"dynamodb", "sqs", "states"}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "*" not in cdk_app.as_list(statement["Resource"]), statement
        assert not any(a.endswith(":*") or a == "*" for a in _actions(statement)), statement

    # DynamoDB: the data stack's job table, and the table's index ARNs CDK's grant adds.
    dynamodb = [s for s in statements if _prefixes(s) == {"dynamodb"}]
    assert len(dynamodb) == 1
    table_arns = [cdk_app.render(r) for r in cdk_app.as_list(dynamodb[0]["Resource"])]
    assert len(table_arns) == 2
    table_import = re.fullmatch(r"\$\{Import:(.+)\}", table_arns[0])
    assert table_import, table_arns
    assert table_arns[1] == f"{table_arns[0]}/index/*"
    table_id = cdk_app.logical_id("data", cdk_app.data.store.table)
    assert cdk_app.export(table_import.group(1)) == {"Fn::GetAtt": [table_id, "Arn"]}

    # SQS: consume the short queue, nothing else (no send, no long queue).
    sqs = [s for s in statements if _prefixes(s) == {"sqs"}]
    assert len(sqs) == 1
    assert sqs[0]["Resource"] == {"Fn::GetAtt": [short_id, "Arn"]}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= _actions(sqs[0])
    assert not {a for a in _actions(sqs[0]) if a.startswith("sqs:Send") or a.startswith("sqs:Purge")}

    # Step Functions: answer task tokens of the job state machine only.
    states = [s for s in statements if _prefixes(s) == {"states"}]
    assert len(states) == 1
    assert "states:SendTaskSuccess" in _actions(states[0])
    assert _actions(states[0]) <= {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
    machine = cdk_app.resource(ROLE, orchestration.workflow.state_machine)["Properties"]
    arn = cdk_app.render(states[0]["Resource"])
    part = r"(?:\$\{[^}]+\}|[^:$]+)"  # a literal or one ${token}
    assert re.fullmatch(rf"arn:{part}:states:{part}:{part}:stateMachine:{re.escape(machine['StateMachineName'])}", arn)


def _prefixes(statement: dict[str, Any]) -> set[str]:
    return {a.split(":")[0] for a in _actions(statement)}


def test_runner_environment_matches_its_settings(cdk_app: CdkApp) -> None:
    from tasklane.settings import RunnerSettings

    short_id, _ = queue_pairs(cdk_app)["short"]
    env = cdk_app.resource(ROLE, cdk_app.orchestration.runner.function)["Properties"]["Environment"]["Variables"]
    assert env["SHORT_QUEUE_URL"] == {"Ref": short_id}
    table_id = cdk_app.logical_id("data", cdk_app.data.store.table)
    assert cdk_app.export(env["TABLE_NAME"]["Fn::ImportValue"]) == {"Ref": table_id}
    for name, field in RunnerSettings.model_fields.items():
        if field.is_required():
            assert name.upper() in env, f"the runner needs {name.upper()}"
