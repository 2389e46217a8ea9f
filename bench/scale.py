"""Scale scenarios: the first job after start, jobs under AWS's per-key limits, and one million tasks.

- `firstjob`: the platform restarted (`local_platform down`, then `up`, which ends warm), then one job, then
  the same job again; the first must run at >= 0.8x the second.
- `limits`: the same job (100,000 tasks in a full run) on each runtime on a fresh platform without the limits
  model, then on a fresh platform with it (`up --limits aws`). Under the model: tasks/s, the ratio to the run
  without it, exact counts, and from the model's own counts (`/_limits/stats`) the write units per task and
  those of the busiest partition key per task, and DynamoDB's share of the dollars per million tasks.
- `million`: on a fresh platform, a 100,000-task and a 1,000,000-task job through the upload path (S3, then
  `POST /jobs` by manifest) to SUCCEEDED with exact counts: time, tasks/s, time per task of the big one
  against the smaller, and each function's peak memory against the memory the stacks give it.

Each restarts the platform (a fresh emulator holds nothing of the jobs before), and the platform is left in
the limits mode it was found in.
"""

from __future__ import annotations

import subprocess
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, Outcome, Skipped, Target, aws_client, gateway, load_endpoints
from bench.cost import PRICES
from bench.memory import function_role
from bench.throughput import LongTaskWorkers, Platform, run_job
from localaws.dynamodb_limits import units_per_task

RESTART_TIMEOUT_SECONDS = 1800


# --- the platform ----------------------------------------------------------------------------------------


def restart_platform(limits: str) -> dict[str, Any]:
    """A fresh platform (emulator, deploy, warm-up) in limits mode `limits`, with no workers of `make up`'s."""
    python = str(ROOT / ".venv" / "bin" / "python")
    for command in (["down"], ["up", "--workers", "0", "--limits", limits]):
        done = subprocess.run([python, "-m", "scripts.local_platform", *command], cwd=ROOT, capture_output=True,
                              text=True, timeout=RESTART_TIMEOUT_SECONDS)
        if done.returncode != 0:
            raise Skipped(f"local_platform {' '.join(command)} failed: {(done.stderr or done.stdout)[-300:]}")
    return load_endpoints()


def limits_stats(endpoints: dict[str, Any], reset: bool = False) -> dict[str, Any]:
    url = endpoints.get("limits_url")
    if not url:
        raise Skipped("the platform does not run the limits model (make up LIMITS=aws)")
    if reset:
        httpx.post(f"{url}/_limits/reset", timeout=10).raise_for_status()
        return {}
    response = httpx.get(f"{url}/_limits/stats", params={"top": 5}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def exact(run: dict[str, Any]) -> bool:
    """Every task counted once: all succeeded, nothing left pending, running, failed or cancelled."""
    counts = run.get("counts") or {}
    return run.get("status") == "SUCCEEDED" and counts.get("succeeded") == run["tasks"] == counts.get("total") and \
        not any(counts.get(k) for k in ("pending", "running", "failed", "cancelled"))


def _workers(endpoints: dict[str, Any], runtime: str, workdir: Path) -> AbstractContextManager[Any]:
    if runtime == "eks":
        return LongTaskWorkers(endpoints, 2, workdir / "worker-counts", workdir / "logs")
    return nullcontext()


def _job(endpoints: dict[str, Any], tasks: int, runtime: str, workdir: Path, timeout: float,
         upload: bool = False) -> dict[str, Any]:
    platform = Platform(endpoints)
    try:
        with _workers(endpoints, runtime, workdir) as fleet:
            _log(f"{runtime}: {tasks:,} tasks" + (" through the upload path" if upload else ""))
            run = run_job(platform, tasks, runtime, timeout, worker_pids=fleet.pids if fleet else None,
                          upload=upload)
            _log(f"  {run['status']} in {run['seconds']:.1f}s: {run['tasks_per_second']:.0f} tasks/s")
            return run
    finally:
        platform.api.close()


def _log(message: str) -> None:
    print(message, flush=True)


# --- first job after start ---------------------------------------------------------------------------------


def first_job(tasks: int, limits: str, timeout: float, workdir: Path) -> Outcome:
    endpoints = restart_platform(limits)
    first = _job(endpoints, tasks, "lambda", workdir, timeout)
    warm = _job(endpoints, tasks, "lambda", workdir, timeout)
    data = {"tasks": tasks, "first": first, "warm": warm}
    if not (exact(first) and exact(warm)):
        return Outcome("firstjob", data, [Target(f"first job after start, {tasks:,} tasks (lambda)",
                                                 f"{first['status']} / {warm['status']}", ">= 0.8x warm", False)])
    ratio = first["tasks_per_second"] / warm["tasks_per_second"]
    data["ratio"] = ratio
    return Outcome("firstjob", data, [Target(
        f"first job after start vs warm, {tasks:,} tasks (lambda)", f"{ratio:.2f}x "
        f"({first['tasks_per_second']:,.0f} vs {warm['tasks_per_second']:,.0f} tasks/s)", ">= 0.8x", ratio >= 0.8)])


# --- under AWS's limits -------------------------------------------------------------------------------------


def under_limits(tasks: int, runtimes: list[str], limits: str, timeout: float, workdir: Path,
                 other_dollars: dict[str, float] | None = None) -> Outcome:
    """`other_dollars`: by runtime, the non-DynamoDB dollars per million tasks of the cost scenario, if it ran."""
    runs: dict[str, dict[str, dict[str, Any]]] = {"off": {}, "aws": {}}
    try:
        for mode in ("off", "aws"):
            endpoints = restart_platform(mode)
            for runtime in runtimes:
                if mode == "aws":
                    limits_stats(endpoints, reset=True)
                run = _job(endpoints, tasks, runtime, workdir, timeout)
                if mode == "aws":
                    stats = limits_stats(endpoints)
                    run["limits"] = {**units_per_task(stats, tasks), **{k: stats[k] for k in (
                        "write_units", "read_units", "throttled", "cancelled", "rejected_writes", "model_errors",
                        "busiest_write_keys")}}
                runs[mode][runtime] = run
    finally:
        if limits != "aws":
            restart_platform(limits)
    found: list[Target] = []
    for runtime in runtimes:
        found += _limits_targets(runtime, tasks, runs["off"][runtime], runs["aws"][runtime],
                                 (other_dollars or {}).get(runtime))
    return Outcome("limits", {"tasks": tasks, "runs": runs}, found)


def _limits_targets(runtime: str, tasks: int, without: dict[str, Any], under: dict[str, Any],
                    other_dollars: float | None) -> list[Target]:
    size = f"{tasks:,} tasks ({runtime})"
    found = [Target(f"under AWS limits, {size}", f"{under['status']}: {under['tasks_per_second']:,.0f} tasks/s",
                    ">= 1,000 tasks/s", exact(under) and under["tasks_per_second"] >= 1000)]
    if exact(under) and exact(without):
        ratio = under["tasks_per_second"] / without["tasks_per_second"]
        found.append(Target(f"under AWS limits vs without, {size}", f"{ratio:.2f}x "
                            f"({without['tasks_per_second']:,.0f} tasks/s without)", ">= 0.8x", ratio >= 0.8))
    counts = under.get("counts") or {}
    found.append(Target(f"exact under AWS limits, {size}", f"{counts.get('succeeded')} of {tasks} succeeded, "
                        f"{counts.get('failed')} failed", "0 lost, 0 counted twice", exact(under)))
    model = under.get("limits")
    if model:
        throttled = sum(model["throttled"].values())
        cancelled = sum(model["cancelled"].values())
        note = f"throttled {throttled}, cancelled {cancelled}, single writes rejected {model['rejected_writes']}"
        if model["model_errors"]:
            note += f"; NOT MODELLED: {model['model_errors']}"
        found.append(Target(f"write units of the busiest key per task, {size}",
                            f"{model['busiest_key_write_units_per_task']:.3f}", "<= 0.1",
                            model["busiest_key_write_units_per_task"] <= 0.1, note))
        found.append(Target(f"write units per task, {size}", f"{model['write_units_per_task']:.2f}", "<= 3.5",
                            model["write_units_per_task"] <= 3.5))
        dynamodb = (model["write_units"] * PRICES["ddb_write_units"].per_unit
                    + model["read_units"] * PRICES["ddb_read_units"].per_unit) * 1e6 / tasks
        if other_dollars is None:
            found.append(Target(f"$ per million tasks under AWS limits, {size}", f"DynamoDB ${dynamodb:.2f}",
                                "<= $2", None, "the rest needs the cost scenario in the same run"))
        else:
            total = dynamodb + other_dollars
            found.append(Target(f"$ per million tasks under AWS limits, {size}", f"${total:.2f} (DynamoDB "
                                f"${dynamodb:.2f})", "<= $2", total <= 2.0))
    return found


# --- one million tasks -------------------------------------------------------------------------------------


def function_memory(endpoints: dict[str, Any]) -> dict[str, int]:
    """The memory the stacks give each deployed function, in MiB, by the label the RSS sampler uses."""
    client = aws_client("lambda", gateway(endpoints))
    sizes: dict[str, int] = {}
    for page in client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            sizes[function_role([f"ministack-lambda-{function['FunctionName']}"])] = int(function["MemorySize"])
    return sizes


def million(sizes: tuple[int, int], limits: str, workdir: Path) -> Outcome:
    reference, big = sizes
    endpoints = restart_platform(limits)
    runs = [_job(endpoints, size, "lambda", workdir, timeout=max(600.0, size / 200), upload=True)
            for size in (reference, big)]
    memory = function_memory(endpoints)
    small_run, big_run = runs
    found = [Target(f"{big:,} tasks through the upload path (lambda)",
                    f"{big_run['status']} in {big_run['seconds']:.0f}s, {big_run['tasks_per_second']:,.0f} tasks/s",
                    "SUCCEEDED, exact counts", exact(big_run), f"counts {big_run.get('counts')}")]
    if exact(small_run) and exact(big_run):
        per_task = {r["tasks"]: r["seconds"] / r["tasks"] * 1000 for r in runs}
        ratio = per_task[big] / per_task[reference]
        found.append(Target(f"time per task, {big:,} vs {reference:,} tasks, upload path (lambda)", f"{ratio:.2f}x",
                            "<= 1.25x", ratio <= 1.25,
                            f"{per_task[reference]:.3f} -> {per_task[big]:.3f} ms/task"))
    peaks = {label: entry["peak_rss_mib"] for label, entry in big_run.get("memory", {}).items()
             if label.startswith("lambda:")}
    over = {label: f"{peak:.0f}/{memory[label]}" for label, peak in peaks.items()
            if label in memory and peak >= memory[label]}
    listed = ", ".join(f"{label.removeprefix('lambda:')} {peak:.0f}/{memory.get(label, '?')}"
                       for label, peak in sorted(peaks.items()))
    found.append(Target(f"peak memory of each function, {big:,} tasks (MiB used/given)", listed[:200] or "none seen",
                        "each under what the stacks give it", not over if peaks else None,
                        f"over: {over}" if over else ""))
    return Outcome("million", {"runs": runs, "function_memory_mib": memory}, found)


def current_limits(endpoints: dict[str, Any] | None) -> str:
    return str((endpoints or {}).get("limits") or "off")



def other_dollars(cost: Outcome | None) -> dict[str, float]:
    """By runtime, the cost scenario's dollars per million tasks other than DynamoDB's."""
    if cost is None or cost.skipped:
        return {}
    out = {}
    for name, line in cost.data["per_million_tasks"].items():
        if name.startswith("tasklane ("):
            runtime = name.removeprefix("tasklane (").removesuffix(")")
            out[runtime] = line["total"] - line["ddb_write_units"] - line["ddb_read_units"]
    return out
