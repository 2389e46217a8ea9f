"""jobctl: submit, follow, inspect, cancel and retry Tasklane jobs from a terminal or a script."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.markup import escape
from typer.core import TyperGroup

from cli import render
from cli.client import ApiError, TasklaneClient
from cli.specs import INLINE_LIMIT_BYTES, encode_spec, load_spec
from cli.targets import CliError, TargetOptions, resolve_target
from cli.watch import EXIT_ERROR, exit_code_for, poll_job, watch_live
from tasklane.models import JobStatus, TaskStatus

EXIT_CODES_HELP = (
    "Exit codes:\n\n"
    "0  success; for watch, submit --watch and retry --watch: the job SUCCEEDED; for run-local: the task did\n\n"
    "1  the job FAILED; for run-local: the task failed\n\n"
    "2  the job was CANCELLED or TIMED_OUT\n\n"
    "3  a usage error, or an API, network or endpoint error (one line on stderr)\n\n"
    "130  interrupted (Ctrl-C); a watched job goes on"
)


class JobctlGroup(TyperGroup):
    """Turns every error into one line on stderr and exit code 3, so 1 and 2 only ever mean a job's outcome."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as error:
            error.exit_code = EXIT_ERROR
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.TyperException as error:
            error.exit_code = EXIT_ERROR
            raise
        except ApiError as error:
            fail(f"{error.message} (HTTP {error.status} {error.code})")
        except CliError as error:
            fail(str(error))
        except httpx.HTTPError as error:
            where = error.request.url if isinstance(error, httpx.RequestError) else "the API"
            fail(f"cannot reach {where}: {error or type(error).__name__}")


def fail(message: str) -> NoReturn:
    typer.echo("error: " + " ".join(message.split()), err=True)
    raise typer.Exit(EXIT_ERROR)


class Output(StrEnum):
    table = "table"
    json = "json"


@dataclass
class Session:
    """What the global options chose; tests pass one with an httpx.MockTransport as `obj`."""

    transport: httpx.BaseTransport | None = None
    # How the client waits between its retries of a 429 or 5xx; tests record the waits instead.
    sleep: Callable[[float], None] = time.sleep
    output: Output = Output.table
    target: TargetOptions = field(default_factory=TargetOptions)
    _client: TasklaneClient | None = None

    def client(self) -> TasklaneClient:
        if self._client is None:
            target = resolve_target(self.target)
            self._client = TasklaneClient(target.api_url, target.headers, transport=self.transport, sleep=self.sleep)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def session(ctx: typer.Context, output: Output | None = None) -> Session:
    found: Session = ctx.find_root().obj
    if output is not None:
        found.output = output
    return found


OutputOpt = Annotated[
    Output | None, typer.Option("--output", "-o", case_sensitive=False, help="table for people, json for scripts")
]
JobArg = Annotated[str, typer.Argument(help="The job's id")]
IntervalOpt = Annotated[float, typer.Option(min=0, help="Seconds between polls")]
TimeoutOpt = Annotated[float | None, typer.Option(min=0, help="Give up watching (exit 3) after this many seconds")]

app = typer.Typer(
    cls=JobctlGroup,
    name="jobctl",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Dead-lettered tasks: list and redrive.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


@app.callback()
def main(
    ctx: typer.Context,
    output: Annotated[
        Output, typer.Option("--output", "-o", case_sensitive=False, help="table for people, json for scripts")
    ] = Output.table,
    endpoints: Annotated[
        Path | None, typer.Option(help="The local platform's endpoints file (default: .local/endpoints.json)")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(envvar="JOBCTL_TENANT", help="A tenant of the endpoints file (default: the first)")
    ] = None,
    stack: Annotated[str | None, typer.Option(help="A deployed stack prefix: the API is <STACK>-api's ApiUrl")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile for --stack")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region for --stack")] = None,
    api_url: Annotated[str | None, typer.Option(envvar="TASKLANE_API_URL", help="The API's base URL")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="TASKLANE_API_KEY", help="API key (sent as Authorization: ApiKey)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="TASKLANE_TOKEN", help="Cognito ID token (sent as Authorization: Bearer)")
    ] = None,
) -> None:
    """Operate Tasklane jobs: submit, watch, list, inspect, cancel and retry.

    By default jobctl talks to the local platform (`make up`) as the first tenant of .local/endpoints.json.
    """
    found = ctx.obj if isinstance(ctx.obj, Session) else Session()
    found.output = output
    found.target = TargetOptions(endpoints, tenant, stack, profile, region, api_url, api_key, token)
    ctx.obj = found
    ctx.call_on_close(found.close)


def follow(s: Session, job_id: str, interval: float, timeout: float | None) -> None:
    """Watch the job to its end, then exit with the code of its final status."""
    client = s.client()
    try:
        if s.output is Output.json:
            job = poll_job(client, job_id, lambda _: None, interval=interval, timeout=timeout)
            render.print_json(job)
        else:
            console = render.console()
            job = watch_live(client, job_id, console, interval=interval, timeout=timeout)
            took = render.job_duration(job)
            console.print(f"job [bold]{job_id}[/] {render.status_markup(job['status'])}"
                          f"{f' in {took}' if took else ''}: {render.counts_summary(job['counts'])}")
            if job["status"] == "FAILED":
                console.print(f"see them: jobctl tasks {job_id} --status failed; re-run them: jobctl retry {job_id}")
    except KeyboardInterrupt:
        typer.echo(f"stopped watching; the job goes on: jobctl watch {job_id}", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(exit_code_for(job["status"]))


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A job spec, JSON or YAML")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the job to its end")] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Resubmitting with the same key returns the same job instead of a new one")
    ] = None,
    interval: IntervalOpt = 1.0,
    timeout: TimeoutOpt = None,
    output: OutputOpt = None,
) -> None:
    """Submit the job in FILE; specs over 5 MB go through a presigned S3 upload."""
    s = session(ctx, output)
    spec = load_spec(file)
    body = encode_spec(spec)
    client = s.client()
    if len(body) > INLINE_LIMIT_BYTES:
        created = client.submit_large(body, idempotency_key)
    else:
        created = client.submit(spec, idempotency_key)
    if s.output is Output.table:
        status = render.status_markup(created["status"])
        render.console().print(f"submitted job [bold]{created['job_id']}[/] ({status})")
    if watch:
        follow(s, created["job_id"], interval, timeout)
    if s.output is Output.json:
        render.print_json(created)
    else:
        render.console().print(f"follow it: jobctl watch {created['job_id']}")


@app.command()
def watch(ctx: typer.Context, job: JobArg, interval: IntervalOpt = 1.0, timeout: TimeoutOpt = None,
          output: OutputOpt = None) -> None:
    """Follow a job live to its end; the exit code tells how it ended."""
    follow(session(ctx, output), job, interval, timeout)


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(case_sensitive=False, help="Only jobs in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Jobs per page")] = 20,
    next_token: Annotated[str | None, typer.Option(help="The next page, from a previous listing")] = None,
    output: OutputOpt = None,
) -> None:
    """The tenant's jobs, newest first."""
    s = session(ctx, output)
    page = s.client().jobs(status=status.value if status else None, limit=limit, next_token=next_token)
    if s.output is Output.json:
        return render.print_json(page)
    console = render.console()
    console.print(render.jobs_table(page["items"]) if page["items"] else "no jobs")
    if page.get("next_token"):
        console.print(f"more: jobctl list --next-token {page['next_token']}", soft_wrap=True)


@app.command()
def get(ctx: typer.Context, job: JobArg, output: OutputOpt = None) -> None:
    """A job's status and task counts."""
    s = session(ctx, output)
    found = s.client().job(job)
    if s.output is Output.json:
        return render.print_json(found)
    render.console().print(render.job_details(found))


@app.command()
def tasks(
    ctx: typer.Context,
    job: JobArg,
    status: Annotated[TaskStatus | None, typer.Option(case_sensitive=False, help="Only tasks in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Tasks per page")] = 100,
    next_token: Annotated[str | None, typer.Option(help="The next page, from a previous listing")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every matching task, following all pages")] = False,
    output: OutputOpt = None,
) -> None:
    """A job's tasks in order, with their status, attempts and result or error."""
    s = session(ctx, output)
    wanted = status.value if status else None
    if all_pages:
        page: dict[str, Any] = {"items": s.client().tasks(job, status=wanted, limit=limit), "next_token": None}
    else:
        page = s.client().tasks_page(job, status=wanted, limit=limit, next_token=next_token)
    if s.output is Output.json:
        return render.print_json(page)
    console = render.console()
    console.print(render.tasks_table(page["items"]) if page["items"] else "no tasks")
    if page.get("next_token"):
        console.print(f"more: jobctl tasks {job} --next-token {page['next_token']}", soft_wrap=True)


@app.command()
def task(ctx: typer.Context, job: JobArg, task_id: Annotated[str, typer.Argument(help="The task's id")],
         output: OutputOpt = None) -> None:
    """One task in full: payload, result or error, and every attempt."""
    s = session(ctx, output)
    found = s.client().task(job, task_id)
    if s.output is Output.json:
        return render.print_json(found)
    console = render.console()
    for part in render.task_details(found):
        console.print(part)


@app.command()
def cancel(ctx: typer.Context, job: JobArg, output: OutputOpt = None) -> None:
    """Cancel a job: its pending tasks will not run."""
    s = session(ctx, output)
    show_job(s, s.client().cancel(job), "cancel requested")


@app.command()
def retry(ctx: typer.Context, job: JobArg,
          watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the job to its end")] = False,
          interval: IntervalOpt = 1.0, timeout: TimeoutOpt = None, output: OutputOpt = None) -> None:
    """Re-run a job's FAILED tasks."""
    s = session(ctx, output)
    found = s.client().retry(job)
    if not (watch and s.output is Output.json):
        show_job(s, found, "retrying its failed tasks")
    if watch:
        follow(s, job, interval, timeout)


def show_job(s: Session, job: dict[str, Any], what: str) -> None:
    if s.output is Output.json:
        return render.print_json(job)
    stopping = f" (stopping: {job['stopping']})" if job.get("stopping") else ""
    render.console().print(f"job [bold]{job['job_id']}[/] {render.status_markup(job['status'])}{stopping}: {what}")
    return None


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option(min=1, max=10_000, help="Read at most this many dead tasks")] = None,
    output: OutputOpt = None,
) -> None:
    """Dead-lettered tasks, grouped by error fingerprint."""
    s = session(ctx, output)
    found = s.client().dead_letters(limit=limit)
    if s.output is Output.json:
        return render.print_json(found)
    groups = found.get("groups") or []
    console = render.console()
    if not groups:
        return console.print("no dead-lettered tasks")
    console.print(render.dead_letters_table(groups))
    more = " (truncated: raise --limit)" if found.get("truncated") else ""
    console.print(f"{found.get('total', 0)} dead tasks in {len(groups)} groups{more}; "
                  "run them again: jobctl dlq redrive --fingerprint FINGERPRINT", soft_wrap=True)
    return None


@dlq_app.command("redrive")
def dlq_redrive(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Option("--job", help="Only this job's dead tasks")] = None,
    fingerprint: Annotated[str | None, typer.Option(help="Only dead tasks with this error fingerprint")] = None,
    task_ids: Annotated[list[str] | None, typer.Option("--task", help="Only this task of --job (repeatable)")] = None,
    output: OutputOpt = None,
) -> None:
    """Run dead-lettered tasks again: those matching every one of --job, --fingerprint and --task given."""
    if not (job or fingerprint or task_ids):
        raise typer.BadParameter("name what to redrive: --job, --fingerprint and/or --task")
    if task_ids and not job:
        raise typer.BadParameter("--task names tasks of a job: pass --job too")
    selection: dict[str, Any] = {"job_id": job, "fingerprint": fingerprint, "task_ids": task_ids}
    s = session(ctx, output)
    report = s.client().redrive({key: value for key, value in selection.items() if value})
    if s.output is Output.json:
        return render.print_json(report)
    console = render.console()
    for part in render.redrive_report(report):
        console.print(part)
    return None


@app.command("run-local")
def run_local(
    ctx: typer.Context,
    task_type: Annotated[str, typer.Argument(help="The task type, built in or from --package")],
    payload: Annotated[str, typer.Option(help="The task's payload, as JSON")] = "{}",
    packages: Annotated[
        list[str] | None, typer.Option("--package", help="A task package folder to import (repeatable)")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(min=1, max=100, help="Default: the type's own")] = None,
    timeout: Annotated[int | None, typer.Option(min=1, help="Seconds an attempt may take")] = None,
    no_retry: Annotated[bool, typer.Option("--no-retry", help="Run the first attempt only")] = False,
    output: OutputOpt = None,
) -> None:
    """Run one task in this process, as a runtime would, without the platform: exit 0 when it succeeds, 1 when
    it fails. Retries run at once; the delay the platform would wait is shown instead."""
    from tasklane.task_packages import TaskPackageError, load_task_packages, task_registry
    from tasklane.testing import run_task

    try:
        body = json.loads(payload)
    except ValueError as error:
        raise typer.BadParameter(f"--payload is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise typer.BadParameter("--payload must be a JSON object")
    try:
        tasks = task_registry()
        load_task_packages(packages or [], tasks)
    except TaskPackageError as error:
        fail(str(error))
    run = run_task(task_type, body, max_attempts=max_attempts, timeout_seconds=timeout, retry=not no_retry,
                   tasks=tasks)
    if session(ctx, output).output is Output.json:
        render.print_json(dataclasses.asdict(run))
    else:
        console = render.console()
        for attempt in run.attempts:
            then = f"; the platform would retry after {attempt.retry_delay_seconds:.1f} s" \
                if attempt.kind == "RETRY" else ""
            console.print(f"attempt {attempt.attempt}: {render.status_markup(attempt.kind)}"
                          f"{': ' + escape(attempt.error) if attempt.error else ''}{then}", soft_wrap=True)
        for fraction, note in run.progress:
            console.print(f"progress {fraction:.0%}{': ' + escape(note) if note else ''}", soft_wrap=True)
        if run.succeeded:
            render.print_json(run.result)
    raise typer.Exit(0 if run.succeeded else 1)
