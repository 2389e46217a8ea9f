"""Peak memory (RSS) of every process while a job runs, and how time and memory scale with job size.

Processes: the emulator itself, each Lambda function's warm workers inside it (one process per concurrent
invocation, labelled by function), the bench's long-task workers, and the bench process.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any

import psutil

from bench.common import LOCAL, Target

MIB = 1024 * 1024
# Growth allowed for a process between the smallest and the largest job: the job's own data as Python objects
# (a parsed task: a dict or a model, ~2 KB), above a noise floor.
OWN_DATA_BYTES_PER_TASK = 2048
NOISE_FLOOR_BYTES = 32 * MIB
# CDK function ids in the emulator's process names: ministack-lambda-tasklane-dev-api-FunctionsHandler74E7CAE5-...
FUNCTION_ID = re.compile(r"ministack-lambda-[a-z0-9-]+?-Functions([A-Za-z]+?)(?:F|Fu|Fun|Func|Funct|Functi|Functio|"
                         r"Function)?[0-9A-F]{8}")


def emulator_pid() -> int | None:
    pid_file = LOCAL / "pids" / "ministack.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    return pid if psutil.pid_exists(pid) else None


def function_role(cmdline: Iterable[str]) -> str:
    """`lambda:<function>` for a Lambda function's process in the emulator (`lambda:Handler` is the API)."""
    joined = " ".join(cmdline)
    if "ministack-lambda-" not in joined:
        return "emulator:other"
    found = FUNCTION_ID.search(joined)
    return f"lambda:{found.group(1)}" if found else "lambda:other"


class RssSampler:
    """Samples every `interval` seconds in a thread; `peaks()` is each label's largest single-process RSS and
    the CPU seconds its processes used while sampled (where the machine's two cores went)."""

    def __init__(self, groups: dict[str, list[int]], emulator: int | None, interval: float = 0.25) -> None:
        self.groups = groups
        self.emulator = emulator
        self.interval = interval
        self._peaks: dict[str, int] = {}
        self._processes: dict[str, set[int]] = {}
        self._cpu: dict[int, tuple[str, float, float]] = {}  # pid: label, first and last CPU seconds seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def peaks(self) -> dict[str, dict[str, Any]]:
        cpu: dict[str, float] = {}
        for label, first, last in self._cpu.values():
            cpu[label] = cpu.get(label, 0.0) + last - first
        return {
            label: {"peak_rss_mib": peak / MIB, "processes": len(self._processes.get(label, ())),
                    "cpu_seconds": cpu.get(label, 0.0)}
            for label, peak in sorted(self._peaks.items())
        }

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for label, pid in self._targets():
            try:
                process = psutil.Process(pid)
                rss = process.memory_info().rss
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            used = times.user + times.system
            self._cpu[pid] = (label, self._cpu.get(pid, (label, used, used))[1], used)
            self._peaks[label] = max(self._peaks.get(label, 0), rss)
            self._processes.setdefault(label, set()).add(pid)

    def _targets(self) -> list[tuple[str, int]]:
        found = [("bench", os.getpid())]
        for label, pids in self.groups.items():
            for pid in pids:
                found.append((label, pid))
                found += [(label, child.pid) for child in _children(pid)]
        if self.emulator:
            found.append(("emulator", self.emulator))
            for child in _children(self.emulator):
                try:
                    found.append((function_role(child.cmdline()), child.pid))
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
        return found


def _children(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


# --- scaling ------------------------------------------------------------------------------------------


def scaling(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Target]]:
    """Time per task and peak memory by job size, per runtime, from the throughput scenario's job runs.

    Targets: time per task at the largest size within 1.25x of the next size down; no process other than the
    emulator (which stores the jobs) grows between the smallest and largest job by more than its own data.
    """
    data: dict[str, Any] = {}
    targets: list[Target] = []
    for runtime in sorted({r["runtime"] for r in runs}):
        planned = max(r["tasks"] for r in runs if r["runtime"] == runtime)
        finished = [r for r in runs if r["runtime"] == runtime and r["status"] == "SUCCEEDED"]
        if planned not in {r["tasks"] for r in finished}:
            targets.append(Target(f"time per task at {planned:,} tasks ({runtime})", "the job did not finish",
                                  "<= 1.25x the next size", False))
            continue
        by_size: dict[int, list[dict[str, Any]]] = {}
        for run in finished:
            by_size.setdefault(run["tasks"], []).append(run)
        sizes = sorted(by_size)
        per_task_ms = {
            size: sorted(r["seconds"] / size * 1000 for r in by_size[size])[len(by_size[size]) // 2] for size in sizes
        }
        peaks = {size: _largest_peaks(by_size[size]) for size in sizes}
        data[runtime] = {"ms_per_task": per_task_ms, "peak_rss_mib": peaks}
        if len(sizes) >= 2:
            big, small = sizes[-1], sizes[-2]
            ratio = per_task_ms[big] / per_task_ms[small]
            data[runtime]["time_per_task_ratio"] = {"sizes": [small, big], "ratio": ratio}
            targets.append(Target(
                f"time per task, {big:,} vs {small:,} tasks ({runtime})", f"{ratio:.2f}x", "<= 1.25x", ratio <= 1.25,
                f"{per_task_ms[small]:.3f} -> {per_task_ms[big]:.3f} ms/task",
            ))
            growth = _growth(peaks[sizes[0]], peaks[big], big - sizes[0])
            data[runtime]["memory_growth"] = growth
            grown = [label for label, g in growth.items() if not label.startswith("emulator") and not g["within"]]
            worst = max((g["growth_mib"] for label, g in growth.items() if not label.startswith("emulator")),
                        default=0.0)
            targets.append(Target(
                f"memory growth {sizes[0]:,} -> {big:,} tasks ({runtime})",
                f"largest {worst:.0f} MiB" + (f"; over: {', '.join(grown)}" if grown else ""),
                "no process beyond its own data", not grown,
                "emulator excluded: it holds the jobs' items and messages",
            ))
        else:
            targets.append(Target(f"time per task scaling ({runtime})", "one size only", "<= 1.25x", None))
    return data, targets


def _largest_peaks(runs: list[dict[str, Any]]) -> dict[str, float]:
    peaks: dict[str, float] = {}
    for run in runs:
        for label, entry in run.get("memory", {}).items():
            peaks[label] = max(peaks.get(label, 0.0), float(entry["peak_rss_mib"]))
    return peaks


def _growth(small: dict[str, float], big: dict[str, float], extra_tasks: int) -> dict[str, dict[str, Any]]:
    allowed_mib = max(NOISE_FLOOR_BYTES, OWN_DATA_BYTES_PER_TASK * extra_tasks) / MIB
    out = {}
    for label in sorted(set(small) & set(big)):
        growth = big[label] - small[label]
        out[label] = {"growth_mib": growth, "allowed_mib": allowed_mib, "within": growth <= allowed_mib}
    return out
