"""Worker settings: defaults, and a bad value stops the start with one clear line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers.__main__ import main
from workers.settings import SettingsError, load_settings
from workers.worker import ExitCode

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"TABLE_NAME": "tasklane", "LONG_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/long"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WORKER_") or name in ("TABLE_NAME", "LONG_QUEUE_URL", "LOG_LEVEL"):
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)


def test_defaults() -> None:
    settings = load_settings()

    assert settings.worker_concurrency == 4
    assert settings.worker_visibility_seconds == 300
    assert settings.heartbeat_seconds == 100  # a third of the visibility timeout
    assert settings.worker_drain_seconds == 540
    assert settings.worker_poll_wait_seconds == 20
    assert (settings.worker_health_host, settings.worker_health_port) == ("127.0.0.1", 8080)
    assert settings.options().prefetch == 0


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_CONCURRENCY", "8")
    monkeypatch.setenv("WORKER_VISIBILITY_SECONDS", "600")
    monkeypatch.setenv("WORKER_HEARTBEAT_SECONDS", "60")

    options = load_settings().options()

    assert (options.concurrency, options.visibility_seconds) == (8, 600)
    assert load_settings().heartbeat_seconds == 60


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY='0': Input should be greater than or equal to 1"),
        ("WORKER_CONCURRENCY", "four", "WORKER_CONCURRENCY='four': Input should be a valid integer"),
        ("WORKER_POLL_WAIT_SECONDS", "30", "WORKER_POLL_WAIT_SECONDS='30': Input should be less than or equal to 20"),
        ("WORKER_HEARTBEAT_SECONDS", "300", "WORKER_HEARTBEAT_SECONDS (300) must be shorter than"),
        ("TABLE_NAME", None, "TABLE_NAME is required"),
    ],
)
def test_a_bad_value_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str | None, expected: str
) -> None:
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_main_exits_2_with_the_error_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKER_DRAIN_SECONDS", "-1")

    assert main() == ExitCode.CONFIG == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("tasklane worker: invalid configuration: WORKER_DRAIN_SECONDS='-1'")


def test_python_dash_m_workers_exits_2_on_bad_config() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")} | REQUIRED
    env["WORKER_PREFETCH"] = "11"

    done = subprocess.run(
        [sys.executable, "-m", "workers"], cwd=REPO, env=env, capture_output=True, text=True, timeout=30
    )

    assert done.returncode == 2
    assert "WORKER_PREFETCH='11'" in done.stderr
    assert done.stdout == ""
