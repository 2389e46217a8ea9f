"""SIGTERM and SIGINT: the first drains, the second forces the exit."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_stop_handlers(request_stop: Callable[[], None]) -> Callable[[], None]:
    """Route the stop signals to `request_stop`; returns a function restoring the previous handlers.

    Must run on the main thread (Python delivers signals there). The handler only sets flags, so it
    is safe wherever the main thread happens to be when the signal lands.
    """

    def handle(signum: int, frame: FrameType | None) -> None:
        request_stop()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
