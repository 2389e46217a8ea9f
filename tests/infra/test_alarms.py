"""Alarms that reach someone: where they publish, that each has a runbook entry, and the ones issue 13 asked for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from stacks.config import load_config
from tests.infra.conftest import CDK_CONTEXT, CdkApp, build

ROOT = Path(__file__).resolve().parents[2]
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:oncall"


def all_alarms(app: CdkApp) -> dict[str, dict[str, Any]]:
    return {
        f"{role}/{logical_id}": alarm["Properties"]
        for role in app.stacks
        for logical_id, alarm in app.resources(role, "AWS::CloudWatch::Alarm").items()
    }


def test_every_alarm_publishes_to_the_topic_and_has_a_runbook_entry(cdk_app: CdkApp) -> None:
    named = cdk_app.orchestration.alarms.alarms
    assert len(all_alarms(cdk_app)) == len(named), "every alarm is made through OperationalAlarms.add"
    (topic_id,) = cdk_app.resources("orchestration", "AWS::SNS::Topic")
    for name, properties in all_alarms(cdk_app).items():
        (action,) = properties["AlarmActions"]
        assert cdk_app.resolve(action) == f"${{{topic_id}}}", name  # imported by the other stacks
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text()
    runbook = operations[operations.index("## Alarms"):operations.index("## Dead letters")]
    documented = set(re.findall(r"`([A-Za-z]+)`", runbook))
    assert set(named) - documented == set()


def test_the_alarms_issue_13_asked_for(cdk_app: CdkApp) -> None:
    by_metric: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for properties in all_alarms(cdk_app).values():
        by_metric.setdefault((properties["Namespace"], properties["MetricName"]), []).append(properties)
    api_errors = by_metric[("AWS/ApiGateway", "5XXError")]
    assert [a["Statistic"] for a in api_errors] == ["Average"]  # a rate: 5XXError is 0 or 1 per request
    assert [a["ExtendedStatistic"] for a in by_metric[("AWS/ApiGateway", "Latency")]] == ["p99"]
    tables = {cdk_app.render(d["Value"]) for a in by_metric[("AWS/DynamoDB", "WriteThrottleEvents")]
              for d in a["Dimensions"]}
    assert len(tables) == 3  # jobs, idempotency, live connections
    assert len(by_metric[("AWS/DynamoDB", "ReadThrottleEvents")]) == 3
    steps = set(cdk_app.orchestration.workflow.step_functions)
    assert {f"Step{s.title().replace('_', '')}Errors" for s in steps} <= set(cdk_app.orchestration.alarms.alarms)
    assert by_metric[("AWS/States", "ExecutionsFailed")]
    assert [a["Statistic"] for a in by_metric[("AWS/Lambda", "IteratorAge")]] == ["Maximum"]
    assert by_metric[("ContainerInsights", "pod_status_pending")]
    control_dlq = cdk_app.logical_id("orchestration", cdk_app.orchestration.queues.control_dlq)
    (dlq_alarm,) = [a for a in by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
                    if control_dlq in str(a["Dimensions"])]
    assert dlq_alarm["Threshold"] == 1


def test_cdk_json_subscribes_nobody_by_default(cdk_app: CdkApp) -> None:
    assert cdk_app.resources("orchestration", "AWS::SNS::Topic")
    assert cdk_app.resources("orchestration", "AWS::SNS::Subscription") == {}


def test_the_command_line_overrides_cdk_json() -> None:
    context = {**CDK_CONTEXT, "env": "staging", "alarm_email": "oncall@example.com",
               "eks_public_access_cidrs": "198.51.100.0/24, 203.0.113.7/32"}
    config = load_config(App(context=context).node)
    assert config.alarm_email == "oncall@example.com"
    assert config.eks_public_access_cidrs == ("198.51.100.0/24", "203.0.113.7/32")


@pytest.fixture(scope="module")
def topic_app(tmp_path_factory: pytest.TempPathFactory) -> CdkApp:
    context = {**CDK_CONTEXT, "alarm_email": "oncall@example.com", "alarm_topic_arn": TOPIC_ARN}
    return build(tmp_path_factory.mktemp("cdk-topic"), context)


def test_an_existing_topic_gets_the_alarms_and_the_address(topic_app: CdkApp) -> None:
    assert topic_app.resources("orchestration", "AWS::SNS::Topic") == {}
    (subscription,) = topic_app.resources("orchestration", "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": TOPIC_ARN
    }
    for properties in all_alarms(topic_app).values():
        assert properties["AlarmActions"] == [TOPIC_ARN]
