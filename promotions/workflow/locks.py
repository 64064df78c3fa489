"""One writer per repository branch at a time, across processes and hosts.

Postgres advisory locks when the database is Postgres (every host shares it), a Redis
lock when Redis is configured, otherwise a file lock under the data dir (the
single-host embedded default). Waiting is bounded: a lock not obtained in time is a
TransientError, so the task retries instead of hanging.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import OperationalError, connection, transaction

from promotions.errors import TransientError
from promotions.gitops.filelock import file_lock


@contextmanager
def branch_lock(repository: str, branch: str, *, timeout: float = 60.0) -> Iterator[None]:
    """Hold the write lock for `repository`/`branch` for the duration of the block."""
    name = f"{repository}:{branch}"
    if connection.vendor == "postgresql":
        lock = _postgres_lock
    elif settings.REDIS_URL:
        lock = _redis_lock
    else:
        lock = _file_lock
    with lock(name, timeout):
        yield


def _busy(name: str, timeout: float) -> TransientError:
    return TransientError(f"another promotion is writing to {name} (waited {timeout:.0f}s); retrying")


@contextmanager
def _postgres_lock(name: str, timeout: float) -> Iterator[None]:
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    # Wait in Postgres, not in a polling loop: the next writer is woken the moment the lock is let
    # go (at a promotion a few dozen milliseconds long, polling every 50 ms wasted a third of it).
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        before = cursor.fetchone()[0]
        try:
            # In a transaction of its own (a savepoint inside a caller's): a cancel at the timeout rolls
            # back only this, the timeout setting with it, and leaves the caller's transaction usable.
            with transaction.atomic():
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, false)", [f"{max(1, int(timeout * 1000))}ms"]
                )
                cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        except OperationalError:  # canceled at the timeout
            raise _busy(name, timeout) from None
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [before])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextmanager
def _redis_lock(name: str, timeout: float) -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    # The lease outlives any single push but not a dead worker.
    lock = client.lock(f"gitops-portal:lock:{name}", timeout=settings.CELERY_TASK_TIME_LIMIT,
                       blocking_timeout=timeout, sleep=0.005)  # fmt: skip
    if not lock.acquire():
        raise _busy(name, timeout)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _file_lock(name: str, timeout: float) -> Iterator[None]:
    safe = hashlib.sha1(name.encode()).hexdigest()[:16]
    with file_lock(settings.DATA_DIR / "locks" / f"{safe}.lock", timeout, lambda: _busy(name, timeout)):
        yield
