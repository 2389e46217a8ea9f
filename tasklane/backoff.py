"""Exponential backoff with jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").

"Equal jitter": the delay after failed attempt n is drawn from [c/2, c], with c = base * 2^(n-1), capped.
Full jitter ([0, c]) spreads retries as well but lets a later retry come sooner than an earlier one;
equal jitter keeps the spread across tasks while each task's delays grow, which is what an operator
reading a task's attempt history expects.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 2.0
    cap_seconds: float = 900.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt number `attempt` (1-based)."""
        return min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(attempt)
        return (rng or random).uniform(ceiling / 2, ceiling)


T = TypeVar("T")


def retried(
    action: Callable[[], T],
    transient: Callable[[Exception], bool],
    *,
    attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """The result of `action`, called again after a jittered delay while it fails with a transient error,
    at most `attempts` times in all; the last error is raised as it came."""
    for attempt in range(1, attempts):
        try:
            return action()
        except Exception as error:
            if not transient(error):
                raise
            sleep(backoff.delay(attempt))
    return action()
