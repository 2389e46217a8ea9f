"""Per-environment settings, chosen with `cdk ... -c env=dev|prod` and read from cdk.json's context."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field

PROJECT = "tasklane"


class TenantLimits(BaseModel):
    """What one tenant may ask of the API: its usage plan (requests per second, burst, requests per day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_per_second: float = Field(default=50, gt=0, le=10_000)
    burst: int = Field(default=100, ge=1, le=5_000)
    daily_quota: int = Field(default=500_000, ge=1)


class EnvironmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")
    retain_data: bool = False
    log_retention_days: int = 14
    # Messages per runner invocation; each carries up to ten short tasks, so 10 is 100 tasks.
    runner_batch_size: int = Field(default=10, ge=1, le=10_000)
    runner_batching_window_seconds: int = Field(default=0, ge=0, le=300)
    runner_max_concurrency: int = Field(default=20, ge=2, le=1000)
    runner_timeout_seconds: int = Field(default=120, ge=10, le=900)
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

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    def resource_prefix(self) -> str:
        return f"{PROJECT}-{self.name}"


def load_config(node: Node) -> EnvironmentConfig:
    """The environment named by the `env` context key, defaulting to dev."""
    env_name = node.try_get_context("env") or "dev"
    environments: dict[str, Any] = node.try_get_context("environments") or {}
    if env_name not in environments:
        raise ValueError(f"unknown environment {env_name!r}; cdk.json defines: {', '.join(sorted(environments))}")
    emulator = str(node.try_get_context("emulator")).lower() == "true"
    return EnvironmentConfig(name=env_name, emulator=emulator, **environments[env_name])
