"""What every scenario shares: the deployed platform's endpoints, AWS clients, processes, targets, results."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.stats import rounded
from tasklane.aws.request_counting import RequestCounter

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LOCAL = ROOT / ".local"
ENDPOINTS_FILE = LOCAL / "endpoints.json"
# Every request the harness itself sends carries this, so the emulator's audit log can leave it out.
BENCH_AGENT = "tasklane-bench"
AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class Skipped(Exception):
    """A scenario that cannot run here; its reason is reported instead of a figure."""


def load_endpoints(path: Path = ENDPOINTS_FILE) -> dict[str, Any]:
    if not path.exists():
        raise Skipped(f"{path.relative_to(ROOT)} is missing: start the platform with `make up`")
    return dict(json.loads(path.read_text()))


def api_headers(endpoints: dict[str, Any]) -> dict[str, str]:
    """The first tenant's credentials when the API has an authorizer (endpoints.json lists them)."""
    tenants = endpoints.get("tenants") or {}
    for tenant in tenants.values():
        return dict(tenant.get("headers", {}))
    return {}


def gateway(endpoints: dict[str, Any]) -> str:
    return str(endpoints.get("aws_endpoint_url", "http://localhost:4566")).rstrip("/")


def aws_client(service: str, endpoint_url: str, counter: RequestCounter | None = None) -> Any:
    config = Config(user_agent_extra=BENCH_AGENT, retries={"mode": "standard", "max_attempts": 8},
                    max_pool_connections=32)
    made = boto3.session.Session().client(
        service, endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=config,
    )
    return counter.watch(made) if counter else made


# --- processes ------------------------------------------------------------------------------------------


def start_process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child in a session of its own, so it and whatever it forks stop together, by its id."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop_processes(processes: list[subprocess.Popen[bytes]], grace_seconds: float = 30.0,
                   signals: int = 1) -> list[int | None]:
    """SIGTERM each process group (`signals` times, a second apart), then SIGKILL what outlives the grace."""
    for round_ in range(signals):
        for process in processes:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        if round_ + 1 < signals:
            time.sleep(1.0)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(0.1)
    for process in processes:
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(10)
    return [p.returncode for p in processes]


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    venv_bin = str(ROOT / ".venv" / "bin")
    return {**os.environ, **AWS_CREDENTIALS, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT), **(extra or {})}


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# --- targets and results --------------------------------------------------------------------------------


@dataclass
class Target:
    """One promise of the product, its measured figure, and whether the figure keeps it (None: not measured)."""

    name: str
    figure: str
    target: str
    passed: bool | None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.passed]


@dataclass
class Outcome:
    """What one scenario returns: its data (written to bench/results/<name>.json) and the targets it judges."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    skipped: str | None = None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rounded(data), indent=2, sort_keys=True) + "\n")


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        memory_gib = int(first[1]) / 1024 / 1024
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ministack": _version("ministack"),
        "celery": _version("celery"),
        "boto3": _version("boto3"),
        "git_commit": _git_commit(),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
