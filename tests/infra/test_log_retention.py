"""One retention rule for every log group: a period CloudWatch does not offer is rounded up, for the functions and
the worker fleet alike (they used to differ: 10 days synthesized for one and failed for the other)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from stacks.constructs.log_retention import retention
from tests.infra.conftest import CDK_CONTEXT, build


@pytest.mark.parametrize(("days", "kept"), [(1, "ONE_DAY"), (10, "TWO_WEEKS"), (14, "TWO_WEEKS"), (61, "THREE_MONTHS"),
                                            (3653, "TEN_YEARS"), (4000, "INFINITE")])
def test_a_period_is_rounded_up_to_one_cloudwatch_keeps(days: int, kept: str) -> None:
    assert retention(days).name == kept


def test_ten_days_synthesizes_as_two_weeks_for_functions_and_workers(tmp_path: Path) -> None:
    context = copy.deepcopy(CDK_CONTEXT)
    context["environments"]["dev"]["log_retention_days"] = 10
    app = build(tmp_path, context)
    # the functions' log groups (made by PythonFunctions, "Functions/...") and every log group of the fleet
    kept = {role: {group["Properties"].get("RetentionInDays")
                   for logical_id, group in app.resources(role, "AWS::Logs::LogGroup").items()
                   if role == "workers" or logical_id.startswith("Functions")}
            for role in ("orchestration", "api", "workers")}
    assert kept == {"orchestration": {14}, "api": {14}, "workers": {14}}
