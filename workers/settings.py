"""The worker's settings, read from the environment and validated before anything starts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from tasklane.settings import StoreSettings
from workers.worker import WorkerOptions

_FROM_ENVIRONMENT: dict[str, Any] = {}


class SettingsError(Exception):
    """One line naming each bad variable and what is wrong with it."""


class WorkerSettings(StoreSettings):
    long_queue_url: str = Field(min_length=1)
    # Where large payloads are stored, and where a windowed job's next short tasks are sent.
    manifest_bucket: str | None = None
    short_queue_url: str | None = None
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    worker_prefetch: int = Field(default=0, ge=0, le=10)
    worker_visibility_seconds: int = Field(default=300, ge=10, le=43200)  # SQS allows at most 12 hours
    worker_heartbeat_seconds: float | None = Field(default=None, gt=0)
    worker_drain_seconds: float = Field(default=540.0, ge=0)
    worker_health_host: str = "127.0.0.1"
    worker_health_port: int = Field(default=8080, ge=0, le=65535)  # 0 disables the health server
    # 0 (short polling) is refused: on an empty queue it turns the loop into a busy loop of receives.
    worker_poll_wait_seconds: int = Field(default=20, ge=1, le=20)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def heartbeat_seconds(self) -> float:
        return self.worker_heartbeat_seconds or self.worker_visibility_seconds / 3

    @model_validator(mode="after")
    def _heartbeat_inside_visibility(self) -> WorkerSettings:
        if self.heartbeat_seconds >= self.worker_visibility_seconds:
            raise ValueError(
                f"WORKER_HEARTBEAT_SECONDS ({self.heartbeat_seconds:g}) must be shorter than "
                f"WORKER_VISIBILITY_SECONDS ({self.worker_visibility_seconds}), or messages become visible mid-task"
            )
        return self

    def options(self) -> WorkerOptions:
        return WorkerOptions(
            concurrency=self.worker_concurrency,
            prefetch=self.worker_prefetch,
            visibility_seconds=self.worker_visibility_seconds,
            poll_wait_seconds=self.worker_poll_wait_seconds,
            drain_seconds=self.worker_drain_seconds,
        )


def load_settings() -> WorkerSettings:
    try:
        # Every field comes from the environment; the empty mapping keeps mypy (without pydantic's plugin)
        # from asking for them as arguments.
        return WorkerSettings(**_FROM_ENVIRONMENT)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = str(error["loc"][0]).upper()
    if error["type"] == "missing":
        return f"{name} is required"
    return f"{name}={error['input']!r}: {message}"
