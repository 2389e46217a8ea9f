"""What the worker loop holds: received messages, the tasks they carry, and how each task's attempt ended."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tasklane.attempts import TaskOutcome
from tasklane.claims import TaskClaim
from tasklane.deliveries import Delivery
from tasklane.models import TaskMessage
from workers.progress import WorkerTaskContext


class End(StrEnum):
    COMMIT = "commit"  # a final outcome to commit, then acknowledge
    NOTHING = "nothing"  # duplicate or stale: acknowledge
    ABANDONED = "abandoned"  # the attempt stopped on TaskCancelled: acknowledge
    SENT_ON = "sent_on"  # a bundled task left its bundle as a message of its own (a retry): acknowledge
    RETRY = "retry"  # a single task's message is hidden for the backoff delay: keep
    ERROR = "error"  # the worker could not run it: keep, SQS redelivers it


# Ends after which the task's part of its message is done without a commit.
ACKNOWLEDGED_WITHOUT_COMMIT = (End.NOTHING, End.ABANDONED, End.SENT_ON)


@dataclass(eq=False)
class Held:
    """One received message, held (and kept hidden) until every task it carries is accounted for."""

    delivery: Delivery
    open: int
    bundled: bool
    stopping_jobs: frozenset[str]  # of its tasks' jobs, those asked to stop when it was received
    keep: bool = False  # a task was not accounted for: the message is left for redelivery


@dataclass(eq=False)
class Unit:
    """One task of a held message, waiting for a slot or running."""

    held: Held
    message: TaskMessage
    queued_at: float
    claim: TaskClaim | None = None
    context: WorkerTaskContext | None = None
    started_at: float = 0.0


@dataclass(frozen=True)
class Finished:
    unit: Unit
    end: End
    outcome: TaskOutcome | None = None


def messages_of(units: list[Unit]) -> list[Delivery]:
    """The messages these tasks came in, each once."""
    return list({id(u.held): u.held.delivery for u in units}.values())
