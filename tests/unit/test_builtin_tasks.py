"""The built-in task types: what each returns, when each fails, and which failures are final."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tasklane import builtin_tasks
from tasklane.errors import NonRetryableTaskFailure, TaskFailure
from tasklane.models import Runtime
from tasklane.registry import TaskContext, registry


def ctx(attempt: int = 1, progress: list[tuple[float, str | None]] | None = None) -> TaskContext:
    if progress is None:
        return TaskContext(job_id="j", task_id="t00000000", attempt=attempt)
    return TaskContext(
        job_id="j", task_id="t00000000", attempt=attempt, report_progress=lambda p, m=None: progress.append((p, m))
    )


def run(name: str, payload: dict[str, Any], attempt: int = 1) -> Any:
    task_type = registry.get(name)
    assert task_type is not None, name
    return task_type.function(payload, ctx(attempt))


def test_the_builtin_types_are_registered_with_their_runtimes() -> None:
    assert {"echo", "sleep", "fail", "hash"} <= set(registry.names())
    assert registry.get("sleep").default_runtime is Runtime.EKS  # type: ignore[union-attr]
    assert registry.get("echo").default_runtime is Runtime.LAMBDA  # type: ignore[union-attr]


def test_echo_returns_its_payload() -> None:
    payload = {"a": 1, "nested": {"b": [1, 2]}}
    assert run("echo", payload) == payload


def test_hash_of_x_with_two_rounds_is_sha256_of_the_hex_digest() -> None:
    # Given "x" and 2 rounds, Then the digest is sha256 of the first round's hex digest
    expected = hashlib.sha256(hashlib.sha256(b"x").hexdigest().encode()).hexdigest()
    assert run("hash", {"data": "x", "rounds": 2}) == {"sha256": expected, "rounds": 2}


def test_hash_defaults_to_one_round() -> None:
    assert run("hash", {"data": "x"})["sha256"] == hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize(
    "payload",
    [{"data": 5}, {"data": "x", "rounds": -1}, {"data": "x", "rounds": "2"}, {"data": "x", "rounds": True},
     {"data": "x", "rounds": 1.5}],
)
def test_hash_refuses_bad_payloads_for_good(payload: dict[str, Any]) -> None:
    with pytest.raises(NonRetryableTaskFailure):
        run("hash", payload)


def test_fail_without_fail_times_always_fails_retryably() -> None:
    for attempt in (1, 2, 10):
        with pytest.raises(TaskFailure) as raised:
            run("fail", {"message": "boom"}, attempt)
        assert not isinstance(raised.value, NonRetryableTaskFailure)
        assert "boom" in str(raised.value)


def test_fail_with_fail_times_fails_the_first_attempts_then_succeeds() -> None:
    # Given fail_times=2, When attempts 1 and 2 run, Then they fail; attempt 3 succeeds
    for attempt in (1, 2):
        with pytest.raises(TaskFailure, match=f"attempt {attempt}"):
            run("fail", {"fail_times": 2}, attempt)
    assert run("fail", {"fail_times": 2}, 3) == {"succeeded_on_attempt": 3}


def test_fail_times_zero_succeeds_at_once() -> None:
    assert run("fail", {"fail_times": 0}, 1) == {"succeeded_on_attempt": 1}


@pytest.mark.parametrize("fail_times", [-1, "2", 1.5, False])
def test_fail_with_a_bad_fail_times_is_not_retryable(fail_times: Any) -> None:
    with pytest.raises(NonRetryableTaskFailure, match="fail_times"):
        run("fail", {"fail_times": fail_times})


def test_sleep_sleeps_and_says_how_long() -> None:
    assert run("sleep", {"seconds": 0}) == {"slept": 0.0}
    assert run("sleep", {"seconds": 0.01}) == {"slept": 0.01}


@pytest.mark.parametrize("seconds", [-1, "5", True, None, [1]])
def test_sleep_validates_seconds(seconds: Any) -> None:
    with pytest.raises(NonRetryableTaskFailure, match="seconds"):
        run("sleep", {"seconds": seconds})


def test_a_long_sleep_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a fake clock that advances by each sleep, When a 12 s sleep runs, Then progress rises to 1.0
    now = [1000.0]
    monkeypatch.setattr(builtin_tasks.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(builtin_tasks.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    progress: list[tuple[float, str | None]] = []
    task_type = registry.get("sleep")
    assert task_type is not None
    assert task_type.function({"seconds": 12}, ctx(progress=progress)) == {"slept": 12.0}
    assert [round(p, 3) for p, _ in progress] == [round(5 / 12, 3), round(10 / 12, 3), 1.0]


def test_sleep_and_hash_are_bounded_when_they_run() -> None:
    # A payload that reached a runner anyway (sent before these bounds) still cannot hold a slot unbounded
    with pytest.raises(NonRetryableTaskFailure, match=r"payload.seconds must be .* at most 3600"):
        run("sleep", {"seconds": 1e9})
    with pytest.raises(NonRetryableTaskFailure, match=r"payload.rounds must be .* at most 5,000,000"):
        run("hash", {"data": "x", "rounds": 10**12})
    with pytest.raises(NonRetryableTaskFailure, match=r"payload\.seconds"):
        run("sleep", {"seconds": float("nan")})


def test_a_job_with_a_sleep_longer_than_its_timeout_or_too_many_hash_rounds_is_refused_at_submission() -> None:
    from tasklane.errors import InvalidJob
    from tasklane.jobs import build_spec

    class Task:
        def __init__(self, type: str, payload: dict[str, Any], timeout_seconds: int | None = None) -> None:
            self.type, self.payload, self.timeout_seconds = type, payload, timeout_seconds
            self.runtime: Runtime | None = None
            self.max_attempts: int | None = None

    with pytest.raises(InvalidJob, match=r"tasks\[1\]\.payload\.seconds: 1e\+09 s is longer than a task of its"):
        build_spec("j", [Task("echo", {}), Task("sleep", {"seconds": 1e9})], registry)
    # bounded by its runtime's maximum timeout: 100 s on lambda, 3,600 s on eks (sleep's own runtime)
    lambda_sleep = Task("sleep", {"seconds": 101})
    lambda_sleep.runtime = Runtime.LAMBDA
    with pytest.raises(InvalidJob, match=r"tasks\[0\]\.payload\.seconds: 101 s .*\(100 s\)"):
        build_spec("j", [lambda_sleep], registry)
    # a sleep longer than its own timeout is fine: it is how a task that times out is tried
    assert build_spec("j", [Task("sleep", {"seconds": 3600}, timeout_seconds=2)], registry).tasks[0].payload == {
        "seconds": 3600
    }
    with pytest.raises(InvalidJob, match=r"tasks\[0\]\.payload\.rounds must be a non-negative integer of at most"):
        build_spec("j", [Task("hash", {"data": "x", "rounds": 10**12})], registry)
    with pytest.raises(InvalidJob, match=r"tasks\[0\]\.payload\.seconds must be a non-negative number"):
        build_spec("j", [Task("sleep", {"seconds": "long"})], registry)
