"""jobctl run-local: one task run in-process, as a runtime would, with no platform and no API call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_fakes import FakeApi, Jobctl, write_endpoints

EXAMPLE = Path(__file__).parents[2] / "examples" / "thumbnails"


@pytest.fixture
def jobctl(tmp_path: Path) -> Jobctl:
    return Jobctl(FakeApi(), write_endpoints(tmp_path / "endpoints.json"))


def test_a_task_of_a_package_runs_and_prints_its_result(jobctl: Jobctl) -> None:
    result = jobctl("-o", "json", "run-local", "thumbnail", "--package", str(EXAMPLE),
                    "--payload", '{"width": 40, "height": 20, "max_side": 8}')
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["status"] == "SUCCEEDED" and (run["result"]["width"], run["result"]["height"]) == (8, 4)
    assert run["progress"] == [[0.5, "40x20 -> 8x4"]]
    assert jobctl.api.requests == []


def test_a_failing_task_exits_1_and_shows_each_attempt_and_the_retry_it_would_wait_for(jobctl: Jobctl) -> None:
    result = jobctl("run-local", "fail", "--payload", '{"fail_times": 5}', "--max-attempts", "2")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("attempt 1: RETRY: TaskFailure: task failed on purpose")
    assert "the platform would retry after" in lines[0]
    assert lines[1].startswith("attempt 2: FAILED: TaskFailure")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["echo", "--payload", "{nope"], "--payload is not JSON"),
        (["echo", "--payload", "[1]"], "--payload must be a JSON object"),
        (["echo", "--package", "/no/such/folder"], "task package /no/such/folder: not a folder with an __init__.py"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(jobctl: Jobctl, args: list[str], words: str) -> None:
    result = jobctl("run-local", *args)
    assert result.exit_code == 3
    assert words in result.stderr
