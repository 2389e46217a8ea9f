"""Configuration of each deployed component, read from its environment and validated at start-up."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)


class StoreSettings(_Settings):
    table_name: str = Field(min_length=1)


class ApiSettings(StoreSettings):
    manifest_bucket: str = Field(min_length=1)
    state_machine_arn: str = Field(min_length=1)


class RunnerSettings(StoreSettings):
    short_queue_url: str = Field(min_length=1)


class OrchestratorSettings(StoreSettings):
    manifest_bucket: str = Field(min_length=1)
    short_queue_url: str = Field(min_length=1)
    long_queue_url: str = Field(min_length=1)
