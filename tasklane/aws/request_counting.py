"""Optional counts of the AWS requests a process sends, by service and operation (used by bench/).

Off unless TASKLANE_REQUEST_COUNTS_DIR names a directory. Then every client made by `tasklane.aws.clients`
counts each HTTP attempt (botocore's `before-send` event, so a retried call counts twice, as AWS bills it)
and the process rewrites `<dir>/<pid>.json` after each one (a few microseconds beside a request's
milliseconds), so a reader can take exact before/after snapshots while the process runs.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

COUNTS_DIR_ENV = "TASKLANE_REQUEST_COUNTS_DIR"


class RequestCounter:
    """Counts `service:Operation` for the clients it watches; thread-safe."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def watch(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._on_send)
        return client

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def flush(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        body = json.dumps({"pid": os.getpid(), "argv": sys.argv, "counts": self._counts}, sort_keys=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(body)
        os.replace(partial, self.path)

    def _on_send(self, event_name: str = "", **_: Any) -> None:
        # "before-send.<service id>.<Operation>"; returning None lets botocore send the request.
        service, operation = [*event_name.split(".", 2), "?", "?"][1:3]
        with self._lock:
            self._counts[f"{service}:{operation}"] += 1
            self._write()


@cache
def process_counter() -> RequestCounter | None:
    directory = os.environ.get(COUNTS_DIR_ENV)
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    counter = RequestCounter(Path(directory) / f"{os.getpid()}.json")
    atexit.register(counter.flush)
    return counter


def count_requests(client: Any) -> Any:
    """The client itself; when counting is on, its requests are counted too."""
    counter = process_counter()
    return counter.watch(client) if counter else client
