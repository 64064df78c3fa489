"""Never answer from an empty (or abandoned) store.

The pages, the API, chat and the promotion services answer from what the refreshes stored
(`RepositoryState`, `StageVersion`). On a fresh server, before the first refresh, that store is
empty and every answer would be wrong in a plausible way: no applications, "unknown application".
The same holds when nothing has even tried to read Git for several refresh intervals (no worker or
no beat runs): the store says what was true then. So whoever needs the store first makes sure every
repository of the catalogue was read, and tried recently (a fetch that failed recently counts: its
error is shown with the last good cells):

- where waiting is fine (a command line, a worker): `store_read` reads the unread repositories here
  and now, one read at a time per repository (a lock of its own: whoever holds it reads, the
  others wait for it, bounded, and find the cells stored);
- in a web request (the API, chat): Git is never read there (a slow server or a cold clone would
  hold the request and its process). `store_wait` asks a worker to read and waits at most a few
  seconds for it; otherwise `NotReadYet`, answered "not read yet, retry in N s" (HTTP 503 with
  `Retry-After`) while the worker carries on.

It lives in `workflow` for the locks (`workflow.locks`), which the matrix below cannot import.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from promotions.catalogue.lookups import Catalog
from promotions.errors import TransientError
from promotions.matrix.refresh import matrix_refresh, matrix_refresh_request
from promotions.models import RepositoryState
from promotions.workflow.locks import branch_lock

# The read lock's "branch": no Git branch can be named so ('~' is not allowed in ref names), so it
# never shares a lock with a writer of a real branch.
READ_LOCK = "~first-read"
WEB_WAIT = 5.0  # seconds a web request waits for a worker's first read (Slack allows 3 s: chat waits less)
CHAT_WAIT = 2.0
READ_WAIT = 120.0  # seconds a command line waits for another process's first read of the same repository
RETRY_AFTER = 10  # seconds, said to the client (Retry-After)
POLL = 0.2
QUEUED_KEY = "gitops-portal:store:first-read-queued"


class NotReadYet(TransientError):
    """A repository has never been read from Git: nothing can be answered about it yet."""

    def __init__(self, repositories: Collection[str], *, retry_after: int = RETRY_AFTER, why: str = "") -> None:
        self.repositories = sorted(repositories)
        self.retry_after = retry_after
        names = ", ".join(self.repositories)
        detail = f" ({why})" if why else " (a worker is reading it from Git now)"
        super().__init__(f"repository {names}: not read yet, retry in {retry_after} s{detail}")


def stale_after() -> timedelta:
    """How long after the last attempt to read Git the store no longer counts (three refresh
    intervals, at least three minutes: a late beat is not an abandoned store)."""
    return timedelta(seconds=max(3 * settings.GITOPS_PORTAL_GIT_REFRESH_SECONDS, 180))


def store_unread(*, catalog: Catalog, repositories: Collection[str] | None = None) -> list[str]:
    """The catalogue's repositories (or those of `repositories`) that cannot be answered from: no
    snapshot stored (never read, or every read so far failed), or no read even tried for longer
    than `stale_after()`."""
    names = [r.name for r in catalog.repositories if repositories is None or r.name in repositories]
    recent = timezone.now() - stale_after()
    read = set(
        RepositoryState.objects.filter(name__in=names, read_at__isnull=False, checked_at__gte=recent).values_list(
            "name", flat=True
        )
    )
    return [name for name in names if name not in read]


def store_read(*, catalog: Catalog, timeout: float | None = None) -> None:
    """Read every repository that has no snapshot yet, here and now, one read at a time per
    repository. NotReadYet naming the cause when one cannot be read (or another process's read
    took longer than `timeout`, default READ_WAIT)."""
    timeout = READ_WAIT if timeout is None else timeout
    for name in store_unread(catalog=catalog):
        try:
            with branch_lock(name, READ_LOCK, timeout=timeout):
                if store_unread(catalog=catalog, repositories=[name]):  # not read while we waited
                    matrix_refresh(catalog=catalog, repositories=[name])
        except NotReadYet:
            raise
        except TransientError:
            raise NotReadYet([name], why=f"another process has been reading it for {timeout:.0f} s") from None
    _raise_if_unread(catalog, None)


def store_wait(*, catalog: Catalog, wait: float | None = None) -> None:
    """For a web request: when a repository has no snapshot yet, ask a worker to read it and wait at
    most `wait` seconds (default WEB_WAIT) for the worker to store it; NotReadYet otherwise (the
    worker carries on)."""
    wait = WEB_WAIT if wait is None else wait
    if not store_unread(catalog=catalog):
        return
    problem = ""
    if cache.add(QUEUED_KEY, True, timeout=RETRY_AFTER):  # one request queues the read; the others wait for it
        problem = matrix_refresh_request()
        if problem:
            cache.delete(QUEUED_KEY)
    deadline = time.monotonic() + wait
    while not problem and time.monotonic() < deadline:
        time.sleep(POLL)
        if not store_unread(catalog=catalog):
            return
    _raise_if_unread(catalog, problem)


def _raise_if_unread(catalog: Catalog, problem: str | None) -> None:
    unread = store_unread(catalog=catalog)
    if not unread:
        return
    states = {s.name: s for s in RepositoryState.objects.filter(name__in=unread)}
    reasons = []
    for name in unread:
        state = states.get(name)
        if state is not None and state.error:
            reasons.append(f"the last read failed: {state.error}")
        elif state is not None and state.read_at is not None and state.checked_at is not None:
            minutes = int((timezone.now() - state.checked_at).total_seconds() // 60)
            reasons.append(f"last read {minutes} min ago and not tried since: is a worker running?")
    raise NotReadYet(unread, why=problem or "; ".join(reasons))
