"""Every domain exception and validation failure mapped to an HTTP answer, in one place.

Each error answer has the shape {"error": {"code": ..., "message": ...}}.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from lambdas.api.idempotency import IdempotencyConflict
from lambdas.api.schemas import SUBMISSION_TAGS, ErrorDetail, ErrorOut
from tasklane.auth import Forbidden, KeyNotFound, Unauthorized
from tasklane.errors import InvalidRequest, JobConflict, JobNotFound, TaskNotFound, TooLarge, WorkflowNotStarted

logger = Logger(child=True)


# Seconds a client waits before asking again after a 503 of ours (jobctl honours it; see cli/client.py).
UNAVAILABLE_RETRY_AFTER_SECONDS = 5


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=ErrorOut(error=ErrorDetail(code=code, message=message)).model_dump_json(),
        headers=headers,
    )


def raw_error_response(status: int, code: str, message: str) -> dict[str, Any]:
    """An error answered before the resolver runs (a body no parser should see), in the same shape."""
    body = ErrorOut(error=ErrorDetail(code=code, message=message)).model_dump_json()
    return {"statusCode": status, "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
            "body": body}


def describe_validation(errors: list[Any], root: str | None = None) -> str:
    """'body.tasks: List should have at least 1 item after validation, not 0' (one line per problem)."""
    parts = []
    for error in errors[:10]:
        if error.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON: {error.get('ctx', {}).get('error', error.get('msg'))}")
            continue
        # The union of inline and uploaded submissions adds its tag to the location; readers need the field.
        loc = [str(p) for p in error.get("loc", ()) if p not in SUBMISSION_TAGS]
        where = ".".join([root, *loc] if root else loc) or "body"
        parts.append(f"{where}: {error.get('msg')}")
    if len(errors) > 10:
        parts.append(f"and {len(errors) - 10} more problems")
    return "; ".join(parts)


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[str]:
        return error_response(422, "validation_error", describe_validation(list(error.errors())))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_media_type(error: RequestUnsupportedContentType) -> Response[str]:
        # Without this, Powertools answers in its own shape rather than {"error": {...}}.
        content_type = app.current_event.headers.get("content-type", "")
        return error_response(415, "unsupported_media_type", f"send the body as application/json, not {content_type}")

    @app.exception_handler([JobNotFound, TaskNotFound, KeyNotFound])
    def not_found(error: Exception) -> Response[str]:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(InvalidRequest)
    def bad_request(error: InvalidRequest) -> Response[str]:
        if isinstance(error, TooLarge):
            return error_response(413, "too_large", str(error))
        return error_response(400, "invalid_request", str(error))

    @app.exception_handler(JobConflict)
    def job_conflict(error: JobConflict) -> Response[str]:
        return error_response(409, "conflict", str(error))

    @app.exception_handler(WorkflowNotStarted)
    def unavailable(error: WorkflowNotStarted) -> Response[str]:
        return error_response(
            503, "unavailable", str(error), headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
        )

    @app.exception_handler(IdempotencyConflict)
    def idempotency_conflict(error: IdempotencyConflict) -> Response[str]:
        return error_response(409, "idempotency_conflict", str(error))

    @app.exception_handler(Unauthorized)
    def unauthorized(error: Unauthorized) -> Response[str]:
        return error_response(401, "unauthorized", str(error))

    @app.exception_handler(Forbidden)
    def forbidden(error: Forbidden) -> Response[str]:
        return error_response(403, "forbidden", str(error))

    @app.not_found
    def no_route(error: Exception) -> Response[str]:
        return error_response(404, "no_route", f"no route for {app.current_event.http_method} {app.current_event.path}")
