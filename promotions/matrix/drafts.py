"""Adding a repository ("Add a repository"): an admin names a Git URL, a worker infers its catalogue and reads it
(`catalogue_preview`), and the page shows the result to copy into Git. The portal never edits
its own catalogue: the draft is only ever text to download.

Cloning is slow, so it never runs in a web request: the request stores a queued draft and the
task `catalogue_draft_task` builds it, claiming the row so a redelivered task does nothing twice.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.errors import PermanentError, PortalError
from promotions.matrix.preview import Preview, catalogue_preview
from promotions.models import CatalogueDraft
from promotions.queue import task_send
from promotions.text import redact, text_problem

State = CatalogueDraft.State
_SCP_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[^-:][^:]*")
_BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")


def draft_url_problem(url: str, *, file_urls: bool = False) -> str | None:
    """Why `url` may not be cloned for a draft (None when it may): https:// or ssh only, and
    file:// when `file_urls` (a file URL reads the portal host's own disk)."""
    if not url:
        return "give the repository's clone URL"
    if problem := text_problem(url):
        return f"the URL {problem}"
    if " " in url:
        return "the URL must not contain spaces"
    if _SCP_LIKE.fullmatch(url):
        return None
    parts = urlsplit(url)
    if parts.scheme == "file" and file_urls and parts.path.startswith("/"):
        return None
    if parts.scheme not in ("https", "ssh") or not parts.hostname or parts.hostname.startswith("-"):
        return "use an https:// or ssh URL (ssh://host/path or git@host:path)"
    if parts.scheme == "https" and parts.username is not None:
        return "leave credentials out of the URL: the workers' Git credential helper or SSH key provides them"
    return None


def draft_branch_problem(branch: str) -> str | None:
    """Why `branch` is not a usable branch name (None when it is)."""
    if problem := text_problem(branch):
        return f"the branch {problem}"
    if not _BRANCH.fullmatch(branch) or ".." in branch or branch.endswith((".lock", "/", ".")):
        return "the branch must be a plain branch name such as main (letters, digits, . _ - /)"
    return None


def catalogue_draft_request(*, user: User, url: str, branch: str, file_urls: bool = False) -> CatalogueDraft:
    """Record a queued draft and its audit event together; the task is queued once both are
    committed. PermanentError when the URL or branch is refused."""
    if problem := draft_url_problem(url, file_urls=file_urls) or draft_branch_problem(branch):
        raise PermanentError(problem)
    with transaction.atomic():
        draft = CatalogueDraft.objects.create(requested_by=user, url=url, branch=branch)
        audit_record(action="catalogue.init_requested", actor=user.get_username(),
                     message=f"infer a catalogue from {redact(url)} ({branch})", targets={"catalogue_draft": draft.pk},
                     after={"url": redact(url), "branch": branch})  # fmt: skip
        transaction.on_commit(lambda: catalogue_draft_dispatch(draft_id=draft.pk))
    return draft


def catalogue_draft_dispatch(*, draft_id: int) -> bool:
    """Send the draft to a worker; when the queue is unreachable, the draft says so (and stays queued)."""
    problem = task_send("catalogue_draft_task", draft_id)
    if problem:
        CatalogueDraft.objects.filter(pk=draft_id, state=State.QUEUED).update(error=f"not started: {problem}")
    return not problem


def catalogue_draft_build(*, draft_id: int) -> None:
    """Clone, infer and read the draft's repository, storing the catalogue and its matrix, or why
    not. Only a queued draft is built: the claim (queued → running) makes a second call a no-op."""
    if not CatalogueDraft.objects.filter(pk=draft_id, state=State.QUEUED).update(state=State.RUNNING, error=""):
        return
    draft = CatalogueDraft.objects.get(pk=draft_id)
    try:
        preview = catalogue_preview(url=draft.url, branch=draft.branch)
    except PortalError as exc:
        _finish(draft_id, state=State.FAILED, error=_naming_url(str(exc), draft))
        return
    _finish(draft_id, state=State.DONE, text=preview.text, preview=preview_document(preview))


def _finish(draft_id: int, **fields: Any) -> None:
    CatalogueDraft.objects.filter(pk=draft_id, state=State.RUNNING).update(finished_at=timezone.now(), **fields)


def _naming_url(message: str, draft: CatalogueDraft) -> str:
    """The error as a person reads it: which repository it is about, first."""
    url = redact(draft.url)
    return message if url in message else f"{url} ({draft.branch}): {message}"


def preview_document(preview: Preview) -> dict[str, Any]:
    """What the draft page shows, as JSON: stages in order, their upstreams, one row per application
    with its cells, and what could not be inferred."""
    stages, cells = list(preview.inference.stages), preview.cells
    apps = sorted({app for app, _stage in cells})
    rows = [{"app": app, "cells": {s: _cell(cells[app, s]) for s in stages if (app, s) in cells}} for app in apps]
    return {"commit": preview.commit, "stages": stages, "rows": rows,
            "upstream": {stage: list(preview.inference.upstream.get(stage, [])) for stage in stages},
            "unresolved": list(preview.inference.unresolved)}  # fmt: skip


def _cell(cell: dict[str, Any]) -> dict[str, Any]:
    return {"version": cell.get("version"), "path": cell.get("path"), "line": cell.get("line"),
            "error": cell.get("error")}  # fmt: skip
