"""One writer per repository branch at a time, across processes and hosts.

Postgres advisory locks when the database is Postgres (every host shares it), a Redis
lock when Redis is configured, otherwise a file lock under the data dir (the
single-host embedded default). Waiting is bounded: a lock not obtained in time is a
TransientError, so the task retries instead of hanging.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from promotions.errors import TransientError
from promotions.gitops.filelock import POLL, file_lock


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
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() > deadline:
                raise _busy(name, timeout)
            time.sleep(POLL)
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
                       blocking_timeout=timeout)  # fmt: skip
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
