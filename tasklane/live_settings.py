"""Configuration of the live-updates functions (WebSocket routes, their authorizer, the stream publisher)."""

from __future__ import annotations

from pydantic import Field

from tasklane.settings import StoreSettings


class LiveSettings(StoreSettings):
    """`table_name` is the job table; connections and subscriptions live in their own table."""

    connections_table_name: str = Field(min_length=1)
    ws_api_id: str = Field(min_length=1)
    ws_stage: str = Field(min_length=1)
    ws_callback_url: str = Field(min_length=1, description="the stage's @connections endpoint in AWS")
    # Set when the SDK talks to an emulator, which serves the @connections API under its own gateway.
    aws_endpoint_url: str | None = None
    live_snapshot_limit: int = Field(default=25, ge=1, le=200)
    live_max_connections_per_tenant: int = Field(default=100, ge=1)

    @property
    def management_endpoint(self) -> str:
        if self.aws_endpoint_url:
            return f"{self.aws_endpoint_url.rstrip('/')}/_aws/execute-api/{self.ws_api_id}/{self.ws_stage}"
        return self.ws_callback_url.rstrip("/")
