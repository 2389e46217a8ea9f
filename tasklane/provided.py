"""How every component builds its services: `@provided` functions, built once per process on first use.

Handlers and the worker's entry point declare each service (settings, stores, clients, the delivery handler)
as a `@provided` function and call it where they need it, so a cold start pays only for what its request
uses. Tests swap any of them in one way, `with handler.store.override(fake): ...`, and `reset_all()` forgets
every built one between tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar, cast

T = TypeVar("T")
_EVERY: list[Provided[object]] = []


class Provided(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        functools.update_wrapper(self, build)
        self._build = build
        self._value: T | None = None
        self._built = False
        _EVERY.append(cast("Provided[object]", self))

    def __call__(self) -> T:
        if not self._built:
            self._value, self._built = self._build(), True
        return cast(T, self._value)

    @contextmanager
    def override(self, value: T) -> Iterator[T]:
        """Serve `value` instead, until the block ends (then what was there before)."""
        saved = (self._value, self._built)
        self._value, self._built = value, True
        try:
            yield value
        finally:
            self._value, self._built = saved

    def reset(self) -> None:
        """Forget the built service: the next call builds it again (from the settings as they are then)."""
        self._value, self._built = None, False


def provided(build: Callable[[], T]) -> Provided[T]:
    return Provided(build)


def reset_all() -> None:
    for service in _EVERY:
        service.reset()
