"""One writer per repository branch: every lock flavour excludes a second holder and lets it
in once the first is done."""

import os
import threading

import pytest
from django.db import connection, connections

from promotions.errors import TransientError
from promotions.workflow import locks
from sandbox.processes import RedisServer


def contend(lock) -> list[str]:
    """Thread A holds the lock; B gives up after 0.2 s; once A is done, C gets it."""
    held, release, outcome = threading.Event(), threading.Event(), []

    def holder() -> None:
        with lock("platform:main", 5):
            held.set()
            release.wait(5)
        connections.close_all()

    def contender(name: str) -> None:
        try:
            with lock("platform:main", 0.2):
                outcome.append(f"{name} got it")
        except TransientError as exc:
            outcome.append(f"{name}: {exc}")
        connections.close_all()

    first = threading.Thread(target=holder)
    first.start()
    held.wait(5)
    second = threading.Thread(target=contender, args=("B",))
    second.start()
    second.join()
    release.set()
    first.join()
    third = threading.Thread(target=contender, args=("C",))
    third.start()
    third.join()
    return outcome


EXPECTED = ["B: another promotion is writing to platform:main (waited 0s); retrying", "C got it"]


def test_the_file_lock_excludes_a_second_writer(data_dir):
    assert contend(locks._file_lock) == EXPECTED


def test_the_redis_lock_excludes_a_second_writer(tmp_path, settings):
    if not RedisServer.available():
        if os.environ.get("GITOPS_PORTAL_REQUIRE_SERVICES"):
            pytest.fail("redis-server is required here but not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis").start()
    try:
        settings.REDIS_URL = server.url
        assert contend(locks._redis_lock) == EXPECTED
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_postgres_advisory_lock_excludes_a_second_writer():
    if connection.vendor != "postgresql":
        pytest.skip("the database is not Postgres (CI runs this on Postgres)")
    assert contend(locks._postgres_lock) == EXPECTED
