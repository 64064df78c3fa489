"""Work done once per state of the data, shared: what is computed from the matrix for everyone (the
dashboard's relations, the API's document) is kept under a key that names that state (a version
token), in the cache every process shares (Redis when configured) and, unpickled, in this
process's last-used slot per kind. A new state is a new key: nothing is ever invalidated by hand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

T = TypeVar("T")
TTL = 3600
_slots: dict[str, tuple[str, Any]] = {}  # kind -> (key, value): the last this process used
_lock = threading.Lock()


def shared(kind: str, key: str, compute: Callable[[], T]) -> T:
    """The value of `kind` for state `key`: this process's copy, else the shared cache's, else
    `compute()` (then kept in both)."""
    with _lock:
        slot = _slots.get(kind)
    if slot is not None and slot[0] == key:
        return slot[1]
    value = cache.get(f"{kind}:{key}")
    if value is None:
        value = compute()
        cache.set(f"{kind}:{key}", value, TTL)
    with _lock:
        _slots[kind] = (key, value)
    return value


def shared_forget() -> None:
    """Forget this process's copies (tests: each starts from a database whose ids start over)."""
    with _lock:
        _slots.clear()
