"""Dead letters: tasks that failed for good and queue messages SQS gave up on, grouped for triage.

Two failures belong to one group when they have the same task type, error class and message once the
parts that vary from task to task (numbers, ids, quoted values) are masked.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

UNROUTED_TENANT = "_unrouted"
_MASKS = [
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    # A UUID first: its first group alone is 8 hex digits, which the next alternative would mask on its own.
    (re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b|\b[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
]


def error_class(error: str | None) -> str:
    head, sep, _ = (error or "").partition(":")
    return head.strip() if sep and head.strip().isidentifier() else "Error"


def normalized_message(error: str | None) -> str:
    _, sep, rest = (error or "").partition(":")
    text = rest if sep else (error or "")
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return " ".join(text.split())[:200]


def fingerprint(task_type: str, error: str | None) -> str:
    key = f"{task_type}|{error_class(error)}|{normalized_message(error)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DeadLetter:
    tenant: str
    fingerprint: str
    job_id: str
    task_id: str
    task_type: str
    error: str
    source: str  # "task": failed after its attempts; "queue": dead-lettered by SQS
    dead_at: str
    body: str | None = None  # the raw message, kept when it could not be read as a task


@dataclass
class DeadLetterGroup:
    fingerprint: str
    task_type: str
    error_class: str
    message: str
    count: int = 0
    jobs: set[str] = field(default_factory=set)
    sample_task_ids: list[str] = field(default_factory=list)
    sample_error: str = ""


def group(letters: list[DeadLetter], samples: int = 5) -> list[DeadLetterGroup]:
    groups: dict[str, DeadLetterGroup] = {}
    for letter in letters:
        found = groups.get(letter.fingerprint)
        if found is None:
            found = groups[letter.fingerprint] = DeadLetterGroup(
                fingerprint=letter.fingerprint, task_type=letter.task_type, error_class=error_class(letter.error),
                message=normalized_message(letter.error), sample_error=letter.error,
            )
        found.count += 1
        found.jobs.add(letter.job_id)
        if len(found.sample_task_ids) < samples:
            found.sample_task_ids.append(f"{letter.job_id}/{letter.task_id}")
    return sorted(groups.values(), key=lambda g: (-g.count, g.fingerprint))
