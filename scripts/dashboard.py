"""The web dashboard on the local platform: web/dist served on 127.0.0.1, with its runtime config.

The build (web/dist) holds no URL: the app reads /config.json when it starts. In AWS the DashboardStack's
BucketDeployment writes that file next to the build at deploy time; here `make up` writes it to
.local/dashboard/config.json from the local endpoints, and this server answers /config.json from there (so a
rebuild of web/dist never loses it). `python -m scripts.dashboard` serves until it is stopped.
"""

from __future__ import annotations

import json
import os
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import typer

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "web" / "dist"
CONFIG = ROOT / ".local" / "dashboard" / "config.json"
HOST = "127.0.0.1"
PORT = int(os.environ.get("DASHBOARD_PORT", "4580"))

cli = typer.Typer(add_completion=False, help=__doc__)


def dashboard_url(port: int = PORT) -> str:
    return f"http://{HOST}:{port}/"


def dashboard_config(endpoints: dict[str, Any]) -> dict[str, Any]:
    """What the app needs to know at run time; never a secret (tenants sign in on the page)."""
    cognito = endpoints["cognito"]
    return {
        "environment": "local",
        "api_url": endpoints["api_url"],
        "ws_url": endpoints["ws_url"],
        "cognito": {
            "region": cognito["region"], "user_pool_id": cognito["user_pool_id"], "client_id": cognito["client_id"],
            "endpoint": cognito["endpoint"],
        },
    }


def write_config(endpoints: dict[str, Any], path: Path = CONFIG) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dashboard_config(endpoints), indent=2) + "\n")
    return path


class DashboardHandler(SimpleHTTPRequestHandler):
    """Static files from web/dist; /config.json from the local config; no directory listings."""

    config_path: Path = CONFIG

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.json":
            self._config()
            return
        super().do_GET()

    def _config(self) -> None:
        try:
            body = self.config_path.read_bytes()
        except FileNotFoundError:
            self.send_error(HTTPStatus.NOT_FOUND, "no config.json: run `make up`")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND)
        return None

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("DASHBOARD_ACCESS_LOG"):
            super().log_message(format, *args)


@cli.command()
def serve(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = PORT,
    dist: Annotated[Path, typer.Option(help="the built app")] = DIST,
    config: Annotated[Path, typer.Option(help="the runtime config.json to serve")] = CONFIG,
) -> None:
    """Serve the built dashboard on 127.0.0.1 until stopped."""
    handler = type("Handler", (DashboardHandler,), {"config_path": config})
    server = ThreadingHTTPServer((HOST, port), partial(handler, directory=str(dist)))
    typer.echo(f"dashboard: {dashboard_url(port)} (from {dist})")
    server.serve_forever()


if __name__ == "__main__":
    cli()
