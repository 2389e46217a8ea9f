"""How jobctl shows the API's answers: rich tables for people, the API's JSON unchanged for scripts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

STATUS_STYLES = {
    "PENDING": "yellow",
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
    "TIMED_OUT": "magenta",
}
TEXT_LIMIT = 80


def console() -> Console:
    return Console(highlight=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def status_markup(status: str) -> str:
    style = STATUS_STYLES.get(status, "white")
    return f"[{style}]{escape(status)}[/]"


COUNT_STYLES = {"succeeded": "green", "failed": "red", "running": "cyan", "pending": "yellow", "cancelled": "magenta"}


def counts_summary(counts: dict[str, Any], colour: bool = False) -> str:
    keys = [key for key in COUNT_STYLES if key != "cancelled" or counts.get(key)]
    parts = [f"{counts.get(key, 0)} {key}" for key in keys]
    if colour:
        parts = [f"[{COUNT_STYLES[key]}]{part}[/]" for key, part in zip(keys, parts, strict=True)]
    return ", ".join(parts)


def format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def job_duration(job: dict[str, Any]) -> str | None:
    try:
        started = datetime.fromisoformat(str(job["created_at"]))
        ended = datetime.fromisoformat(str(job["updated_at"]))
    except (KeyError, ValueError):
        return None
    return format_duration((ended - started).total_seconds())


def short(value: Any, limit: int = TEXT_LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def jobs_table(items: list[dict[str, Any]]) -> Table:
    table = Table("JOB ID", "NAME", "STATUS", "DONE", "FAILED", "CREATED", box=None, header_style="bold")
    for job in items:
        counts = job.get("counts") or {}
        done = counts.get("succeeded", 0) + counts.get("failed", 0) + counts.get("cancelled", 0)
        table.add_row(
            job["job_id"], escape(short(job.get("name", ""), 40)), status_markup(job["status"]),
            f"{done}/{counts.get('total', 0)}", str(counts.get("failed", 0)), job.get("created_at", ""),
        )
    return table


def api_keys_table(keys: list[dict[str, Any]]) -> Table:
    table = Table("KEY ID", "NAME", "CREATED", "STATUS", box=None, header_style="bold")
    for key in keys:
        status = f"[red]revoked[/] {key.get('revoked_at') or ''}".strip() if key.get("revoked") else "[green]active[/]"
        if key.get("admin"):
            status += " (admin)"
        table.add_row(key["key_id"], escape(short(key.get("name", ""), 40)), key.get("created_at", ""), status)
    return table


def key_values(rows: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def job_details(job: dict[str, Any]) -> Table:
    counts = job.get("counts") or {}
    rows = [
        ("job", job["job_id"]),
        ("name", escape(str(job.get("name", "")))),
        ("status", status_markup(job["status"])),
        ("tasks", f"{counts.get('total', 0)} total: {counts_summary(counts)}"),
        ("created", str(job.get("created_at", ""))),
        ("updated", str(job.get("updated_at", ""))),
    ]
    if job.get("stopping"):
        rows[2] = ("status", f"{status_markup(job['status'])} (stopping: {escape(str(job['stopping']))})")
    if job.get("run"):
        rows.append(("run", f"{job['run']} (each retry or redrive adds one)"))
    if job.get("metadata"):
        rows.append(("metadata", escape(short(job["metadata"], 200))))
    return key_values(rows)


def task_outcome(task: dict[str, Any]) -> str:
    if task.get("error"):
        return f"[red]{escape(short(task['error']))}[/]"
    if task.get("status") == "RUNNING" and task.get("progress") is not None:
        message = f" {task['progress_message']}" if task.get("progress_message") else ""
        return escape(short(f"{task['progress']:.0%}{message}"))
    if task.get("result") is not None:
        return escape(short(task["result"]))
    return ""


def tasks_table(items: list[dict[str, Any]]) -> Table:
    table = Table("#", "TASK ID", "TYPE", "RUNTIME", "STATUS", "ATTEMPTS", "RESULT / ERROR", box=None,
                  header_style="bold")
    for task in items:
        table.add_row(
            str(task.get("index", "")), task["task_id"], escape(str(task.get("type", ""))),
            str(task.get("runtime", "")), status_markup(task["status"]), str(task.get("attempts", 0)),
            task_outcome(task),
        )
    return table


def task_details(task: dict[str, Any]) -> list[Table]:
    rows = [
        ("task", task["task_id"]),
        ("index", str(task.get("index", ""))),
        ("type", escape(f"{task.get('type', '')} on {task.get('runtime', '')}")),
        ("status", status_markup(task["status"])),
        ("attempts", str(task.get("attempts", 0))),
        ("payload", escape(short(task.get("payload", {}), 500))),
    ]
    if task.get("result") is not None:
        rows.append(("result", escape(short(task["result"], 500))))
    if task.get("error"):
        rows.append(("error", f"[red]{escape(task['error'])}[/]"))
    rows += [("created", str(task.get("created_at", ""))), ("updated", str(task.get("updated_at", "")))]
    history = Table("ATTEMPT", "STATUS", "FINISHED", "ERROR", box=None, header_style="bold", title="history")
    for attempt in task.get("history") or []:
        history.add_row(
            str(attempt.get("attempt", "")), status_markup(str(attempt.get("status", ""))),
            str(attempt.get("finished_at", "")), escape(short(attempt.get("error") or "")),
        )
    return [key_values(rows), history] if task.get("history") else [key_values(rows)]


def dead_letters_table(groups: list[dict[str, Any]]) -> Table:
    table = Table("FINGERPRINT", "TYPE", "ERROR", "COUNT", "JOBS", "MESSAGE", box=None, header_style="bold")
    for group in groups:
        jobs = group.get("job_ids") or []
        shown = ", ".join(jobs[:2]) + (f" +{len(jobs) - 2}" if len(jobs) > 2 else "")
        table.add_row(
            group["fingerprint"], escape(str(group.get("task_type", ""))), escape(str(group.get("error_class", ""))),
            str(group.get("count", 0)), shown, escape(short(group.get("message", ""), 60)),
        )
    return table


def redrive_report(report: dict[str, Any]) -> list[Any]:
    runs = ", ".join(f"{job} (run {run})" for job, run in (report.get("runs") or {}).items())
    parts: list[Any] = [f"redriven: {report.get('redriven', 0)} tasks" + (f" of {runs}" if runs else "")]
    skipped = report.get("skipped") or []
    if skipped:
        table = Table("JOB ID", "TASK ID", "SKIPPED BECAUSE", box=None, header_style="bold")
        for skip in skipped:
            table.add_row(skip.get("job_id", ""), skip.get("task_id", ""), escape(short(skip.get("reason", ""))))
        parts.append(table)
    return parts
