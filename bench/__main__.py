"""`python -m bench`: every scenario in one run, each target printed beside its figure; exits 1 on a miss.

Needs the platform deployed into the embedded AWS (`make up`; endpoints in .local/endpoints.json). Results go
to bench/results/<scenario>.json and summary.json (--quick: bench/results/quick/), and the summary table of a
full run into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bench import celery_baseline, coldstart, cost, latency, memory, requests, scale, sqs_ceiling, throughput
from bench.common import (
    LOCAL,
    RESULTS_DIR,
    ROOT,
    Outcome,
    Skipped,
    Target,
    gateway,
    load_endpoints,
    machine,
    write_json,
)

SCENARIOS = ("firstjob", "coldstart", "latency", "sqs_ceiling", "celery", "throughput", "requests", "cost", "memory",
             "limits", "million")
DOCS = ROOT / "docs" / "BENCHMARKS.md"
DOCS_START, DOCS_END = "<!-- bench:summary:start -->", "<!-- bench:summary:end -->"

cli = typer.Typer(add_completion=False, help=__doc__)


@dataclass
class Plan:
    sizes: list[int]
    reference: int  # the job size of the throughput targets, Celery's run and the SQS ceiling
    repeats: dict[int, int]
    warmup_tasks: dict[str, int]
    request_sizes: dict[str, list[int]]  # by runtime
    depths: tuple[int, ...]  # queue depths at which the bare SQS loop's receive rate is measured
    celery_request_tasks: int
    http_requests: int
    handler_iterations: int
    coldstart_repeats: int
    first_job_tasks: int  # the first job after start, and the same job warm
    limits_tasks: int  # the job run with and without AWS's per-key limits
    million_sizes: tuple[int, int]  # the reference and the big job through the upload path
    runtimes: list[str] = field(default_factory=lambda: ["lambda", "eks"])

    def timeout(self, size: int) -> float:
        """Seconds a job is given before the bench abandons it: time for 50 tasks/s, within 2 to 10 minutes."""
        return min(600.0, max(120.0, size / 50))


def plan(quick: bool, sizes: str | None, runtimes: str) -> Plan:
    chosen = [int(s.replace("_", "")) for s in sizes.split(",")] if sizes else (
        [200, 1000] if quick else [1000, 10_000, 100_000])
    chosen = sorted(set(chosen))
    smaller = [s for s in chosen if s <= 10_000]
    reference = max(smaller) if smaller else chosen[0]
    return Plan(
        sizes=chosen,
        reference=reference,
        repeats={s: 1 if quick else (3 if s <= 1000 else 2 if s <= 10_000 else 1) for s in chosen},
        warmup_tasks={"lambda": 1000 if quick else 2000, "eks": 100 if quick else 500},
        # The emulator's audit ring holds 10,000 events: a 10,000-task job is ~1,200 on the Lambda runtime
        # and ~1,700 on the EKS runtime.
        request_sizes={runtime: [100, 1000] if quick else [100, 1000, 10_000] for runtime in ("lambda", "eks")},
        celery_request_tasks=500 if quick else 1000,
        depths=(1_000, 10_000) if quick else (1_000, 10_000, 100_000),
        http_requests=32 if quick else 320,
        handler_iterations=1000 if quick else 5000,
        coldstart_repeats=3 if quick else 7,
        first_job_tasks=1000 if quick else 10_000,
        limits_tasks=2000 if quick else 100_000,
        million_sizes=(2000, 20_000) if quick else (100_000, 1_000_000),
        runtimes=[r.strip() for r in runtimes.split(",") if r.strip()],
    )


@cli.command()
def main(
    quick: Annotated[bool, typer.Option(help="small sizes for a smoke run (200/1,000 tasks; up to 20,000)")] = False,
    sizes: Annotated[str | None, typer.Option(help="throughput job sizes, comma-separated")] = None,
    runtimes: Annotated[str, typer.Option(help="runtimes of the end-to-end scenarios")] = "lambda,eks",
    only: Annotated[str, typer.Option(help="scenarios to run, comma-separated")] = ",".join(SCENARIOS),
    results: Annotated[Path | None, typer.Option(help="JSON directory (default: bench/results, quick/)")] = None,
    docs: Annotated[bool | None, typer.Option(help="write the table into docs/BENCHMARKS.md (default: full)")] = None,
) -> None:
    """Run the benchmarks, print each target beside its figure, exit 1 when one is missed."""
    chosen = plan(quick, sizes, runtimes)
    wanted = {s.strip() for s in only.split(",") if s.strip()}
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise typer.BadParameter(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    results_dir = results or (RESULTS_DIR / "quick" if quick else RESULTS_DIR)
    workdir = LOCAL / "bench" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    started = time.monotonic()
    outcomes = run_all(chosen, wanted, workdir)
    targets = [t for o in outcomes.values() for t in o.targets]
    summary = {
        "mode": "quick" if quick else "full",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_seconds": time.monotonic() - started,
        "machine": machine(),
        "plan": asdict(chosen),
        "prices_as_of": cost.PRICES_AS_OF,
        "targets": [asdict(t) | {"verdict": t.verdict} for t in targets],
        "skipped": {name: o.skipped for name, o in outcomes.items() if o.skipped},
        "logs": str(workdir.relative_to(ROOT)),
        "load_average_at_start": LOAD,
    }
    for outcome in outcomes.values():
        if not outcome.skipped:
            write_json(results_dir / f"{outcome.name}.json", outcome.data)
    write_json(results_dir / "summary.json", summary)
    table = render(targets, summary)
    typer.echo("\n" + table)
    if docs if docs is not None else not quick:
        write_docs(table)
    raise typer.Exit(1 if any(t.passed is False for t in targets) else 0)


LOAD: dict[str, list[float]] = {}  # the machine's 1-minute load average as each scenario started


def run_all(chosen: Plan, wanted: set[str], workdir: Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    endpoints: dict[str, Any] | None = None
    try:
        endpoints = load_endpoints()
    except Skipped as reason:
        typer.echo(f"note: {reason}; the scenarios that need the platform are skipped")

    def attempt(name: str, scenario: Any) -> Outcome | None:
        if name not in wanted:
            return None
        LOAD[name] = list(os.getloadavg())
        typer.echo(f"== {name} (load average {LOAD[name][0]:.1f})")
        try:
            outcome: Outcome = scenario()
        except Skipped as reason:
            outcome = Outcome(name, skipped=str(reason))
        except Exception as failure:  # noqa: BLE001 - one broken scenario must not hide the others' figures
            typer.echo(f"   failed: {failure!r}")
            message = f"failed: {failure!r}"[:300]
            outcome = Outcome(name, skipped=message)
            outcome.targets.append(Target(name, message, "runs", False))
            outcomes[name] = outcome
            return outcome
        if outcome.skipped:
            typer.echo(f"   skipped: {outcome.skipped}")
            outcome.targets.append(Target(name, f"skipped: {outcome.skipped}", "-", None))
        outcomes[name] = outcome
        return outcome

    def platform() -> dict[str, Any]:
        if endpoints is None:
            raise Skipped("no deployed platform (.local/endpoints.json)")
        return endpoints

    # First: it restarts the platform, and measures the first job of a fresh one.
    limits_mode = scale.current_limits(endpoints)
    if attempt("firstjob", lambda: scale.first_job(chosen.first_job_tasks, limits_mode,
                                                   chosen.timeout(chosen.first_job_tasks), workdir)):
        try:
            endpoints = load_endpoints()  # a new deployment
        except Skipped:
            endpoints = None
    attempt("coldstart", lambda: coldstart.run(chosen.coldstart_repeats))
    in_process = attempt("latency", lambda: latency.run(None, 0, chosen.handler_iterations))
    # Through the gateway on a fresh platform, before the big jobs fill the emulator.
    if in_process and not in_process.skipped and endpoints is not None:
        typer.echo("== latency (through the API Gateway)")
        try:
            in_process.data["gateway"] = latency.gateway_latency(endpoints, chosen.http_requests)
            in_process.targets += latency.reported(in_process.data["gateway"])
        except Exception as failure:  # noqa: BLE001 - reported, as a scenario's failure is
            in_process.data["gateway"] = {"failed": repr(failure)[:300]}
            in_process.targets.append(Target("latency through the API Gateway", f"failed: {failure!r}"[:200],
                                             "runs", False))
    ceiling = attempt("sqs_ceiling", lambda: sqs_ceiling.run(gateway(platform()), chosen.reference, chosen.depths))
    celery = attempt("celery", lambda: celery_baseline.run(gateway(platform()), chosen.reference, workdir / "logs"))
    flow = attempt("throughput", lambda: throughput.run(
        platform(), chosen.sizes, chosen.runtimes, chosen.repeats, {s: chosen.timeout(s) for s in chosen.sizes},
        chosen.warmup_tasks, workdir))
    counted = attempt("requests", lambda: requests.run(
        platform(), chosen.request_sizes, chosen.runtimes, chosen.celery_request_tasks, workdir))
    if flow and not flow.skipped:
        celery_rate = celery.data.get("tasks_per_second") if celery and not celery.skipped else None
        ceiling_rate = ceiling.data.get("messages_per_second") if ceiling and not ceiling.skipped else None
        flow.targets += throughput.targets(flow, chosen.reference, celery_rate, ceiling_rate)
    priced = attempt("cost", lambda: cost_outcome(counted))
    attempt("memory", lambda: memory_outcome(flow))
    # Last: each restarts the platform and fills it with big jobs.
    attempt("limits", lambda: scale.under_limits(chosen.limits_tasks, chosen.runtimes, limits_mode,
                                                 chosen.timeout(chosen.limits_tasks), workdir,
                                                 scale.other_dollars(priced)))
    attempt("million", lambda: scale.million(chosen.million_sizes, limits_mode, workdir))
    return outcomes


def cost_outcome(counted: Outcome | None) -> Outcome:
    if counted is None or counted.skipped:
        raise Skipped("needs the requests scenario")
    table = cost.designs(counted.data["jobs"], counted.data.get("celery"))
    found = [Target(f"$ per million tasks, {name}", f"${line['total']:.2f} ({line['job_tasks']:,}-task jobs)",
                    "<= $2", line["total"] <= 2.0 if name.startswith("tasklane") else None)
             for name, line in table.items()]
    prices = {name: asdict(price) for name, price in cost.PRICES.items()}
    return Outcome("cost", {"prices_as_of": cost.PRICES_AS_OF, "prices": prices, "per_million_tasks": table}, found)


def memory_outcome(flow: Outcome | None) -> Outcome:
    if flow is None or flow.skipped:
        raise Skipped("needs the throughput scenario")
    data, found = memory.scaling([r for r in flow.data["runs"] if not r.get("probe")])
    return Outcome("memory", data, found)


def render(targets: list[Target], summary: dict[str, Any]) -> str:
    rows = [("target", "figure", "promised", "verdict")] + [(t.name, t.figure, t.target, t.verdict) for t in targets]
    widths = [min(64, max(len(r[i]) for r in rows)) for i in range(4)]
    lines = ["| " + " | ".join(cell[:64].ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [f"- {t.name}: {t.note}" for t in targets if t.note]
    head = (f"{summary['mode']} run, {summary['date']}, {summary['duration_seconds'] / 60:.1f} min, "
            f"{summary['machine']['cpus']} CPUs, ministack {summary['machine']['ministack']}, "
            f"commit {summary['machine']['git_commit']}")
    cpus = summary["machine"]["cpus"] or 1
    busy = sorted(name for name, load in summary["load_average_at_start"].items() if load[0] > cpus)
    warning = [f"WARNING: the machine was busy (1-min load > {cpus}) as these started: {', '.join(busy)}"] \
        if busy else []
    return "\n".join([head, *(["", *warning] if warning else []), "", *lines, *(["", *notes] if notes else [])])


def write_docs(table: str) -> None:
    if not DOCS.exists():
        return
    text = DOCS.read_text()
    if DOCS_START not in text or DOCS_END not in text:
        return
    before, rest = text.split(DOCS_START, 1)
    _, after = rest.split(DOCS_END, 1)
    DOCS.write_text(f"{before}{DOCS_START}\n{table}\n{DOCS_END}{after}")


if __name__ == "__main__":
    cli()
