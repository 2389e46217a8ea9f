"""The demo: a job of 1,000 mixed tasks on the local platform, followed live to its end."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.client import FINAL_JOB_STATUSES, TasklaneClient, local_endpoints

TOTAL = 1000


def demo_job() -> dict[str, object]:
    tasks: list[dict[str, object]] = []
    for i in range(TOTAL):
        kind = i % 10
        if kind < 5:
            tasks.append({"type": "echo", "payload": {"n": i}})
        elif kind < 8:
            tasks.append({"type": "hash", "payload": {"data": f"item-{i}", "rounds": 100}})
        elif kind == 8:
            tasks.append({"type": "sleep", "payload": {"seconds": 0.2}, "runtime": "eks"})
        else:
            tasks.append({"type": "fail", "payload": {"fail_times": 1}, "max_attempts": 3})
    return {"name": "demo: 1,000 mixed tasks", "tasks": tasks, "metadata": {"source": "make demo"}}


def main() -> int:
    console = Console(soft_wrap=True)
    endpoints = local_endpoints()
    tenant = next(iter(endpoints["tenants"]))
    client = TasklaneClient(endpoints["api_url"], endpoints["tenants"][tenant]["headers"])
    started = time.monotonic()
    job_id = client.submit(demo_job())["job_id"]
    console.print(
        f"tenant {tenant}: submitted job [bold]{job_id}[/]: 500 echo, 300 hash, 100 long sleep (EKS workers), "
        "100 that fail once and succeed on retry"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("PENDING", total=TOTAL)
        while True:
            job = client.job(job_id)
            counts = job["counts"]
            done = counts["succeeded"] + counts["failed"] + counts["cancelled"]
            progress.update(bar, completed=done, description=f"{job['status']:<9} failed {counts['failed']}")
            if job["status"] in FINAL_JOB_STATUSES:
                break
            time.sleep(0.5)
    elapsed = time.monotonic() - started
    colour = "green" if job["status"] == "SUCCEEDED" else "red"
    console.print(f"job {job_id}: [bold {colour}]{job['status']}[/] {job['counts']}")
    console.print(f"{TOTAL} tasks in {elapsed:.1f}s: {TOTAL / elapsed:.0f} tasks/s end to end")
    console.print(f"API:     {endpoints['api_url']}")
    console.print(f"job:     {endpoints['api_url']}jobs/{job_id}")
    console.print(f"API doc: {endpoints['api_url']}docs")
    for key in ("dashboard_url", "ws_url"):
        if key in endpoints:
            console.print(f"{key}: {endpoints[key]}")
    return 0 if job["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
