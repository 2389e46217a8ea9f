"""Cold start of each Lambda handler module: a fresh interpreter imports it and builds what its first call
builds (settings, AWS clients), timed inside that interpreter; the median of N fresh processes.

No request is sent: the clients are only constructed (boto3 loads its service models then). The interpreter's
own start-up is reported beside it, not in it, as Lambda's runtime start-up is not the function's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, Outcome, Target, child_env
from bench.stats import spread

TARGET_MS = 300.0
# module, the expression its first invocation evaluates (given the module as `m`)
HANDLERS = (
    ("lambdas.api.handler", "m.services()"),
    ("lambdas.runner.handler", "m.runner()"),
    ("lambdas.orchestrator.handlers",
     "(m.store(), m.S3ManifestStore(m.settings().manifest_bucket), m.task_queues(m.settings()))"),
    ("lambdas.authorizer.handler", "m.verifiers()"),
)
PROBE = """
import importlib, json, sys, time
t0 = time.perf_counter()
m = importlib.import_module(sys.argv[1])
t1 = time.perf_counter()
eval(sys.argv[2], {"m": m})
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "init_ms": (t2 - t1) * 1000}))
"""


def function_env() -> dict[str, str]:
    """A placeholder for every required setting of every component (tasklane.settings), as deployed."""
    from pydantic_settings import BaseSettings

    import tasklane.settings as settings

    env = {"POWERTOOLS_SERVICE_NAME": "bench", "AWS_LAMBDA_FUNCTION_NAME": "bench"}
    for value in vars(settings).values():
        if isinstance(value, type) and issubclass(value, BaseSettings):
            for name, field in value.model_fields.items():
                if field.is_required():
                    env[name.upper()] = _placeholder(name)
    return env


def _placeholder(name: str) -> str:
    if name.endswith("_arn"):
        return "arn:aws:states:us-east-1:000000000000:stateMachine:bench"
    if name.endswith("_url"):
        return f"http://localhost:4566/000000000000/bench-{name}"
    if name.endswith("_region"):
        return "us-east-1"
    return f"bench-{name}".replace("_", "-")


def measure(module: str, init: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, module, init], cwd=ROOT, env=child_env(function_env()),
                          capture_output=True, text=True, timeout=120)
    wall_ms = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if "errors.pydantic.dev" not in line]
        raise RuntimeError(" / ".join(lines[-3:]) or "failed")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "total_ms": figures["import_ms"] + figures["init_ms"], "process_wall_ms": wall_ms}


def run(repeats: int) -> Outcome:
    data: dict[str, Any] = {}
    targets: list[Target] = []
    for module, init in HANDLERS:
        try:
            samples = [measure(module, init) for _ in range(repeats)]
        except (RuntimeError, subprocess.SubprocessError) as failure:
            data[module] = {"error": str(failure)}
            targets.append(Target(f"cold start {module}", f"failed: {failure}", "< 300 ms", None))
            continue
        data[module] = {key: spread([s[key] for s in samples]) for key in samples[0]}
        total = data[module]["total_ms"]["median"]
        targets.append(Target(f"cold start {module}", f"{total:.0f} ms (import + init, median of {repeats})",
                              "< 300 ms", total < TARGET_MS))
    return Outcome("coldstart", {"repeats": repeats, "handlers": data}, targets)
