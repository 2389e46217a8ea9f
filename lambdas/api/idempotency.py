"""Idempotency-Key on every POST, with Powertools' idempotency utility over its own DynamoDB table.

The key is scoped by tenant and route; the request body's digest is the payload Powertools validates, so
the same key with another body is refused (409). A replay answers the first response with 200. A replay
sent while the first request still runs waits for it, so concurrent duplicates create one job.

Powertools' idempotency utility is imported by the first request that sends a key, not at cold start: most
requests (every GET, and POSTs without a key) never need it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from tasklane.aws.clients import session
from tasklane.errors import DomainError, InvalidRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

KEY_HOURS = 25  # at least the 24 hours clients are promised
IN_PROGRESS_WAIT_SECONDS = 20.0
MAX_KEY_LENGTH = 256

Action = Callable[[], tuple[int, dict[str, Any]]]


class IdempotencyConflict(DomainError):
    """The key was used before with another request."""


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


_invocation: LambdaContext | None = None


def register_lambda_context(context: LambdaContext) -> None:
    """The current invocation: an in-progress key expires when it would time out."""
    global _invocation
    _invocation = context


@cache
def config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=KEY_HOURS * 3600,
        response_hook=_mark_replay,
    )


@cache
def _guarded(table_name: str) -> Callable[..., dict[str, Any]]:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_session=session())

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config())
    def run(request: dict[str, Any], action: Action) -> dict[str, Any]:
        status, body = action()
        return {"status": status, "body": body}

    return run


def once(
    table_name: str, tenant: str, route: str, key: str | None, body: bytes, action: Action
) -> tuple[int, dict[str, Any]]:
    """Run `action` once per (tenant, route, key); a replay returns the first answer with status 200."""
    if key is None:
        return action()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if _invocation is not None:
        config().register_lambda_context(_invocation)
    request = {"key": f"{tenant}#{route}#{key}", "body": hashlib.sha256(body).hexdigest()}
    deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
    while True:
        try:
            answer = _guarded(table_name)(request=request, action=action)
            break
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() > deadline:
                raise IdempotencyConflict(f"a request with Idempotency-Key {key!r} is still running") from None
            time.sleep(0.1)
        except IdempotencyValidationError:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was already used with a different request body"
            ) from None
    status = 200 if answer.get("replayed") else int(answer["status"])
    return status, dict(answer["body"])
