"""`FaultBook`: the injected faults of a stand-in, each with an id, claimed one hit at a time."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Claimable(Protocol):
    """What a stand-in's `Fault` offers the book: `matches(*key)`, a hit budget and an id."""

    hits: int
    id: int

    @property
    def matches(self) -> Callable[..., bool]: ...

    @property
    def times(self) -> int | None: ...


F = TypeVar("F", bound=Claimable)


class FaultBook(Generic[F]):
    """The active faults; the first one that matches and has hits left applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[F] = []
        self._ids = itertools.count(1)

    def add(self, fault: F) -> F:
        """Activate `fault`, giving it the next id; returns it."""
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def claim(self, *key: object) -> F | None:
        """The fault for the request `key` (what `Fault.matches` takes) with one hit spent, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(*key) and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def all(self) -> list[F]:
        with self._lock:
            return list(self._faults)
