"""tasklane.provided: every component's services are built once, on first use, and swapped the same way in tests."""

from __future__ import annotations

from tasklane.provided import provided, reset_all


def test_a_service_is_built_once_on_first_use_and_again_after_a_reset() -> None:
    built: list[int] = []

    @provided
    def store() -> int:
        built.append(len(built))
        return len(built)

    assert built == []  # nothing is built at import: a cold start pays only for what it calls
    assert store() == store() == 1 and built == [0]
    store.reset()
    assert store() == 2
    reset_all()
    assert store() == 3


def test_an_override_serves_the_replacement_only_within_its_block() -> None:
    @provided
    def settings() -> str:
        return "from the environment"

    assert settings() == "from the environment"
    with settings.override("from the test") as replaced:
        assert replaced == settings() == "from the test"
    assert settings() == "from the environment"


def test_an_override_of_a_service_never_built_leaves_it_unbuilt() -> None:
    calls: list[str] = []

    @provided
    def queue() -> str:
        calls.append("built")
        return "real"

    with queue.override("fake"):
        assert queue() == "fake"
    assert calls == []
    assert queue() == "real" and calls == ["built"]
