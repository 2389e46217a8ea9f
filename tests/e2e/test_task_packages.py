"""A task package from outside the platform (examples/thumbnails, with its pypng requirement) runs on both
runtimes: `make up TASK_PACKAGE=$PWD/examples/thumbnails` bundled it into the Lambda code and the workers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from cli.client import TasklaneClient

EXAMPLE = Path(__file__).parents[2] / "examples" / "thumbnails"


@pytest.fixture(scope="module", autouse=True)
def example_deployed(endpoints: dict[str, Any]) -> None:
    if str(EXAMPLE) not in endpoints.get("task_packages", []):
        pytest.fail(f"the platform runs without the example package: start it with `make up TASK_PACKAGE={EXAMPLE}`"
                    " (make test-e2e does)")


@pytest.mark.parametrize("runtime", ["lambda", "eks"])
def test_the_example_packages_task_runs_with_its_dependency(api: TasklaneClient, runtime: str) -> None:
    sizes = [(320, 200), (64, 640), (10, 10)]
    tasks = [{"type": "thumbnail", "runtime": runtime, "payload": {"width": w, "height": h, "max_side": 32}}
             for w, h in sizes]
    job_id = api.submit({"name": f"thumbnails-{runtime}", "tasks": tasks})["job_id"]

    job = api.wait(job_id, timeout=180)

    assert job["status"] == "SUCCEEDED" and job["counts"]["succeeded"] == 3
    results = {task["index"]: task["result"] for task in api.tasks(job_id)}
    assert [(results[i]["width"], results[i]["height"]) for i in range(3)] == [(32, 20), (3, 32), (10, 10)]
    assert all(base64.b64decode(r["png_base64"]).startswith(b"\x89PNG") for r in results.values())

