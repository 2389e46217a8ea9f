"""The job lifecycle state machine, read from the synthesized DefinitionString."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "orchestration"
LIFECYCLE = ["Mark job running", "Dispatch tasks", "Wait for tasks to finish", "Finalize job", "Did the job succeed?"]
STOP = "Stop remaining tasks"
FAIL = "Fail job"
FAILED_TO_RUN = "Job could not run"
# The terminal state of each final status Finalize can give a job (FAILED being the Choice's default).
OUTCOMES = {
    "SUCCEEDED": ("Job succeeded", "Succeed", None),
    "CANCELLED": ("Job cancelled", "Fail", "JobCancelled"),
    "TIMED_OUT": ("Job timed out", "Fail", "JobTimedOut"),
    "FAILED": ("Job failed", "Fail", "JobFailed"),
}
ALL_STATES = {*LIFECYCLE, STOP, FAIL, FAILED_TO_RUN, *(name for name, _, _ in OUTCOMES.values())}
# The function each Task state invokes, by handler.
HANDLERS = {
    "Mark job running": "lambdas.orchestrator.handlers.mark_running",
    "Dispatch tasks": "lambdas.orchestrator.handlers.dispatch_tasks",
    "Wait for tasks to finish": "lambdas.orchestrator.handlers.wait_for_tasks",
    STOP: "lambdas.orchestrator.handlers.stop_tasks",
    "Finalize job": "lambdas.orchestrator.handlers.finalize",
    FAIL: "lambdas.orchestrator.handlers.fail_job",
}


@pytest.fixture(scope="module")
def machine(cdk_app: CdkApp) -> dict[str, Any]:
    resource: dict[str, Any] = cdk_app.resource(ROLE, cdk_app.orchestration.workflow.state_machine)
    return resource["Properties"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def definition(cdk_app: CdkApp, machine: dict[str, Any]) -> dict[str, Any]:
    """The Amazon States Language document, tokens (function ARNs, partition) as ${...} placeholders."""
    return json.loads(cdk_app.render(machine["DefinitionString"]))  # type: ignore[no-any-return]


def transitions(state: dict[str, Any]) -> list[str]:
    """Every state `state` can go to: Next, a Choice's branches and default, a Catch's handler."""
    return [
        t
        for t in (
            state.get("Next"),
            state.get("Default"),
            *(c["Next"] for c in state.get("Choices", [])),
            *(c["Next"] for c in state.get("Catch", [])),
        )
        if t
    ]


def test_states_read_as_the_job_lifecycle(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == LIFECYCLE[0]
    path = [LIFECYCLE[0]]
    while "Next" in states[path[-1]]:
        path.append(states[path[-1]]["Next"])
    assert path == LIFECYCLE
    assert set(states) == ALL_STATES


def test_every_state_is_reachable_and_every_transition_leads_to_a_state(definition: dict[str, Any]) -> None:
    states = definition["States"]
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(transitions(states[name]))
    assert seen == set(states)


def test_a_stopped_job_is_caught_stopped_then_finalized(cdk_app: CdkApp, definition: dict[str, Any]) -> None:
    """A cancel or a timeout interrupts the wait with JobStopped (SendTaskFailure); it must not fail the run."""
    from tasklane.stopping import STOP_ERROR

    states = definition["States"]
    assert STOP_ERROR == "JobStopped"
    assert states["Wait for tasks to finish"]["Catch"][0] == {
        "ErrorEquals": [STOP_ERROR], "ResultPath": "$.stopped", "Next": STOP
    }
    stop = states[STOP]
    assert stop["Type"] == "Task"
    assert stop["Next"] == "Finalize job"
    # Cancelling may take several calls: any error is retried before the job is given up.
    catch_all = [r for r in stop["Retry"] if r["ErrorEquals"] == ["States.ALL"]]
    assert len(catch_all) == 1 and catch_all[0]["MaxAttempts"] >= 2


def test_a_step_that_fails_for_good_ends_the_job_failed_instead_of_leaving_it_running(
    definition: dict[str, Any],
) -> None:
    """Before this catch, a job whose dispatch could not parse its manifest stayed RUNNING forever."""
    states = definition["States"]
    catching = {name: s["Catch"] for name, s in states.items() if "Catch" in s}
    assert set(catching) == {"Mark job running", "Dispatch tasks", "Wait for tasks to finish"}
    for name, catches in catching.items():
        # after the step's own retries; the JobStopped catch of the wait comes first
        assert catches[-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": FAIL}, name
    fail = states[FAIL]
    assert fail["Parameters"]["Payload"]["failure.$"] == "$.failure"
    assert any(r["ErrorEquals"] == ["States.ALL"] for r in fail["Retry"])
    # The execution itself still fails, so the console and alarms see it; the job says why
    assert fail["Next"] == FAILED_TO_RUN
    assert states[FAILED_TO_RUN]["Type"] == "Fail" and states[FAILED_TO_RUN]["Error"] == "JobWorkflowFailed"


def test_choice_ends_in_the_state_of_each_final_status(definition: dict[str, Any]) -> None:
    from tasklane.models import JobStatus

    states = definition["States"]
    choice = states["Did the job succeed?"]
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [
        {"Variable": "$.final.status", "StringEquals": status, "Next": OUTCOMES[status][0]}
        for status in ("SUCCEEDED", "CANCELLED", "TIMED_OUT")
    ]
    assert choice["Default"] == OUTCOMES["FAILED"][0]
    assert set(OUTCOMES) == {s.value for s in JobStatus if s.is_final}
    for name, type_, error in OUTCOMES.values():
        assert states[name]["Type"] == type_, name
        assert states[name].get("Error") == error, name
        assert "Next" not in states[name]
    # Finalize's result is where the choice looks.
    assert states["Finalize job"]["ResultPath"] == "$.final"
    assert states["Finalize job"]["ResultSelector"] == {"status.$": "$.Payload.status"}


def test_steps_keep_the_execution_input(definition: dict[str, Any]) -> None:
    """Every step reads $.job_id, $.run and $.rerun: no step may replace the input with its result."""
    states = definition["States"]
    for name in set(HANDLERS) - {"Finalize job"}:
        assert "ResultPath" in states[name] and states[name]["ResultPath"] is None, name  # JsonPath.DISCARD
    assert states["Wait for tasks to finish"]["Catch"][0]["ResultPath"] not in ("$", None)


def test_step_payloads_are_what_the_handlers_read(definition: dict[str, Any]) -> None:
    from lambdas.orchestrator.handlers import FailInput, StepInput, WaitInput

    for name in HANDLERS:
        payload = definition["States"][name]["Parameters"]["Payload"]
        keys = {key.removesuffix(".$") for key in payload}
        model = {"Wait for tasks to finish": WaitInput, FAIL: FailInput}.get(name, StepInput)
        assert keys <= set(model.model_fields), name
        required = {field for field, info in model.model_fields.items() if info.is_required()}
        assert required <= keys, name
        assert payload["job_id.$"] == "$.job_id", name


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
    assert set(types) <= {"Task", "Choice", "Succeed", "Fail"}
    states = definition["States"]

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"loop: {' -> '.join((*path, name))}"
        for target in transitions(states[name]):
            visit(target, (*path, name))

    visit(definition["StartAt"], ())


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
    invoked = []
    for name, handler in HANDLERS.items():
        state = definition["States"][name]
        logical_id = state["Parameters"]["FunctionName"].removeprefix("${").removesuffix(".Arn}")
        assert functions[logical_id]["Properties"]["Handler"] == handler, name
        invoked.append(logical_id)
    assert len(set(invoked)) == len(HANDLERS)
    step_ids = {cdk_app.logical_id(ROLE, f) for f in cdk_app.orchestration.workflow.step_functions.values()}
    assert set(invoked) == step_ids


@pytest.mark.parametrize("name", ["Dispatch tasks", STOP, FAIL])
def test_long_steps_retry_any_error(definition: dict[str, Any], name: str) -> None:
    retries = definition["States"][name]["Retry"]
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
    step_ids = {cdk_app.logical_id(ROLE, f) for f in cdk_app.orchestration.workflow.step_functions.values()}
    assert len(step_ids) == len(HANDLERS)
    invoked = set()
    for policy in cdk_app.resources(ROLE, "AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "lambda:InvokeFunction" in cdk_app.actions(statement):
                assert cdk_app.actions(statement) == {"lambda:InvokeFunction"}
                for resource in cdk_app.as_list(statement["Resource"]):
                    invoked.add(cdk_app.render(resource).removeprefix("${").split(".Arn}")[0])
    assert invoked == step_ids


def test_step_functions_are_least_privilege(cdk_app: CdkApp) -> None:
    arns = cdk_app.arns()
    job_table = {arns.job_items: "write-items"}
    expected = {
        "mark_running": {**job_table, arns.control: "send"},  # schedules the job's first watch
        "dispatch_tasks": {
            arns.job_items: "batch-write-items", arns.bucket: "read+put+delete", f"{arns.bucket}/*": "read+put+delete",
            arns.short: "send", arns.long: "send",
        },
        "wait_for_tasks": {**job_table, arns.resume: "resume"},
        "stop_tasks": {**job_table, arns.resume: "resume"},
        "fail_job": {**job_table, arns.resume: "resume"},
        "finalize": job_table,
    }
    functions = cdk_app.orchestration.workflow.step_functions
    assert set(functions) == set(expected)
    for name, function in functions.items():
        assert cdk_app.access(ROLE, function) == expected[name], name
