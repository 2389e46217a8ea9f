"""The scale scenarios' verdicts (bench/scale.py), from run figures as the harness records them."""

from __future__ import annotations

from typing import Any

from bench.common import Outcome
from bench.scale import _limits_targets, exact, other_dollars


def run(tasks: int, rate: float, **counts: int) -> dict[str, Any]:
    final = {"total": tasks, "succeeded": tasks, "pending": 0, "running": 0, "failed": 0, "cancelled": 0, **counts}
    return {"tasks": tasks, "status": "SUCCEEDED", "tasks_per_second": rate, "seconds": tasks / rate,
            "counts": final}


def model(write_units: float, busiest: float, tasks: int) -> dict[str, Any]:
    return {"write_units": write_units, "read_units": 0.0, "write_units_per_task": write_units / tasks,
            "busiest_key_write_units_per_task": busiest / tasks, "throttled": {"PutItem": 2},
            "cancelled": {"TransactionConflict": 3}, "rejected_writes": 0, "model_errors": {}}


def test_a_run_is_exact_only_when_every_task_succeeded_once_and_nothing_is_left() -> None:
    assert exact(run(100, 1000.0))
    assert not exact(run(100, 1000.0, succeeded=99, pending=1))  # one lost
    assert not exact(run(100, 1000.0, succeeded=101))  # one counted twice
    assert not exact({**run(100, 1000.0), "status": "FAILED"})


def test_the_limits_targets_judge_rate_ratio_exactness_hot_key_units_and_dollars() -> None:
    under = {**run(100_000, 1200.0), "limits": model(310_000, 5_000, 100_000)}
    found = {t.name.split(",")[0]: t for t in _limits_targets("lambda", 100_000, run(100_000, 1400.0), under, 0.05)}
    assert found["under AWS limits"].passed is True
    assert found["under AWS limits vs without"].passed is True  # 1,200 / 1,400 = 0.86
    assert found["exact under AWS limits"].passed is True
    assert found["write units of the busiest key per task"].passed is True  # 0.05
    assert "throttled 2, cancelled 3" in found["write units of the busiest key per task"].note
    assert found["write units per task"].passed is True  # 3.1
    dollars = found["$ per million tasks under AWS limits"]
    assert dollars.figure.startswith("$1.99") and dollars.passed is True  # 3.1 x $0.625 + $0.05


def test_a_hot_key_slow_run_or_lost_task_misses() -> None:
    under = {**run(100_000, 700.0, succeeded=99_999, failed=1), "limits": model(307_000, 307_000, 100_000)}
    found = {t.name.split(",")[0]: t for t in _limits_targets("eks", 100_000, run(100_000, 1400.0), under, None)}
    assert found["under AWS limits"].passed is False
    assert "under AWS limits vs without" not in found  # no ratio between runs that are not both exact
    assert found["exact under AWS limits"].passed is False
    assert found["write units of the busiest key per task"].passed is False  # 3.07: today's single job key
    assert found["$ per million tasks under AWS limits"].passed is None  # the cost scenario did not run


def test_other_dollars_are_the_cost_scenarios_lines_without_dynamodb() -> None:
    lines = {"tasklane (lambda)": {"total": 1.95, "ddb_write_units": 1.92, "ddb_read_units": 0.004},
             "map per task (lambda)": {"total": 26.95, "ddb_write_units": 1.92, "ddb_read_units": 0.004}}
    found = other_dollars(Outcome("cost", {"per_million_tasks": lines}))
    assert list(found) == ["lambda"] and abs(found["lambda"] - 0.026) < 1e-9
    assert other_dollars(Outcome("cost", skipped="needs the requests scenario")) == {}
