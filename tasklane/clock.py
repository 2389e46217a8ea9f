"""Timestamps as the platform stores them: UTC ISO-8601 with milliseconds, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
