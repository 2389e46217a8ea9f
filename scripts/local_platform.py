"""Run the whole platform on this machine: the embedded AWS, the deployed stacks, and long-task workers.

`up` is idempotent: it starts what is not running, redeploys when the synthesized stacks changed, and
restarts workers that died. `down` stops exactly the processes `up` started, by their recorded ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import typer

from scripts import dashboard, live_pump
from scripts.local_tenants import issue_local_tenants
from stacks.assets import source_digest, task_package_folders, task_packages_dir

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
PIDS = LOCAL / "pids"
LOGS = LOCAL / "logs"
ENDPOINTS = LOCAL / "endpoints.json"
DEPLOYED = LOCAL / "deployed.json"
GATEWAY = "http://localhost:4566"
ENV_NAME = "dev"
STACKS = [f"tasklane-{ENV_NAME}-{role}" for role in ("data", "orchestration", "api", "live")]

AWS_ENV = {
    "AWS_ENDPOINT_URL": GATEWAY,
    "AWS_ENDPOINT_URL_S3": GATEWAY,
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "CDK_DEFAULT_ACCOUNT": "000000000000",
    "CDK_DEFAULT_REGION": "us-east-1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,22",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
}

cli = typer.Typer(add_completion=False, help=__doc__)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {**os.environ, **AWS_ENV, "PATH": f"{venv_bin}:{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}"}
    return {**env, **(extra or {})}


def _pid_file(name: str) -> Path:
    return PIDS / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); /proc tells whether it really runs.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _recorded(name: str) -> int | None:
    path = _pid_file(name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip())
    return pid if _alive(pid) else None


def _start(name: str, command: list[str], env: dict[str, str]) -> int:
    PIDS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it from here
    # A session of its own, so `down` can stop the process and whatever it spawned as one group.
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _pid_file(name).write_text(str(process.pid))
    return process.pid


# A stopping worker waits for its outstanding long poll (up to 20 s) to hand back what it brings. Killed
# sooner, the poll still takes messages on the emulator's side, hidden for the queue's visibility timeout.
WORKER_STOP_GRACE_SECONDS = 30.0


def _stop(name: str, grace_seconds: float = 15.0) -> None:
    pid = _recorded(name)
    _pid_file(name).unlink(missing_ok=True)
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _healthy(timeout: float = 5.0) -> bool:
    try:
        return httpx.get(f"{GATEWAY}/_ministack/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_embedded_aws() -> int:
    pid = _recorded("ministack")
    if pid is not None:
        # Ours and alive: a busy machine may make it slow to answer, never a reason to start another.
        deadline = time.monotonic() + 60
        while not _healthy() and time.monotonic() < deadline:
            time.sleep(1)
        if _healthy():
            return pid
        raise typer.Exit(_fail(f"the embedded AWS (pid {pid}) does not answer; `make down`, then `make up`"))
    if _healthy():
        raise typer.Exit(_fail("port 4566 answers, but not an embedded AWS this tool started; stop it first"))
    # Lambdas run with the `python3` first on PATH: the project's virtualenv, like the function's runtime.
    emulator_env = _env({"BIND_HOST": "127.0.0.1", "GATEWAY_PORT": "4566"})
    pid = _start("ministack", [str(ROOT / ".venv" / "bin" / "ministack")], emulator_env)
    deadline = time.monotonic() + 60
    while not _healthy():
        if time.monotonic() > deadline or not _alive(pid):
            raise typer.Exit(_fail(f"the embedded AWS did not start; see {LOGS / 'ministack.log'}"))
        time.sleep(0.3)
    DEPLOYED.unlink(missing_ok=True)  # a new emulator holds nothing yet
    return pid


def _assembly_hash() -> str:
    digest = hashlib.sha256()
    for stack in STACKS:
        digest.update((ROOT / "cdk.out" / f"{stack}.template.json").read_bytes())
    return digest.hexdigest()


def deploy(ministack_pid: int, task_package: str = "") -> dict[str, dict[str, str]]:
    env = _env()
    packages = ["-c", f"task_package={task_package}"] if task_package else []
    synth = subprocess.run(["npx", "cdk", "synth", "--quiet", "-c", f"env={ENV_NAME}", *packages], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if synth.returncode != 0:
        (LOGS / "synth.log").write_text(synth.stderr)
        # The app's own last line says what is wrong (a broken task package, say).
        last = (synth.stderr.strip().splitlines() or ["cdk synth failed"])[-1]
        raise typer.Exit(_fail(f"{last} (see {LOGS / 'synth.log'})"))
    wanted = {"ministack_pid": ministack_pid, "assembly": _assembly_hash()}
    recorded = json.loads(DEPLOYED.read_text()) if DEPLOYED.exists() else {}
    if {k: recorded.get(k) for k in wanted} == wanted:
        return dict(recorded["outputs"])
    # The same emulator keeps its data across redeploys, and so its tenants.
    same_emulator = recorded.get("ministack_pid") == ministack_pid and "tenants" in recorded
    kept = {"tenants": recorded["tenants"]} if same_emulator else {}
    outputs_file = LOCAL / "outputs.json"
    log = LOGS / "deploy.log"
    with open(log, "ab") as out:
        bootstrap = ["npx", "cdklocal", "bootstrap", "-c", f"env={ENV_NAME}"]
        subprocess.run(bootstrap, cwd=ROOT, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
        result = subprocess.run(
            ["npx", "cdklocal", "deploy", *STACKS, "-c", f"env={ENV_NAME}", "--app", "cdk.out",
             "--require-approval", "never", "--outputs-file", str(outputs_file)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise typer.Exit(_fail(f"deploy failed; see {log}"))
    outputs = json.loads(outputs_file.read_text())
    DEPLOYED.write_text(json.dumps({**wanted, "outputs": outputs, **kept}, indent=2))
    return dict(outputs)


def write_endpoints(outputs: dict[str, dict[str, str]], task_package: str = "") -> dict[str, Any]:
    data = outputs[f"tasklane-{ENV_NAME}-data"]
    orchestration = outputs[f"tasklane-{ENV_NAME}-orchestration"]
    api = outputs[f"tasklane-{ENV_NAME}-api"]
    live = outputs[f"tasklane-{ENV_NAME}-live"]
    ws_gateway = GATEWAY.replace("http", "ws", 1)
    endpoints = {
        "api_url": f"{GATEWAY}/_aws/execute-api/{api['RestApiId']}/v1/",
        "ws_url": f"{ws_gateway}/_aws/execute-api/{live['WebSocketApiId']}/{live['WebSocketStage']}",
        "dashboard_url": dashboard.dashboard_url(),
        "connections_table_name": live["ConnectionsTableName"],
        "live_publisher_function": live["PublisherFunctionName"],
        "aws_endpoint_url": GATEWAY,
        "table_name": data["TableName"],
        "manifest_bucket": data["ManifestBucket"],
        "state_machine_arn": orchestration["StateMachineArn"],
        "short_queue_url": orchestration["ShortQueueUrl"],
        "long_queue_url": orchestration["LongQueueUrl"],
        "short_dlq_url": orchestration["ShortDeadLetterQueueUrl"],
        "long_dlq_url": orchestration["LongDeadLetterQueueUrl"],
        "control_queue_url": orchestration["ControlQueueUrl"],
        "user_pool_id": data["UserPoolId"],
        # The task packages deployed beside the built-in task types, by folder.
        "task_packages": [folder.strip() for folder in task_package.split(",") if folder.strip()],
        "cognito": {
            "region": AWS_ENV["AWS_REGION"],
            "user_pool_id": data["UserPoolId"],
            "client_id": data["DashboardClientId"],
            "endpoint": GATEWAY + "/",
        },
    }
    endpoints["tenants"] = _tenants(endpoints)
    ENDPOINTS.write_text(json.dumps(endpoints, indent=2) + "\n")
    return endpoints


def _tenants(endpoints: dict[str, Any]) -> dict[str, Any]:
    """The tenants issued for this deployment, issued now if the deployment is new."""
    recorded = json.loads(DEPLOYED.read_text())
    if "tenants" not in recorded:
        recorded["tenants"] = issue_local_tenants(endpoints, AWS_ENV["AWS_REGION"])
        DEPLOYED.write_text(json.dumps(recorded, indent=2))
    return dict(recorded["tenants"])


def worker_env(endpoints: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
    return _env({
        "TABLE_NAME": str(endpoints["table_name"]),
        "LONG_QUEUE_URL": str(endpoints["long_queue_url"]),
        "SHORT_QUEUE_URL": str(endpoints["short_queue_url"]),
        "MANIFEST_BUCKET": str(endpoints["manifest_bucket"]),
        "WORKER_HEALTH_PORT": "0",
        **(extra or {}),
    })


def task_package_env(task_package: str) -> dict[str, str]:
    """The workers import the task packages from the folder the synth staged them in, with their requirements."""
    folders = tuple(folder.strip() for folder in task_package.split(",") if folder.strip())
    staged = task_packages_dir(folders)
    if staged is None:
        return {}
    return {"TASK_PACKAGES": ",".join(sorted(path.name for path in task_package_folders(folders))),
            "PYTHONPATH": str(staged)}


def ensure_workers(count: int, endpoints: dict[str, Any], task_package: str = "") -> list[int]:
    """Run `count` workers; running ones are replaced (after draining) when their code changed."""
    packages = task_package_env(task_package)
    code = source_digest(("tasklane", "workers")) + packages.get("PYTHONPATH", "")
    code_file = LOCAL / "workers.code"
    if code_file.exists() and code_file.read_text() != code:
        for running in sorted(PIDS.glob("worker-*.pid")):
            _stop(running.stem, WORKER_STOP_GRACE_SECONDS)
    code_file.write_text(code)
    pids = []
    for index in range(count):
        name = f"worker-{index}"
        pid = _recorded(name) or _start(name, [sys.executable, "-m", "workers"], worker_env(endpoints, packages))
        pids.append(pid)
    for extra in sorted(PIDS.glob("worker-*.pid")):
        if int(extra.stem.split("-")[1]) >= count:
            _stop(extra.stem, WORKER_STOP_GRACE_SECONDS)
    return pids


def ensure_dashboard(endpoints: dict[str, Any]) -> int | None:
    """Serve web/dist on 127.0.0.1 (scripts/dashboard.py) with a config.json made from the endpoints."""
    dashboard.write_config(endpoints)
    if not (dashboard.DIST / "index.html").exists():
        typer.echo("dashboard: web/dist is not built (make web); not served", err=True)
        return None
    pid = _recorded("dashboard")
    if pid is None:
        pid = _start("dashboard", [sys.executable, "-m", "scripts.dashboard"], _env())
        deadline = time.monotonic() + 15
        while not _serving(endpoints["dashboard_url"] + "config.json"):
            if time.monotonic() > deadline or not _alive(pid):
                raise typer.Exit(_fail(f"the dashboard did not start; see {LOGS / 'dashboard.log'}"))
            time.sleep(0.2)
    return pid


def ensure_live_pump(endpoints: dict[str, Any]) -> int:
    """The live publisher's stream mapping, played off the emulator's polling loop (see scripts/live_pump.py)."""
    function = str(endpoints["live_publisher_function"])
    played = PIDS / "live-pump.function"
    pid = _recorded("live-pump")
    if pid is not None and played.exists() and played.read_text() == function:
        # A redeploy may have enabled the emulator's own mapping again.
        live_pump.disable_mapping(boto3.client("lambda"), function)
        return pid
    _stop("live-pump")
    pid = _start("live-pump", [sys.executable, "-m", "scripts.live_pump", "--function", function], _env())
    played.write_text(function)
    return pid


def _serving(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 1


@cli.command()
def up(
    workers: int = typer.Option(2, envvar="WORKERS", min=0, help="long-task worker processes"),
    task_package: str = typer.Option("", envvar="TASK_PACKAGE", help="task package folders, comma-separated"),
) -> None:
    """Start the embedded AWS, deploy the stacks into it, start the workers; returns when all are ready."""
    os.environ.update(AWS_ENV)  # this process talks to the embedded AWS too (issuing local tenants)
    pid = ensure_embedded_aws()
    endpoints = write_endpoints(deploy(pid, task_package), task_package)
    ensure_workers(workers, endpoints, task_package)
    ensure_live_pump(endpoints)
    served = ensure_dashboard(endpoints)
    typer.echo(f"embedded AWS: {GATEWAY} (pid {pid})")
    typer.echo(f"API: {endpoints['api_url']}")
    typer.echo(f"live updates: {endpoints['ws_url']}")
    if served is not None:
        typer.echo(f"dashboard: {endpoints['dashboard_url']}")
    typer.echo(f"workers: {workers}; endpoints in {ENDPOINTS.relative_to(ROOT)}")


@cli.command()
def down() -> None:
    """Stop every process `up` started, by its recorded id."""
    for pid_file in sorted(PIDS.glob("*.pid")) if PIDS.exists() else []:
        if pid_file.stem != "ministack":
            _stop(pid_file.stem, WORKER_STOP_GRACE_SECONDS if pid_file.stem.startswith("worker-") else 15.0)
    _stop("ministack")
    DEPLOYED.unlink(missing_ok=True)
    typer.echo("stopped")


if __name__ == "__main__":
    cli()
