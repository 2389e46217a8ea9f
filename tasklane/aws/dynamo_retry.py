"""DynamoDB calls that ride out contention: the one retry policy every DynamoDB adapter shares.

botocore's standard retry mode (tasklane/aws/clients.py) already retries a single call that is throttled
(ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded). What it does not retry:
- a transaction cancelled only because another one was writing one of its items (`TransactionConflict`)
  or because one of its items was throttled (`ThrottlingError`, `ProvisionedThroughputExceeded`);
- a single write refused because a transaction holds its item (`TransactionConflictException`);
- a throttle that outlasted botocore's own attempts or its retry quota.
These are retried here with equal-jitter backoff, a bounded number of times. A transaction cancelled for
a condition is never retried here: the caller decides what a refused condition means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from tasklane.backoff import Backoff, retried

# About 4 s in all before giving up: contention on one item clears within tens of milliseconds.
CONTENTION_BACKOFF = Backoff(base_seconds=0.02, cap_seconds=1.0)
CONTENTION_ATTEMPTS = 10

THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
TRANSIENT_CANCELLATIONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def cancellation_codes(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons") or []]


def contended(error: Exception) -> bool:
    """True for an error that a later, identical request may not meet."""
    if not isinstance(error, ClientError):
        return False
    code = error.response.get("Error", {}).get("Code", "")
    if code == "TransactionCanceledException":
        codes = set(cancellation_codes(error)) - {"None"}
        return bool(codes) and codes <= TRANSIENT_CANCELLATIONS
    return code in THROTTLES or code == "TransactionConflictException"


class ContendedDynamoDB:
    """A DynamoDB client whose every call rides out contention (see the module's doc); all else passes."""

    def __init__(self, client: Any, sleep: Callable[[float], None] | None = None) -> None:
        self._client = client
        self._sleep = sleep
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if not callable(call):
            return call

        def riding_out(*args: Any, **kwargs: Any) -> Any:
            extra = {"sleep": self._sleep} if self._sleep else {}
            return retried(lambda: call(*args, **kwargs), contended, attempts=CONTENTION_ATTEMPTS,
                           backoff=CONTENTION_BACKOFF, **extra)

        return riding_out
