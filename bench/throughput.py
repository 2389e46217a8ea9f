"""End-to-end throughput: one job of N no-op `echo` tasks through the public API, from submit to SUCCEEDED.

The clock starts before POST /jobs and stops at the Step Functions execution's stopDate (same machine, same
clock), so polling adds nothing. The execution history gives the time in each state and the transitions.
Runtimes: `lambda` (the runner function, fed by its event source mapping) and `eks` (the bench's own
`python -m workers` processes, standing in for the EKS fleet).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psutil

from bench.common import (
    LOCAL,
    ROOT,
    Outcome,
    Skipped,
    Target,
    api_headers,
    aws_client,
    gateway,
    start_process,
    stop_processes,
    wait_until,
)
from bench.memory import RssSampler, emulator_pid
from bench.stats import spread
from cli.client import ApiError, TasklaneClient
from tasklane.aws.request_counting import COUNTS_DIR_ENV

TRANSITION_PROBE_TASKS = 10


class Platform:
    """The deployed platform as the bench reaches it: the public API and, to watch executions, Step Functions."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        self.endpoints = endpoints
        self.api = TasklaneClient(endpoints["api_url"], api_headers(endpoints), timeout=300)
        self.sfn = aws_client("stepfunctions", gateway(endpoints))
        self.state_machine_arn = str(endpoints["state_machine_arn"])

    def execution_arn(self, job_id: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"

    def submit(self, tasks: int, runtime: str, name: str, upload: bool = False) -> str:
        """Submit a job of `tasks` echo tasks, in the request's body or through the upload path (S3)."""
        body = {"name": name,
                "tasks": [{"type": "echo", "payload": {"i": i}, "runtime": runtime} for i in range(tasks)]}
        content = json.dumps(body, separators=(",", ":")).encode()
        if upload:
            return str(self.api.submit_large(content)["job_id"])
        created = self.api.request("POST", "jobs", content=content, headers={"content-type": "application/json"})
        return str(created["job_id"])

    def wait(self, job_id: str, timeout: float, interval: float = 0.1) -> dict[str, Any]:
        """The job's execution once it ends, or as it is when `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            execution = self.sfn.describe_execution(executionArn=self.execution_arn(job_id))
            if execution["status"] != "RUNNING" or time.monotonic() >= deadline:
                return dict(execution)
            time.sleep(interval)

    def abandon(self, job_id: str) -> None:
        """Stop a job the bench gave up waiting for, so that it does not load the scenarios after it.

        The job is cancelled through the API, then the task queues are purged: on this emulator a deep
        queue is what makes such a job slow (its receives and deletes grow with the queue's depth), so its
        leftover messages would slow whatever runs next. The bench's own platform only (`make bench`).
        """
        self.api.cancel(job_id)
        sqs = aws_client("sqs", gateway(self.endpoints))
        for key in ("short_queue_url", "long_queue_url"):
            sqs.purge_queue(QueueUrl=str(self.endpoints[key]))
        self.wait(job_id, timeout=120)

    def history(self, job_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.execution_arn(job_id), "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]


def run_job(platform: Platform, tasks: int, runtime: str, timeout: float,
            worker_pids: list[int] | None = None, upload: bool = False) -> dict[str, Any]:
    """Submit one job and wait for its execution to end; returns the figures of the run."""
    groups = {"worker": worker_pids} if worker_pids else {}
    with RssSampler(groups, emulator_pid()) as sampler:
        started = time.time()
        job_id = platform.submit(tasks, runtime, f"bench-{runtime}-{tasks}", upload=upload)
        submitted = time.time()
        execution = platform.wait(job_id, timeout, interval=0.1 if tasks <= 10_000 else 0.5)
    job = platform.api.job(job_id)
    run: dict[str, Any] = {
        "runtime": runtime, "tasks": tasks, "job_id": job_id, "submit_seconds": submitted - started,
        "memory": sampler.peaks(), "counts": job["counts"],
    }
    if execution["status"] == "RUNNING":
        elapsed = time.time() - started
        done = job["counts"]["succeeded"] + job["counts"]["failed"]
        platform.abandon(job_id)
        return {**run, "status": "BENCH_TIMEOUT", "seconds": elapsed, "tasks_per_second": done / elapsed,
                "done_when_abandoned": done}
    seconds = execution["stopDate"].timestamp() - started
    events = platform.history(job_id)
    return {
        **run, "status": job["status"], "seconds": seconds, "tasks_per_second": tasks / seconds,
        "transitions": sum(1 for e in events if e["type"].endswith("StateEntered")),
        "history_events": len(events), "phases": phases(events, started),
    }


def phases(events: list[dict[str, Any]], started: float) -> dict[str, float]:
    """Seconds from submit to the execution's start, then in each state, from the execution history."""
    if not events:
        return {}
    entered = [(e["stateEnteredEventDetails"]["name"], e["timestamp"].timestamp())
               for e in events if e["type"].endswith("StateEntered")]
    ends = [at for _, at in entered[1:]] + [events[-1]["timestamp"].timestamp()]
    out = {"submit to execution start": events[0]["timestamp"].timestamp() - started}
    for (name, at), end in zip(entered, ends, strict=True):
        out[name] = out.get(name, 0.0) + end - at
    return out


# --- the long-task workers ------------------------------------------------------------------------------


def _local_platform() -> ModuleType:
    try:
        return importlib.import_module("scripts.local_platform")
    except ImportError as missing:
        raise Skipped(f"scripts/local_platform.py cannot be imported: {missing}") from missing


def other_long_queue_consumers() -> list[int]:
    """Workers `make up` started (they consume the same long-task queue as the bench's own)."""
    pids = []
    for pid_file in sorted((LOCAL / "pids").glob("worker-*.pid")):
        pid = int(pid_file.read_text().strip())
        if psutil.pid_exists(pid):
            pids.append(pid)
    return pids


class LongTaskWorkers(AbstractContextManager["LongTaskWorkers"]):
    """`count` `python -m workers` processes with the platform's worker environment, stopped by their ids."""

    def __init__(self, endpoints: dict[str, Any], count: int, counts_dir: Path, log_dir: Path) -> None:
        self.endpoints = endpoints
        self.count = count
        self.counts_dir = counts_dir
        self.log_dir = log_dir
        self.processes: list[Any] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def __enter__(self) -> LongTaskWorkers:
        if importlib.util.find_spec("workers.__main__") is None:
            raise Skipped("no worker: workers/__main__.py is missing")
        env = _local_platform().worker_env(self.endpoints, {COUNTS_DIR_ENV: str(self.counts_dir)})
        logs = [self.log_dir / f"worker-{i}.log" for i in range(self.count)]
        for log in logs:
            log.unlink(missing_ok=True)
        self.processes = [start_process([str(ROOT / ".venv" / "bin" / "python"), "-m", "workers"], env, log)
                          for log in logs]

        def ready() -> bool:
            return all(log.exists() and "worker started" in log.read_text() for log in logs) or any(
                p.poll() is not None for p in self.processes)

        wait_until(ready, timeout=60)
        dead = [log for p, log in zip(self.processes, logs, strict=True) if p.poll() is not None]
        if dead or not ready():
            stop_processes(self.processes, grace_seconds=5)
            tail = dead[0].read_text()[-400:] if dead else "did not report `worker started` in 60 s"
            raise Skipped(f"no worker: `python -m workers` did not start: {tail}")
        return self

    def __exit__(self, *_: object) -> None:
        # One SIGTERM drains (a long poll may take up to 20 s to return); counts are written at exit.
        stop_processes(self.processes, grace_seconds=30)


# --- the scenario ---------------------------------------------------------------------------------------


def run(endpoints: dict[str, Any], sizes: list[int], runtimes: list[str], repeats: dict[int, int],
        timeout: dict[int, float], warmup_tasks: dict[str, int], workdir: Path, workers: int = 2) -> Outcome:
    platform = Platform(endpoints)
    runs: list[dict[str, Any]] = []
    warmups: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    notes: dict[str, Any] = {}
    for runtime in runtimes:
        context: AbstractContextManager[Any] = nullcontext()
        if runtime == "eks":
            context = LongTaskWorkers(endpoints, workers, workdir / "worker-counts", workdir / "logs")
            notes["eks_other_consumers"] = other_long_queue_consumers()
        try:
            with context as fleet:
                pids = fleet.pids if fleet else None
                _log(f"throughput {runtime}: warm-up job of {warmup_tasks[runtime]:,} tasks")
                warmups.append(run_job(platform, warmup_tasks[runtime], runtime, timeout=600, worker_pids=pids))
                probe = run_job(platform, TRANSITION_PROBE_TASKS, runtime, timeout=120, worker_pids=pids)
                runs.append({**probe, "probe": True})
                for size in sizes:
                    for attempt in range(repeats.get(size, 1)):
                        _log(f"throughput {runtime}: {size:,} tasks (run {attempt + 1})")
                        try:
                            run_ = run_job(platform, size, runtime, timeout[size], worker_pids=pids)
                        except (ApiError, httpx.HTTPError) as failure:  # e.g. a body the API refuses
                            run_ = {"runtime": runtime, "tasks": size, "status": f"ERROR {failure}"[:300],
                                    "seconds": 0.0, "tasks_per_second": 0.0}
                        _log(f"  {run_['status']} in {run_['seconds']:.1f}s: {run_['tasks_per_second']:.0f} tasks/s")
                        runs.append(run_)
        except Skipped as reason:
            skipped[runtime] = str(reason)
            _log(f"throughput {runtime}: skipped: {reason}")
    platform.api.close()
    return Outcome("throughput", {"runs": runs, "warmups": warmups, "skipped": skipped, "notes": notes,
                                  "by_size": by_size(runs)})


def by_size(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median tasks/s (with spread) per runtime and size, from the runs that finished."""
    out: dict[str, dict[str, Any]] = {}
    for run_ in runs:
        if run_.get("probe") or run_["status"] != "SUCCEEDED":
            continue
        out.setdefault(run_["runtime"], {}).setdefault(str(run_["tasks"]), []).append(run_["tasks_per_second"])
    return {rt: {size: spread(rates) for size, rates in sizes.items()} for rt, sizes in out.items()}


def rate(outcome: Outcome, runtime: str, size: int) -> float | None:
    entry = outcome.data.get("by_size", {}).get(runtime, {}).get(str(size))
    return float(entry["median"]) if entry else None


def targets(outcome: Outcome, size: int, celery_rate: float | None, ceiling_rate: float | None) -> list[Target]:
    """Throughput targets on the `size`-task job (10,000 in a full run) and transitions per job."""
    found: list[Target] = []
    runs = outcome.data.get("runs", [])
    others = outcome.data.get("notes", {}).get("eks_other_consumers") or []
    shared = f"{len(others)} more worker(s) from `make up` shared the long-task queue" if others else ""
    for runtime in sorted({r["runtime"] for r in runs} | set(outcome.data.get("skipped", {}))):
        if runtime in outcome.data.get("skipped", {}):
            reason = outcome.data["skipped"][runtime]
            found.append(Target(f"e2e throughput ({runtime})", f"skipped: {reason}", ">= 1,000 tasks/s", None))
            continue
        ours = rate(outcome, runtime, size)
        timed_out = [r for r in runs if r["runtime"] == runtime and r["tasks"] == size and r["status"] != "SUCCEEDED"]
        if ours is None:
            figure = f"did not finish ({timed_out[0]['status']})" if timed_out else "not measured"
            found.append(Target(f"e2e throughput, {size:,} tasks ({runtime})", figure, ">= 1,000 tasks/s",
                                False if timed_out else None))
            continue
        found.append(Target(f"e2e throughput, {size:,} tasks ({runtime})", f"{ours:,.0f} tasks/s",
                            ">= 1,000 tasks/s", ours >= 1000, shared if runtime == "eks" else ""))
        if celery_rate:
            found.append(Target(f"vs Celery on SQS, {size:,} tasks ({runtime})", f"{ours / celery_rate:.2f}x "
                                f"({celery_rate:,.0f} tasks/s)", ">= 5x", ours >= 5 * celery_rate))
        if ceiling_rate:
            found.append(Target(f"vs bare SQS ceiling, {size:,} ({runtime})", f"{ours / ceiling_rate:.0%} "
                                f"({ceiling_rate:,.0f} msg/s)", ">= 50%", ours >= 0.5 * ceiling_rate))
        transitions = {r["tasks"]: r["transitions"] for r in runs
                       if r["runtime"] == runtime and r["status"] == "SUCCEEDED" and "transitions" in r}
        if transitions:
            values = sorted(set(transitions.values()))
            sizes = sorted(transitions)
            found.append(Target(
                f"transitions per job, {sizes[0]:,}..{sizes[-1]:,} tasks ({runtime})",
                "/".join(str(transitions[s]) for s in sizes), "constant, <= 20",
                len(values) == 1 and values[0] <= 20,
            ))
    return found


def _log(message: str) -> None:
    print(message, flush=True)
