"""Following a job to its end: polling with tolerance for blips, a live progress bar, rate and ETA, exit codes."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from cli.client import FINAL_JOB_STATUSES, ApiError, TasklaneClient
from cli.render import counts_summary, format_duration, status_markup
from cli.targets import CliError
from tasklane_sdk import finished_tasks

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_STOPPED = 2  # CANCELLED or TIMED_OUT
EXIT_ERROR = 3  # bad usage, unreachable or refusing API, or a watch that gave up
EXIT_CODES = {"SUCCEEDED": EXIT_SUCCEEDED, "FAILED": EXIT_FAILED, "CANCELLED": EXIT_STOPPED, "TIMED_OUT": EXIT_STOPPED}

MAX_CONSECUTIVE_POLL_FAILURES = 5


def exit_code_for(status: str) -> int:
    return EXIT_CODES.get(status, EXIT_ERROR)


class RateMeter:
    """Tasks finished per second over a sliding window of samples, and the time left at that rate."""

    def __init__(self, window_seconds: float = 30.0) -> None:
        self.window = window_seconds
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> None:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()

    @property
    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    def eta(self, remaining: int) -> float | None:
        rate = self.rate
        if remaining <= 0:
            return 0.0
        return remaining / rate if rate else None


def poll_job(
    client: TasklaneClient,
    job_id: str,
    on_update: Callable[[dict[str, Any]], None],
    *,
    interval: float = 1.0,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the job is final and return it. Up to 5 network or 5xx failures in a row are retried."""
    deadline = None if timeout is None else clock() + timeout
    failures = 0
    while True:
        try:
            job = client.job(job_id)
            failures = 0
        except (httpx.TransportError, ApiError) as error:
            transient = isinstance(error, httpx.TransportError) or error.status >= 500 or error.status == 429
            failures += 1
            if not transient or failures >= MAX_CONSECUTIVE_POLL_FAILURES:
                raise
        else:
            on_update(job)
            if job["status"] in FINAL_JOB_STATUSES:
                return job
        if deadline is not None and clock() >= deadline:
            raise CliError(f"job {job_id} is not finished after {timeout:g}s; it goes on: jobctl watch {job_id}")
        sleep(interval)


@dataclass(frozen=True)
class Snapshot:
    """One poll of a job, as the watch shows it."""

    status: str
    done: int
    total: int
    counts: str
    rate: str
    eta: str

    def line(self) -> str:
        return f"{status_markup(self.status)} {self.done}/{self.total} done: {self.counts}; {self.rate}, ETA {self.eta}"


def snapshot(job: dict[str, Any], meter: RateMeter, now: float) -> Snapshot:
    counts = job["counts"]
    done, total = finished_tasks(counts), int(counts.get("total", 0))
    meter.add(now, done)
    rate, eta = meter.rate, meter.eta(total - done)
    return Snapshot(
        status=job["status"], done=done, total=total, counts=counts_summary(counts, colour=True),
        rate="- tasks/s" if rate is None else f"{rate:.1f} tasks/s", eta="-" if eta is None else format_duration(eta),
    )


class _Latest:
    """A renderable that shows whatever markup it was last given."""

    markup = ""

    def __rich__(self) -> Text:
        return Text.from_markup(self.markup)


def watch_live(
    client: TasklaneClient,
    job_id: str,
    console: Console,
    *,
    interval: float = 1.0,
    timeout: float | None = None,
) -> dict[str, Any]:
    """poll_job, showing the job as it goes: on a terminal a live progress bar (finished/total, tasks/s, ETA,
    elapsed) over the task counts; elsewhere (CI logs, pipes) one line each time something changed."""
    meter = RateMeter()
    if not console.is_terminal:
        last: list[tuple[str, int, str]] = []

        def log(job: dict[str, Any]) -> None:
            shown = snapshot(job, meter, time.monotonic())
            if not last or last[-1] != (shown.status, shown.done, shown.counts):
                last.append((shown.status, shown.done, shown.counts))
                console.print(shown.line(), soft_wrap=True)

        return poll_job(client, job_id, log, interval=interval, timeout=timeout)

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(bar_width=30), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn(),
        console=console,
    )
    bar = progress.add_task(job_id, total=None, rate="- tasks/s", eta="-")
    counts_line = _Latest()

    def show(job: dict[str, Any]) -> None:
        shown = snapshot(job, meter, time.monotonic())
        progress.update(bar, completed=shown.done, total=shown.total, description=status_markup(shown.status),
                        rate=shown.rate, eta=shown.eta)
        counts_line.markup = shown.counts

    with Live(Group(progress, counts_line), console=console, refresh_per_second=4):
        return poll_job(client, job_id, show, interval=interval, timeout=timeout)
