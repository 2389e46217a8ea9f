"""The job lifecycle state machine, read from the synthesized DefinitionString."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "orchestration"
LIFECYCLE = ["Mark job running", "Dispatch tasks", "Wait for tasks to finish", "Finalize job", "Did the job succeed?"]
# The function each Task state invokes, by handler.
HANDLERS = {
    "Mark job running": "lambdas.orchestrator.handlers.mark_running",
    "Dispatch tasks": "lambdas.orchestrator.handlers.dispatch_tasks",
    "Wait for tasks to finish": "lambdas.orchestrator.handlers.wait_for_tasks",
    "Finalize job": "lambdas.orchestrator.handlers.finalize",
}


@pytest.fixture(scope="module")
def machine(cdk_app: CdkApp) -> dict[str, Any]:
    return cdk_app.resource(ROLE, cdk_app.orchestration.workflow.state_machine)["Properties"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def definition(cdk_app: CdkApp, machine: dict[str, Any]) -> dict[str, Any]:
    """The Amazon States Language document, tokens (function ARNs, partition) as ${...} placeholders."""
    return json.loads(cdk_app.render(machine["DefinitionString"]))  # type: ignore[no-any-return]


def test_states_read_as_the_job_lifecycle(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == LIFECYCLE[0]
    path = [LIFECYCLE[0]]
    while "Next" in states[path[-1]]:
        path.append(states[path[-1]]["Next"])
    assert path == LIFECYCLE
    assert set(states) == {*LIFECYCLE, "Job succeeded", "Job failed"}


def test_choice_ends_in_succeeded_or_failed(definition: dict[str, Any]) -> None:
    states = definition["States"]
    choice = states["Did the job succeed?"]
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [{"Variable": "$.final.status", "StringEquals": "SUCCEEDED", "Next": "Job succeeded"}]
    assert choice["Default"] == "Job failed"
    assert states["Job succeeded"]["Type"] == "Succeed"
    assert states["Job failed"]["Type"] == "Fail"
    # Finalize's result is where the choice looks.
    assert states["Finalize job"]["ResultPath"] == "$.final"
    assert states["Finalize job"]["ResultSelector"] == {"status.$": "$.Payload.status"}


def _state_types(states: dict[str, Any]) -> list[str]:
    types = []
    for state in states.values():
        types.append(state["Type"])
        for branch in state.get("Branches", []):
            types.extend(_state_types(branch["States"]))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                types.extend(_state_types(state[key]["States"]))
    return types


def test_no_state_repeats_per_task(definition: dict[str, Any]) -> None:
    """A job's state transitions must not grow with its tasks: no Map (or Parallel), no loop back."""
    types = _state_types(definition["States"])
    assert "Map" not in types and "Parallel" not in types
    for name, state in definition["States"].items():
        targets = [state.get("Next"), state.get("Default"), *(c["Next"] for c in state.get("Choices", []))]
        for target in filter(None, targets):
            assert LIFECYCLE.index(name) < (LIFECYCLE.index(target) if target in LIFECYCLE else len(LIFECYCLE))


def test_wait_step_hands_its_task_token_to_the_waiter(definition: dict[str, Any]) -> None:
    wait = definition["States"]["Wait for tasks to finish"]
    assert wait["Type"] == "Task"
    assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert wait["Resource"].startswith("arn:")
    assert wait["Parameters"]["Payload"] == {"job_id.$": "$.job_id", "task_token.$": "$$.Task.Token"}
    # Every other Task is a plain (request-response) invoke.
    for name in set(HANDLERS) - {"Wait for tasks to finish"}:
        assert definition["States"][name]["Resource"].endswith(":states:::lambda:invoke"), name


def test_each_task_invokes_its_own_step_function(cdk_app: CdkApp, definition: dict[str, Any]) -> None:
    functions = cdk_app.resources(ROLE, "AWS::Lambda::Function")
    for name, handler in HANDLERS.items():
        state = definition["States"][name]
        logical_id = state["Parameters"]["FunctionName"].removeprefix("${").removesuffix(".Arn}")
        assert functions[logical_id]["Properties"]["Handler"] == handler, name
        assert state["Parameters"]["Payload"]["job_id.$"] == "$.job_id", name


def test_dispatch_retries_any_error(definition: dict[str, Any]) -> None:
    retries = definition["States"]["Dispatch tasks"]["Retry"]
    catch_all = [r for r in retries if r["ErrorEquals"] == ["States.ALL"]]
    assert len(catch_all) == 1
    assert catch_all[0]["MaxAttempts"] >= 2
    assert catch_all[0]["BackoffRate"] > 1


def test_steps_retry_lambda_service_errors(definition: dict[str, Any]) -> None:
    for name in HANDLERS:
        errors = {e for r in definition["States"][name].get("Retry", []) for e in r["ErrorEquals"]}
        assert "Lambda.ServiceException" in errors or "States.ALL" in errors, name


def test_logs_everything_and_traces(cdk_app: CdkApp, machine: dict[str, Any]) -> None:
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    destinations = machine["LoggingConfiguration"]["Destinations"]
    log_groups = cdk_app.resources(ROLE, "AWS::Logs::LogGroup")
    assert len(destinations) == 1
    log_group_id = destinations[0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert log_group_id in log_groups
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_state_machine_role_invokes_only_its_step_functions(cdk_app: CdkApp, machine: dict[str, Any]) -> None:
    role_id = machine["RoleArn"]["Fn::GetAtt"][0]
    step_ids = {cdk_app.logical_id(ROLE, f) for f in cdk_app.orchestration.workflow.step_functions}
    invoked = set()
    for policy in cdk_app.resources(ROLE, "AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "lambda:InvokeFunction":
                for resource in statement["Resource"]:
                    invoked.add(cdk_app.render(resource).removeprefix("${").split(".Arn}")[0])
    assert invoked == step_ids
