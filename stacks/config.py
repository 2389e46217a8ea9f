"""Per-environment settings, chosen with `cdk ... -c env=dev|staging|prod` and read from cdk.json's context.

A few settings can also be given on the command line, over cdk.json: `-c alarm_email=ADDRESS`,
`-c alarm_topic_arn=ARN`, `-c eks_public_access_cidrs=CIDR[,CIDR...]`, `-c admin_role_arns=ARN[,ARN...]`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from aws_cdk import RemovalPolicy
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROJECT = "tasklane"
Runtime = Literal["lambda", "eks"]
# The API caps a task's timeout_seconds at 7 days (lambdas/api/schemas.py); so does every environment.
SEVEN_DAYS = 7 * 24 * 3600
# Interface endpoints the VPC may get, by service name (com.amazonaws.<region>.<name>).
INTERFACE_ENDPOINT_SERVICES = ("sqs", "sts", "logs", "ecr.api", "ecr.dkr", "states", "monitoring")
# Settings that `-c key=value` may override; lists are comma-separated there.
COMMAND_LINE_SETTINGS = ("alarm_email", "alarm_topic_arn", "eks_public_access_cidrs", "admin_role_arns")
_LIST_SETTINGS = {"eks_public_access_cidrs", "admin_role_arns"}


class ProvisionedPollers(BaseModel):
    """Provisioned mode of the runner's SQS event source mapping: pollers kept ready for bursts (billed while
    provisioned). AWS ranges for SQS: minimum 2..200, maximum 2..2,000 (ProvisionedPollerConfig)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum: int = Field(ge=2, le=200)
    maximum: int = Field(ge=2, le=2000)

    @model_validator(mode="after")
    def _ordered(self) -> ProvisionedPollers:
        if self.minimum > self.maximum:
            raise ValueError("runner_provisioned_pollers: minimum must not exceed maximum")
        return self


class TenantLimits(BaseModel):
    """What one tenant may ask of the API: its usage plan (requests per second, burst, requests per day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_per_second: float = Field(default=50, gt=0, le=10_000)
    burst: int = Field(default=100, ge=1, le=5_000)
    daily_quota: int = Field(default=500_000, ge=1)
# The runner starts no task with less than its timeout plus 15 s left (tasklane.deliveries.HANDBACK_RESERVE_SECONDS),
# so a Lambda task's maximum timeout leaves that much and a little more of the runner's own timeout.
RUNNER_RESERVE_SECONDS = 20
RUNTIMES = ("lambda", "eks")


class EnvironmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")
    retain_data: bool = False
    # A production environment: deletion protection on its tables and user pool, and a public EKS endpoint
    # only from listed CIDRs.
    production: bool = False
    log_retention_days: int = 14
    # How long a job's data stays readable: its manifest and its large payloads (a task's detail shows them).
    data_retention_days: int = Field(default=90, ge=1)
    # Messages per runner invocation; each carries up to ten short tasks, so 10 is 100 tasks.
    runner_batch_size: int = Field(default=10, ge=1, le=10_000)
    runner_batching_window_seconds: int = Field(default=0, ge=0, le=300)
    runner_max_concurrency: int = Field(default=20, ge=2, le=1000)
    # Unset: Lambda's standard SQS scaling (5 concurrent batches, up to 300 more a minute, docs/SCALE.md).
    # Set: provisioned pollers, which AWS makes exclusive of runner_max_concurrency (no longer applied).
    runner_provisioned_pollers: ProvisionedPollers | None = None
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
    worker_max_replicas: int = Field(default=6, ge=1)
    # Tasks one worker pod runs at once; also KEDA's target of queued + in-flight messages per pod.
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_node_instance_type: str = "m6i.large"
    # The Cluster Autoscaler moves the node group between these; worker_fleet.py checks that the maximum
    # holds worker_max_replicas pods.
    worker_node_min: int = Field(default=1, ge=1)
    worker_node_max: int = Field(default=4, ge=1)
    # The worker image's base (Dockerfile ARG PYTHON_IMAGE). Pin it by digest (python:3.12-slim@sha256:...)
    # for reproducible builds: docs/OPERATIONS.md says how to find the digest.
    worker_base_image: str = "python:3.12-slim"
    # Needs a matching kubectl layer in stacks/constructs/worker_fleet.py (KUBECTL_LAYERS).
    kubernetes_version: str = "1.36"
    # The API endpoint is always reachable from the VPC; from outside only if public, and then only from these
    # CIDRs (none listed: from anywhere, still behind IAM authentication; refused in production).
    eks_public_endpoint: bool = True
    eks_public_access_cidrs: tuple[str, ...] = ()
    # Folders of the users' task packages, bundled into both runtimes: `-c task_package=DIR[,DIR]`, not cdk.json.
    task_packages: tuple[str, ...] = ()
    # IAM roles given cluster admin through EKS access entries (operators, break-glass).
    admin_role_arns: tuple[str, ...] = ()
    # NAT gateways of the fleet's VPC: 1 is cheapest, 2 keeps egress up when one AZ fails.
    nat_gateways: int = Field(default=1, ge=1, le=2)
    # Interface endpoints (S3 and DynamoDB always get free gateway endpoints); see docs/OPERATIONS.md.
    interface_endpoints: tuple[str, ...] = ()
    # Where alarms go: this address is subscribed to the alarm topic; with a topic ARN, alarms publish to
    # that existing topic instead of a new one.
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    alarm_topic_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$")

    # Per-tenant limits at the edge: every tenant's usage plan, unless it has an override of its own.
    tenant_limits: TenantLimits = TenantLimits()
    tenant_limit_overrides: dict[str, TenantLimits] = Field(default_factory=dict)
    # Requests one client IP may make in any 5 minutes before WAF blocks it (the API and the dashboard).
    waf_requests_per_ip_per_5_minutes: int = Field(default=3000, ge=10, le=2_000_000_000)
    # Concurrency reserved for (and capped at) the API and its authorizer, so a burst of task runs can never
    # starve them and a flood of requests never takes the whole account's. None: unreserved (an account with
    # a small concurrency quota cannot reserve any: AWS keeps 10 unreserved).
    api_reserved_concurrency: int | None = Field(default=None, ge=1)
    authorizer_reserved_concurrency: int | None = Field(default=None, ge=1)
    # Open WebSocket connections one tenant may hold.
    live_max_connections_per_tenant: int = Field(default=100, ge=1, le=10_000)
    # Set when deploying into the embedded AWS (`-c emulator=true`, scripts/local_platform.py): it cannot
    # associate a WAF web ACL and reads a usage plan's key only from the x-api-key header, so the stage is
    # neither associated nor made to require a key there. Everything else is the same template.
    emulator: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> EnvironmentConfig:
        if self.worker_node_min > self.worker_node_max:
            raise ValueError("worker_node_min must not exceed worker_node_max")
        if self.worker_min_replicas > self.worker_max_replicas:
            raise ValueError("worker_min_replicas must not exceed worker_max_replicas")
        if self.production and self.eks_public_endpoint and not self.eks_public_access_cidrs:
            raise ValueError(
                f"{self.name} is a production environment: list eks_public_access_cidrs (cdk.json or "
                "-c eks_public_access_cidrs=...) or set eks_public_endpoint to false"
            )
        if unknown := set(self.interface_endpoints) - set(INTERFACE_ENDPOINT_SERVICES):
            raise ValueError(f"interface_endpoints: unknown {sorted(unknown)}; known: {INTERFACE_ENDPOINT_SERVICES}")
        return self

    @model_validator(mode="after")
    def task_timeouts_fit(self) -> EnvironmentConfig:
        for timeouts in (self.task_timeout_default_seconds, self.task_timeout_max_seconds):
            if sorted(timeouts) != sorted(RUNTIMES):
                raise ValueError(f"task timeouts are given for exactly the runtimes {', '.join(RUNTIMES)}")
        for runtime in RUNTIMES:
            if not 1 <= self.task_timeout_default_seconds[runtime] <= self.task_timeout_max_seconds[runtime]:
                raise ValueError(f"task_timeout_default_seconds.{runtime} must be 1 to its maximum")
        if self.task_timeout_max_seconds["eks"] > SEVEN_DAYS:
            raise ValueError(f"task_timeout_max_seconds.eks must be at most {SEVEN_DAYS} (7 days)")
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

    @property
    def max_eks_task_timeout_seconds(self) -> int:
        """The longest EKS task the API accepts: a worker pod may drain that long (its termination grace period),
        so no scale-in, rollout or node update kills a task within its timeout."""
        return self.task_timeout_max_seconds["eks"]

    def resource_prefix(self) -> str:
        return f"{PROJECT}-{self.name}"

    @property
    def task_package_modules(self) -> str:
        """TASK_PACKAGES for the deployed components: each package by module name, as bundled."""
        return ",".join(Path(folder).expanduser().resolve().name for folder in self.task_packages)


def _from_command_line(node: Node) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key in COMMAND_LINE_SETTINGS:
        value = node.try_get_context(key)
        if value is None:
            continue
        if key in _LIST_SETTINGS and isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        overrides[key] = value
    return overrides


def load_config(node: Node) -> EnvironmentConfig:
    """The environment named by the `env` context key (default dev), with command-line overrides."""
    env_name = node.try_get_context("env") or "dev"
    environments: dict[str, Any] = node.try_get_context("environments") or {}
    if env_name not in environments:
        raise ValueError(f"unknown environment {env_name!r}; cdk.json defines: {', '.join(sorted(environments))}")
    packages = tuple(folder.strip() for folder in str(node.try_get_context("task_package") or "").split(",")
                     if folder.strip())
    emulator = str(node.try_get_context("emulator")).lower() == "true"
    return EnvironmentConfig(
        name=env_name, **{**environments[env_name], **_from_command_line(node)}, task_packages=packages,
        emulator=emulator,
    )
