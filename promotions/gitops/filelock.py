"""A bounded exclusive file lock (flock) for one host; no Django, so the git plumbing can use it."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

POLL = 0.05


@contextmanager
def file_lock(path: Path, timeout: float, busy: Callable[[], Exception]) -> Iterator[None]:
    """Hold `path` exclusively for the block; raise `busy()` when not obtained within `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy() from None
                time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
