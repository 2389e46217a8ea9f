"""Dead-letter fingerprints and groups: failures that differ only in numbers, ids or quoted values group."""

from __future__ import annotations

import pytest

from tasklane.dead_letters import DeadLetter, error_class, fingerprint, group, normalized_message


def letter(job_id: str, task_id: str, error: str, task_type: str = "echo") -> DeadLetter:
    return DeadLetter(
        tenant="acme", fingerprint=fingerprint(task_type, error), job_id=job_id, task_id=task_id, task_type=task_type,
        error=error, source="task", dead_at="2026-01-01T00:00:00.000Z",
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ValueError: row 17 is bad", "ValueError: row 4242 is bad"),
        ("ValueError: took 1.5 s", "ValueError: took 30 s"),
        ("KeyError: no user 'alice'", "KeyError: no user 'bob'"),
        ('KeyError: no user "alice"', 'KeyError: no user "someone else"'),
        ("LookupError: object 0a1b2c3d4e5f missing", "LookupError: object deadbeefcafe missing"),
        (
            "LookupError: order 123e4567-e89b-12d3-a456-426614174000 missing",
            "LookupError: order 9f1c2a7b-1d2e-4f3a-8b9c-0d1e2f3a4b5c missing",
        ),
        ("TaskFailure:   many   spaces ", "TaskFailure: many spaces"),
    ],
)
def test_failures_that_differ_only_in_their_variable_parts_share_a_fingerprint(first: str, second: str) -> None:
    assert normalized_message(first) == normalized_message(second)
    assert fingerprint("echo", first) == fingerprint("echo", second)


def test_the_masks_leave_the_words_that_say_what_went_wrong() -> None:
    assert normalized_message("ValueError: row 17 of 'a.csv' failed for 123e4567-e89b-12d3-a456-426614174000") == (
        "row <n> of '…' failed for <id>"
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ValueError: row 1 is bad", "TypeError: row 1 is bad"),  # another error class
        ("ValueError: row 1 is bad", "ValueError: row 1 is missing"),  # another message
    ],
)
def test_different_failures_get_different_fingerprints(first: str, second: str) -> None:
    assert fingerprint("echo", first) != fingerprint("echo", second)


def test_the_task_type_is_part_of_the_fingerprint() -> None:
    assert fingerprint("echo", "ValueError: x") != fingerprint("hash", "ValueError: x")


@pytest.mark.parametrize(
    ("error", "expected"),
    [("ValueError: x", "ValueError"), ("no class here", "Error"), ("two words: x", "Error"), (None, "Error"),
     ("DeadLettered: gave up", "DeadLettered")],
)
def test_error_class(error: str | None, expected: str) -> None:
    assert error_class(error) == expected


def test_normalized_messages_are_capped() -> None:
    assert len(normalized_message("E: " + "word " * 100)) == 200


def test_group_counts_each_fingerprint_with_its_jobs_and_a_few_samples() -> None:
    letters = [letter(f"job{i % 2}", f"t{i}", f"ValueError: row {i} is bad") for i in range(7)]
    letters += [letter("job9", "t0", "TimeoutError: gave up after 30 s")]

    groups = group(letters, samples=3)

    assert [(g.count, g.error_class, g.message) for g in groups] == [
        (7, "ValueError", "row <n> is bad"), (1, "TimeoutError", "gave up after <n> s"),
    ]
    big = groups[0]
    assert big.jobs == {"job0", "job1"}
    assert big.sample_task_ids == ["job0/t0", "job1/t1", "job0/t2"]
    assert big.sample_error == "ValueError: row 0 is bad"
    assert big.task_type == "echo" and big.fingerprint == letters[0].fingerprint


def test_groups_of_equal_size_are_ordered_by_fingerprint() -> None:
    letters = [letter("j", "a", "AError: x"), letter("j", "b", "BError: y")]
    assert [g.fingerprint for g in group(letters)] == sorted(d.fingerprint for d in letters)
    assert group([]) == []
