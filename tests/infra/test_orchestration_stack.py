"""The orchestration stack's queues and the functions they feed: runner, watchdog and dead-letter drain."""

from __future__ import annotations

import json
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
        "control": (cdk_app.logical_id(ROLE, queues.control), cdk_app.logical_id(ROLE, queues.control_dlq)),
    }


TASK_QUEUES = ("short", "long")


@pytest.mark.parametrize("name", ["short", "long", "control"])
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
    ids = [queue_id for pair in pairs.values() for queue_id in pair]
    assert len(set(ids)) == len(ids) == 6
    assert set(ids) == set(cdk_app.resources(ROLE, "AWS::SQS::Queue"))


def test_sqs_dead_letters_only_after_the_platform_gave_up(cdk_app: CdkApp) -> None:
    """Every receive of a message is one attempt; SQS must not dead-letter a task the platform would retry."""
    assert cdk_app.config.max_receive_count > max_attempts_limit()
    for name in TASK_QUEUES:
        queue_id, _ = queue_pairs(cdk_app)[name]
        redrive = cdk_app.json(ROLE)["Resources"][queue_id]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] > max_attempts_limit()


def test_every_queue_is_encrypted_and_refuses_plain_http(cdk_app: CdkApp) -> None:
    queues = cdk_app.resources(ROLE, "AWS::SQS::Queue")
    assert len(queues) == 6
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


def event_sources(cdk_app: CdkApp) -> dict[tuple[str, str], dict[str, Any]]:
    """Every event source mapping, by (queue logical id, function logical id)."""
    mappings: dict[tuple[str, str], dict[str, Any]] = {}
    for mapping in cdk_app.resources(ROLE, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        queue_id, attribute = props["EventSourceArn"]["Fn::GetAtt"]
        assert attribute == "Arn"
        key = (queue_id, props["FunctionName"]["Ref"])
        assert key not in mappings, key
        mappings[key] = props
    return mappings


def test_event_sources_feed_each_queue_to_its_function(cdk_app: CdkApp) -> None:
    """Short tasks to the runner, the control queue to the watchdog, both task DLQs to the drain; no other."""
    orchestration = cdk_app.orchestration
    pairs = queue_pairs(cdk_app)
    functions = (orchestration.runner, orchestration.watchdog, orchestration.dead_letter_intake)
    runner, watchdog, drain = (cdk_app.logical_id(ROLE, f.function) for f in functions)
    assert set(event_sources(cdk_app)) == {
        (pairs["short"][0], runner),
        (pairs["control"][0], watchdog),
        (pairs["short"][1], drain),
        (pairs["long"][1], drain),
    }
    # The long queue is the EKS workers' and the control DLQ is kept for operators: no function reads them.


def test_every_event_source_reports_batch_item_failures(cdk_app: CdkApp) -> None:
    for key, props in event_sources(cdk_app).items():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], key
        assert props.get("Enabled", True) is True, key
        # SQS batches above 10 need a batching window (Lambda's rule), and stay within 10,000.
        assert 1 <= props["BatchSize"] <= (10_000 if props.get("MaximumBatchingWindowInSeconds", 0) > 0 else 10), key


def test_queues_hide_messages_longer_than_their_function_runs(cdk_app: CdkApp) -> None:
    """Lambda refuses to map a queue whose visibility timeout is below the function's timeout (cfn-lint E3505):
    a message would reappear, and run twice, while its first delivery still runs."""
    resources = cdk_app.json(ROLE)["Resources"]
    for (queue_id, function_id), _ in event_sources(cdk_app).items():
        visibility = resources[queue_id]["Properties"].get("VisibilityTimeout", 30)  # SQS's default
        timeout = resources[function_id]["Properties"]["Timeout"]
        assert visibility >= timeout, f"{queue_id} hides a message {visibility}s, {function_id} runs {timeout}s"


def test_runner_reads_the_short_queue_with_bounded_concurrency(cdk_app: CdkApp) -> None:
    short_id, _ = queue_pairs(cdk_app)["short"]
    runner_id = cdk_app.logical_id(ROLE, cdk_app.orchestration.runner.function)
    props = event_sources(cdk_app)[(short_id, runner_id)]
    assert props["BatchSize"] == cdk_app.config.runner_batch_size
    assert props["ScalingConfig"] == {"MaximumConcurrency": cdk_app.config.runner_max_concurrency}


def test_runner_concurrency_follows_the_environment(prod_app: CdkApp) -> None:
    assert prod_app.config.runner_max_concurrency == 100
    runner_id = prod_app.logical_id(ROLE, prod_app.orchestration.runner.function)
    (runner_mapping,) = [
        m["Properties"]
        for m in prod_app.resources(ROLE, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": runner_id}
    ]
    assert runner_mapping["ScalingConfig"] == {"MaximumConcurrency": 100}



def _mapping_for(config_values: dict[str, Any]) -> dict[str, Any]:
    """The runner's event source mapping, synthesized alone for an environment with `config_values`."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs
    from aws_cdk.assertions import Template

    from stacks.config import EnvironmentConfig
    from stacks.constructs.task_runner import runner_event_source

    config = EnvironmentConfig(name="burst", **config_values)
    stack = Stack(App(), "RunnerMapping")
    function = lambda_.Function(stack, "Runner", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                                code=lambda_.Code.from_inline("def handler(event, context): pass"))
    function.add_event_source(runner_event_source(config, sqs.Queue(stack, "Short")))
    (mapping,) = Template.from_stack(stack).find_resources("AWS::Lambda::EventSourceMapping").values()
    return dict(mapping["Properties"])


def test_an_environment_can_give_the_runner_provisioned_pollers_instead_of_a_concurrency_cap() -> None:
    provisioned = _mapping_for({"runner_provisioned_pollers": {"minimum": 10, "maximum": 300}})
    assert provisioned["ProvisionedPollerConfig"] == {"MinimumPollers": 10, "MaximumPollers": 300}
    assert "ScalingConfig" not in provisioned  # AWS refuses both on one mapping
    standard = _mapping_for({"runner_max_concurrency": 50})
    assert standard["ScalingConfig"] == {"MaximumConcurrency": 50} and "ProvisionedPollerConfig" not in standard


@pytest.mark.parametrize("pollers", [{"minimum": 1, "maximum": 10}, {"minimum": 20, "maximum": 10},
                                     {"minimum": 2, "maximum": 2001}])
def test_provisioned_pollers_outside_aws_ranges_are_refused(pollers: dict[str, int]) -> None:
    from pydantic import ValidationError

    from stacks.config import EnvironmentConfig

    with pytest.raises(ValidationError):
        EnvironmentConfig(name="burst", runner_provisioned_pollers=pollers)


# --- least privilege ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "level"),
    [
        ({"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}, "read-items"),
        ({"dynamodb:GetItem"}, "get"),
        ({"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}, "unexpected: dynamodb:GetItem, dynamodb:PutItem, "
         "dynamodb:Query"),
        ({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}, "consume"),
        ({"sqs:SendMessage", "sqs:GetQueueUrl"}, "send"),
        ({"sqs:SendMessage", "sqs:PurgeQueue"}, "unexpected: sqs:PurgeQueue, sqs:SendMessage"),
        ({"s3:GetObject*", "s3:List*"}, "read"),
        ({"s3:GetObject*", "s3:DeleteObject*"}, "read+delete"),
        ({"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}, "resume"),
        ({"states:SendTaskSuccess"}, "unexpected: states:SendTaskSuccess"),
        ({"states:StartExecution", "states:StopExecution"}, "unexpected: states:StartExecution, states:StopExecution"),
        ({"sqs:SendMessage", "s3:PutObject"}, "unexpected: s3:PutObject, sqs:SendMessage"),
        ({"lambda:InvokeFunction"}, "unexpected: lambda:InvokeFunction"),
    ],
)
def test_access_levels_name_what_a_role_may_do(cdk_app: CdkApp, allowed: set[str], level: str) -> None:
    assert cdk_app.access_level(allowed) == level


def test_runner_role_is_least_privilege(cdk_app: CdkApp) -> None:
    """Its job table, consume and send short tasks, send long ones (window release), read payloads, resume."""
    arns = cdk_app.arns()
    assert cdk_app.access(ROLE, cdk_app.orchestration.runner.function) == {
        arns.job_items: "write-items",
        arns.short: "consume+send",
        arns.long: "send",
        arns.bucket: "read",
        f"{arns.bucket}/payloads/*": "read",
        arns.resume: "resume",
    }


def test_watchdog_role_is_least_privilege(cdk_app: CdkApp) -> None:
    """Consumes and reschedules its control messages, resends stalled tasks, times jobs out: nothing else."""
    arns = cdk_app.arns()
    assert cdk_app.access(ROLE, cdk_app.orchestration.watchdog.function) == {
        arns.job_items: "write-items",
        arns.control: "consume+send",
        arns.short: "send",
        arns.long: "send",
        arns.resume: "resume",
    }


def test_dead_letter_drain_role_is_least_privilege(cdk_app: CdkApp) -> None:
    """Consumes both task DLQs (never sends to a queue) and records dead letters; its last dead letter may end a
    job and resume its workflow."""
    arns = cdk_app.arns()
    assert cdk_app.access(ROLE, cdk_app.orchestration.dead_letter_intake.function) == {
        arns.job_items: "write-items",
        arns.short_dlq: "consume",
        arns.long_dlq: "consume",
        arns.resume: "resume",
    }


def test_resume_grants_name_the_deployed_state_machine(cdk_app: CdkApp) -> None:
    machine = cdk_app.orchestration.workflow
    assert machine.state_machine_name == "tasklane-dev-job-lifecycle"
    resolved = cdk_app.render(cdk_app.orchestration.resolve(machine.state_machine_arn_by_name))
    assert resolved == cdk_app.arns().resume


def test_runner_environment_matches_its_settings(cdk_app: CdkApp) -> None:
    env = cdk_app.resource(ROLE, cdk_app.orchestration.runner.function)["Properties"]["Environment"]["Variables"]
    pairs = queue_pairs(cdk_app)
    assert env["SHORT_QUEUE_URL"] == {"Ref": pairs["short"][0]}
    assert env["LONG_QUEUE_URL"] == {"Ref": pairs["long"][0]}
    table_id = cdk_app.logical_id("data", cdk_app.data.store.table)
    bucket_id = cdk_app.logical_id("data", cdk_app.data.store.manifests)
    assert cdk_app.export(env["TABLE_NAME"]["Fn::ImportValue"]) == {"Ref": table_id}
    assert cdk_app.export(env["MANIFEST_BUCKET"]["Fn::ImportValue"]) == {"Ref": bucket_id}


def test_watchdog_and_step_functions_know_the_control_queue(cdk_app: CdkApp) -> None:
    control_id, _ = queue_pairs(cdk_app)["control"]
    orchestration = cdk_app.orchestration
    for function in [orchestration.watchdog.function, *orchestration.workflow.step_functions.values()]:
        env = cdk_app.resource(ROLE, function)["Properties"]["Environment"]["Variables"]
        assert env["CONTROL_QUEUE_URL"] == {"Ref": control_id}, function.node.path


def test_the_runner_reads_the_environments_task_timeouts_and_its_lambda_maximum_leaves_room_to_commit(
    cdk_app: CdkApp,
) -> None:
    from tasklane.deliveries import HANDBACK_RESERVE_SECONDS
    from tasklane.models import Runtime
    from tasklane.settings import TaskTimeoutSettings

    env = cdk_app.resource(ROLE, cdk_app.orchestration.runner.function)["Properties"]["Environment"]["Variables"]
    names = ("TASK_TIMEOUT_DEFAULT_SECONDS", "TASK_TIMEOUT_MAX_SECONDS")
    timeouts = TaskTimeoutSettings.model_validate(
        {name.lower(): json.loads(env[name]) for name in names}
    ).task_timeouts
    assert timeouts.default_seconds == {Runtime(k): v for k, v in cdk_app.config.task_timeout_default_seconds.items()}
    assert timeouts.max_seconds == {Runtime(k): v for k, v in cdk_app.config.task_timeout_max_seconds.items()}
    # The longest Lambda task, started with the runner's whole timeout ahead, still leaves time to commit
    assert timeouts.max_seconds[Runtime.LAMBDA] + HANDBACK_RESERVE_SECONDS < cdk_app.config.runner_timeout_seconds


def test_an_environment_whose_lambda_task_maximum_leaves_the_runner_no_time_is_refused() -> None:
    from pydantic import ValidationError

    from stacks.config import EnvironmentConfig

    with pytest.raises(ValidationError, match="must leave the runner 20 s of its 120 s timeout: at most 100"):
        EnvironmentConfig(name="dev", task_timeout_max_seconds={"lambda": 110, "eks": 3600})
    with pytest.raises(ValidationError, match="exactly the runtimes lambda, eks"):
        EnvironmentConfig(name="dev", task_timeout_max_seconds={"lambda": 100})
    with pytest.raises(ValidationError, match=r"task_timeout_default_seconds\.eks must be 1 to its maximum"):
        EnvironmentConfig(name="dev", task_timeout_default_seconds={"lambda": 60, "eks": 4000})
