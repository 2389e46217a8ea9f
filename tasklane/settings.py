"""Configuration of each deployed component, read from its environment and validated at start-up."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasklane.models import Runtime, TaskTimeouts

_DEFAULTS = TaskTimeouts()


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)


class TaskPackageSettings(_Settings):
    """Which task packages a component imports beside the built-in task types (tasklane.task_packages)."""

    # Comma-separated: module names (as deployed: in the Lambda code asset and the worker image), or folders
    # of importable packages (a local run).
    task_packages: str = ""

    @property
    def packages(self) -> list[str]:
        return [name.strip() for name in self.task_packages.split(",") if name.strip()]


class StoreSettings(_Settings):
    table_name: str = Field(min_length=1)


class TaskTimeoutSettings(_Settings):
    """Each runtime's default and maximum task timeout, as JSON by runtime: {"lambda": 60, "eks": 900}."""

    task_timeout_default_seconds: dict[Runtime, int] = Field(default_factory=lambda: dict(_DEFAULTS.default_seconds))
    task_timeout_max_seconds: dict[Runtime, int] = Field(default_factory=lambda: dict(_DEFAULTS.max_seconds))

    @property
    def task_timeouts(self) -> TaskTimeouts:
        return TaskTimeouts(
            default_seconds=self.task_timeout_default_seconds, max_seconds=self.task_timeout_max_seconds
        )


class ApiSettings(StoreSettings, TaskTimeoutSettings):
    manifest_bucket: str = Field(min_length=1)
    state_machine_arn: str = Field(min_length=1)
    idempotency_table_name: str = Field(min_length=1)


class RunnerSettings(StoreSettings, TaskTimeoutSettings):
    short_queue_url: str = Field(min_length=1)
    long_queue_url: str = Field(min_length=1)
    manifest_bucket: str = Field(min_length=1)


class OrchestratorSettings(StoreSettings):
    manifest_bucket: str = Field(min_length=1)
    short_queue_url: str = Field(min_length=1)
    long_queue_url: str = Field(min_length=1)
    control_queue_url: str = Field(min_length=1)


class DeadLetterSettings(StoreSettings):
    """The drain of the task queues' dead-letter queues into the dead-letter view."""


class KeyAdminSettings(_Settings):
    """The API's key administration routes: the API keys' own table, and where each tenant's usage key goes."""

    keys_table_name: str = Field(min_length=1)
    usage_key_prefix: str = Field(min_length=1)


class AuthorizerSettings(_Settings):
    """The authorizers read the API keys' table and nothing of the job table."""

    keys_table_name: str = Field(min_length=1)
    # The REST API's authorizer names the caller's usage key (tasklane.auth.usage_key) with this prefix.
    usage_key_prefix: str | None = None
    user_pool_id: str = Field(min_length=1)
    user_pool_client_ids: str = Field(min_length=1, description="comma-separated app client ids")
    aws_region: str = Field(min_length=1)
    # Set when the SDK talks to an emulator; the pool's keys are then served by that endpoint too.
    aws_endpoint_url: str | None = None

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.aws_region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        base = self.aws_endpoint_url.rstrip("/") + f"/{self.user_pool_id}" if self.aws_endpoint_url else self.issuer
        return f"{base}/.well-known/jwks.json"

    @property
    def client_ids(self) -> list[str]:
        return [c.strip() for c in self.user_pool_client_ids.split(",") if c.strip()]
