"""Audit retention: the oldest prefix of the chain moves to gzip'd JSON-lines files, the table
stays bounded, and `audit verify` still checks everything, archives included. Only the archive
may delete audit rows: the ORM and (on Postgres) the trigger refuse everyone else."""

from __future__ import annotations

import gzip
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from promotions.audit.anchor import audit_anchor_write
from promotions.audit.archive import ARCHIVING, ArchiveCheck, archive_line, audit_archives_check
from promotions.audit.chain import GENESIS, audit_record, audit_verify
from promotions.catalogue.loader import catalog_load
from promotions.models import AuditArchive, AuditEvent


class Clock:
    """The time the audit code sees; moved on by hand."""

    def __init__(self) -> None:
        self.at = timezone.now()

    def now(self) -> datetime:
        return self.at

    def advance(self, *, days: int) -> None:
        self.at += timedelta(days=days)


@pytest.fixture
def clock(monkeypatch) -> Clock:  # type: ignore[no-untyped-def]
    clock = Clock()
    monkeypatch.setattr("promotions.audit.chain.timezone", clock)
    monkeypatch.setattr("promotions.audit.archive.timezone", clock)
    return clock


@pytest.fixture
def archive_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.GITOPS_PORTAL_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    return settings.GITOPS_PORTAL_AUDIT_ARCHIVE_DIR


def record(*actions: str, actor: str = "alice") -> list[AuditEvent]:
    return [audit_record(action=action, actor=actor, message=f"{action} by {actor}") for action in actions]


def audit(*args: str) -> tuple[int, str, str]:
    """`manage.py audit …`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def lines(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt") as file:
        return [json.loads(line) for line in file]


def old_and_new(clock: Clock) -> tuple[list[AuditEvent], list[AuditEvent]]:
    """Three events 40 days old, then two from today."""
    old = record("promotion.queued", "approval.approved", "promotion.merged")
    clock.advance(days=40)
    return old, record("promotion.queued", "promotion.pr_open", actor="bob")


def test_it_archives_the_oldest_prefix_to_a_gzip_jsonl_file_and_deletes_its_rows(db, clock, archive_dir):
    old, new = old_and_new(clock)
    documents = [archive_line(event) for event in old]

    code, out, _ = audit("archive", "--older-than", "30")

    name = f"audit-{old[0].pk}-{old[-1].pk}.jsonl.gz"
    assert code == 0
    assert out.startswith(f"archived 3 events (#{old[0].pk}–#{old[-1].pk}, older than ")
    assert lines(archive_dir / name) == documents
    assert all("prev_hash" in line and "hash" in line for line in documents)
    archive = AuditArchive.objects.get()
    assert (archive.first_id, archive.last_id, archive.count, archive.file_name) == (old[0].pk, old[-1].pk, 3, name)
    assert (archive.first_prev_hash, archive.last_hash, archive.who) == (GENESIS, old[-1].hash, "cli")
    assert not AuditEvent.objects.filter(pk__lte=old[-1].pk).exists()
    archived = AuditEvent.objects.latest("id")
    assert (archived.action, archived.prev_hash, archived.source) == ("audit.archived", new[-1].hash, "cli")
    assert archived.after["last_hash"] == old[-1].hash
    assert list(archive_dir.iterdir()) == [archive_dir / name]  # no temp file left behind


def test_it_archives_a_prefix_never_leaving_a_gap(db, clock, archive_dir):
    (first,) = record("promotion.queued")
    clock.advance(days=35)
    (recent,) = record("promotion.pr_open")
    clock.at -= timedelta(days=30)  # a clock that went back: an old event after a recent one
    (late,) = record("promotion.merged")
    clock.advance(days=35)

    audit("archive", "--older-than", "30")

    archive = AuditArchive.objects.get()
    assert (archive.first_id, archive.last_id, archive.count) == (first.pk, late.pk, 3)
    assert [line["id"] for line in lines(archive_dir / archive.file_name)] == [first.pk, recent.pk, late.pk]
    assert audit_verify().intact


def test_the_chain_verifies_across_archives_and_new_events(pipeline, clock, archive_dir):
    old = record("promotion.queued", "approval.approved", "promotion.merged")
    anchor = audit_anchor_write(catalog=catalog_load(pipeline))  # of an event then archived: read from its file
    clock.advance(days=40)
    audit("archive", "--older-than", "30")
    record("promotion.deployed")

    code, out, err = audit("verify")

    count = AuditEvent.objects.count()
    assert (code, err) == (0, "")
    assert out.startswith(
        f"{count} events, chain intact; MACs not checked (AUDIT_HMAC_KEY is not set); "
        f"1 archive intact ({len(old)} events) in {archive_dir}; 1 anchor matches (newest #{old[-1].pk} at "
    )
    assert anchor is not None
    assert anchor.event_id == old[-1].pk
    assert AuditEvent.objects.order_by("id").first().prev_hash == AuditArchive.objects.get().last_hash


def test_it_names_an_edited_archive_file(pipeline, clock, archive_dir):
    old_and_new(clock)
    audit("archive", "--older-than", "30")
    archive = AuditArchive.objects.get()
    edited = lines(archive_dir / archive.file_name)
    edited[1]["actor"] = "mallory"
    with gzip.open(archive_dir / archive.file_name, "wt") as file:
        file.writelines(json.dumps(line) + "\n" for line in edited)

    code, out, err = audit("verify")

    assert (code, out) == (1, "")
    assert f"but archive {archive.file_name} in {archive_dir} was altered: its sha256 does not match" in err
    assert f"has event #{edited[1]['id']} that breaks the chain: its content does not match its hash" in err


def test_it_names_a_truncated_or_missing_archive_file(db, clock, archive_dir):
    old_and_new(clock)
    audit("archive", "--older-than", "30")
    path = archive_dir / AuditArchive.objects.get().file_name
    content = path.read_bytes()

    path.write_bytes(content[: len(content) // 2])
    assert f"archive {path.name} in {archive_dir} is truncated or unreadable" in audit_archives_check().problem
    path.unlink()
    assert audit_archives_check().problem == f"archive {path.name} in {archive_dir} is missing"
    path.write_bytes(content)
    assert audit_archives_check().problem == ""


def test_it_archives_nothing_when_nothing_is_old_enough(db, clock, archive_dir):
    record("promotion.queued", "promotion.merged")

    code, out, _ = audit("archive", "--older-than", "30")

    assert (code, out.startswith("nothing to archive: no event older than ")) == (0, True)
    assert (AuditEvent.objects.count(), AuditArchive.objects.count(), archive_dir.exists()) == (2, 0, False)


def test_it_archives_nothing_without_a_retention_setting_or_older_than(db, clock, archive_dir, settings):
    settings.GITOPS_PORTAL_AUDIT_RETENTION_DAYS = None
    old_and_new(clock)
    assert audit("archive")[1].startswith("archiving is off")
    settings.GITOPS_PORTAL_AUDIT_RETENTION_DAYS = 30
    assert audit("archive")[1].startswith("archived 3 events")


def test_a_dry_run_changes_nothing(db, clock, archive_dir):
    old, new = old_and_new(clock)

    code, out, _ = audit("archive", "--older-than", "30", "--dry-run")

    assert out.startswith(f"would archive 3 events (#{old[0].pk}–#{old[-1].pk}, older than ")
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [e.pk for e in old + new]
    assert (code, AuditArchive.objects.count(), archive_dir.exists()) == (0, 0, False)


def test_two_archives_link_to_each_other_and_the_table_to_the_newest(db, clock, archive_dir):
    record("promotion.queued", "promotion.merged")
    clock.advance(days=40)
    audit("archive", "--older-than", "30")  # everything was old: the table was empty for a moment
    first = AuditArchive.objects.get()
    assert AuditEvent.objects.get().prev_hash == first.last_hash  # audit.archived links to the archive's head
    record("promotion.deployed")
    clock.advance(days=40)
    record("promotion.verified")

    audit("archive", "--older-than", "30")

    first, second = AuditArchive.objects.order_by("first_id")
    assert (second.first_id, second.first_prev_hash, second.count) == (first.last_id + 1, first.last_hash, 2)
    assert AuditEvent.objects.order_by("id").first().prev_hash == second.last_hash
    assert audit_verify().intact
    assert audit_archives_check() == ArchiveCheck(archive_dir, archives=2, events=4)


def test_the_orm_still_refuses_to_delete_or_change_audit_rows_and_archive_records(db, clock, archive_dir):
    old_and_new(clock)
    audit("archive", "--older-than", "30")
    archive = AuditArchive.objects.get()

    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(action="promotion.queued").delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().update(actor="mallory")
    with pytest.raises(PermissionError):
        AuditArchive.objects.all().delete()
    archive.last_hash = GENESIS
    with pytest.raises(PermissionError):
        archive.save()
    assert AuditEvent.objects.count() == 3
    assert AuditArchive.objects.get().last_hash != GENESIS


def refused(sql: str, params: list[object]) -> bool:
    """Whether the database refuses the statement (in a savepoint, so the test goes on)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        return "append-only" in str(exc)
    return False


def test_the_postgres_trigger_refuses_sql_deletes_outside_the_archive(db, clock, archive_dir):
    if connection.vendor != "postgresql":
        pytest.skip("the database is not Postgres (CI runs this on Postgres)")
    old, new = old_and_new(clock)
    assert refused("DELETE FROM promotions_auditevent WHERE id = %s", [old[0].pk])

    audit("archive", "--older-than", "30")  # the archive path gets through

    archive = AuditArchive.objects.get()
    assert not AuditEvent.objects.filter(pk__lte=archive.last_id).exists()
    assert refused("DELETE FROM promotions_auditevent WHERE id = %s", [new[0].pk])
    assert refused("UPDATE promotions_auditevent SET actor = 'mallory' WHERE id = %s", [new[0].pk])
    # Even with the archive's setting on, a row no archive covers stays; archive records never go.
    set_on = f"SELECT set_config('{ARCHIVING}', 'on', true); "
    assert refused(set_on + "DELETE FROM promotions_auditevent WHERE id = %s", [new[0].pk])
    assert refused(set_on + "UPDATE promotions_auditevent SET actor = 'mallory' WHERE id = %s", [new[0].pk])
    assert refused("DELETE FROM promotions_auditarchive WHERE id = %s", [archive.pk])
    assert refused("UPDATE promotions_auditarchive SET last_hash = '' WHERE id = %s", [archive.pk])
    assert AuditEvent.objects.count() == 3
    assert audit_verify().intact


def test_it_anchors_the_head_after_archiving_with_to_ref(pipeline, repo, clock, archive_dir):
    old_and_new(clock)

    code, out, _ = audit("archive", "--older-than", "30", "--to-ref")

    head = AuditEvent.objects.latest("id")
    assert (code, head.action) == (0, "audit.archived")
    assert out.splitlines()[1].startswith(f"event #{head.pk} anchored at ")
    assert head.after["last_hash"] == AuditArchive.objects.get().last_hash  # the anchored head names the archive's
    assert audit("verify")[0] == 0
