"""Per-environment settings, chosen with `cdk ... -c env=dev|prod` and read from cdk.json's context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROJECT = "tasklane"
# The runner starts no task with less than its timeout plus 15 s left (tasklane.running.HANDBACK_RESERVE_SECONDS),
# so a Lambda task's maximum timeout leaves that much and a little more of the runner's own timeout.
RUNNER_RESERVE_SECONDS = 20
RUNTIMES = ("lambda", "eks")


class EnvironmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")
    retain_data: bool = False
    log_retention_days: int = 14
    # How long a job's data stays readable: its manifest and its large payloads (a task's detail shows them).
    data_retention_days: int = Field(default=90, ge=1)
    # Messages per runner invocation; each carries up to ten short tasks, so 10 is 100 tasks.
    runner_batch_size: int = Field(default=10, ge=1, le=10_000)
    runner_batching_window_seconds: int = Field(default=0, ge=0, le=300)
    runner_max_concurrency: int = Field(default=20, ge=2, le=1000)
    runner_timeout_seconds: int = Field(default=120, ge=30, le=900)
    # Every task runs under a timeout: the one it asked for, at most its runtime's maximum (the API refuses
    # more), or its runtime's default. A Lambda task ends within the runner's own timeout with room to commit;
    # the EKS maximum is what the worker fleet's drain must protect (its termination grace period follows it).
    task_timeout_default_seconds: dict[str, int] = Field(default_factory=lambda: {"lambda": 60, "eks": 900})
    task_timeout_max_seconds: dict[str, int] = Field(default_factory=lambda: {"lambda": 100, "eks": 3600})
    long_task_visibility_seconds: int = Field(default=300, ge=30, le=43_200)
    # SQS moves a message to its DLQ after this many receives: above any task's max_attempts, so the
    # platform decides when a task has failed and only unreadable messages are dead-lettered by SQS.
    max_receive_count: int = Field(default=25, ge=2, le=1000)
    worker_min_replicas: int = Field(default=1, ge=0)
    worker_max_replicas: int = Field(default=20, ge=1)
    # Tasks one worker pod runs at once; also KEDA's target of queued + in-flight messages per pod.
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_node_instance_type: str = "m6i.large"
    worker_node_min: int = Field(default=1, ge=0)
    worker_node_max: int = Field(default=4, ge=1)
    # Needs a matching kubectl layer in stacks/constructs/worker_fleet.py (KUBECTL_LAYERS).
    kubernetes_version: str = "1.36"
    # The API endpoint is always reachable from the VPC; from outside only if public, and then only from these
    # CIDRs (none listed: from anywhere, still behind IAM authentication).
    eks_public_endpoint: bool = True
    eks_public_access_cidrs: tuple[str, ...] = ()
    # Folders of the users' task packages, bundled into both runtimes: `-c task_package=DIR[,DIR]`, not cdk.json.
    task_packages: tuple[str, ...] = ()

    @model_validator(mode="after")
    def task_timeouts_fit(self) -> EnvironmentConfig:
        for timeouts in (self.task_timeout_default_seconds, self.task_timeout_max_seconds):
            if sorted(timeouts) != sorted(RUNTIMES):
                raise ValueError(f"task timeouts are given for exactly the runtimes {', '.join(RUNTIMES)}")
        for runtime in RUNTIMES:
            if not 1 <= self.task_timeout_default_seconds[runtime] <= self.task_timeout_max_seconds[runtime]:
                raise ValueError(f"task_timeout_default_seconds.{runtime} must be 1 to its maximum")
        room = self.runner_timeout_seconds - RUNNER_RESERVE_SECONDS
        if self.task_timeout_max_seconds["lambda"] > room:
            raise ValueError(
                f"task_timeout_max_seconds.lambda must leave the runner {RUNNER_RESERVE_SECONDS} s of its "
                f"{self.runner_timeout_seconds} s timeout: at most {room}"
            )
        return self

    def task_timeout_environment(self) -> dict[str, str]:
        """The functions' environment variables that carry the task timeouts to their settings."""
        return {
            "TASK_TIMEOUT_DEFAULT_SECONDS": json.dumps(self.task_timeout_default_seconds, sort_keys=True),
            "TASK_TIMEOUT_MAX_SECONDS": json.dumps(self.task_timeout_max_seconds, sort_keys=True),
        }

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    def resource_prefix(self) -> str:
        return f"{PROJECT}-{self.name}"

    @property
    def task_package_modules(self) -> str:
        """TASK_PACKAGES for the deployed components: each package by module name, as bundled."""
        return ",".join(Path(folder).expanduser().resolve().name for folder in self.task_packages)


def load_config(node: Node) -> EnvironmentConfig:
    """The environment named by the `env` context key, defaulting to dev."""
    env_name = node.try_get_context("env") or "dev"
    environments: dict[str, Any] = node.try_get_context("environments") or {}
    if env_name not in environments:
        raise ValueError(f"unknown environment {env_name!r}; cdk.json defines: {', '.join(sorted(environments))}")
    packages = tuple(folder.strip() for folder in str(node.try_get_context("task_package") or "").split(",")
                     if folder.strip())
    return EnvironmentConfig(name=env_name, **environments[env_name], task_packages=packages)
