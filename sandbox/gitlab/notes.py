"""Merge request notes (comments), written as the token's user."""

from __future__ import annotations

from sandbox.gitlab import events
from sandbox.gitlab.errors import invalid, missing, not_found
from sandbox.gitlab.render import note_json
from sandbox.gitlab.routing import Reply, Request, paginate, route
from sandbox.gitlab.store import Backend, MergeRequest, Note, Project, now


def _target(backend: Backend, req: Request) -> tuple[Project, MergeRequest]:
    project = backend.store.project(req.params["id"])
    return project, backend.store.merge_request(project, req.params["iid"])


def _merge_request(backend: Backend, req: Request) -> MergeRequest:
    return _target(backend, req)[1]


def list_notes(backend: Backend, req: Request) -> Reply:
    """`GET …/merge_requests/:iid/notes`: newest first unless `sort=asc` (GitLab's default is desc)."""
    mr = _merge_request(backend, req)
    sort, order = req.query.get("sort", "desc"), req.query.get("order_by", "created_at")
    if sort not in ("asc", "desc"):
        raise invalid("sort")
    if order not in ("created_at", "updated_at"):
        raise invalid("order_by")
    found = sorted(mr.notes, key=lambda note: (getattr(note, order), note.id), reverse=sort == "desc")
    return paginate(req, [note_json(req.urls, mr.id, mr.iid, note) for note in found])


def get_note(backend: Backend, req: Request) -> Reply:
    """`GET …/merge_requests/:iid/notes/:note_id`."""
    mr = _merge_request(backend, req)
    found = next((note for note in mr.notes if str(note.id) == req.params["note"]), None)
    if found is None:
        raise not_found("Note")
    return Reply(200, note_json(req.urls, mr.id, mr.iid, found))


def create_note(backend: Backend, req: Request) -> Reply:
    """`POST …/merge_requests/:iid/notes` {body} → 201, and a "Note Hook"."""
    project, mr = _target(backend, req)
    body = req.data().get("body")
    if not body:
        raise missing("body")
    note = Note(backend.store.next_id(), str(body), req.user, now(), now())
    mr.notes.append(note)
    events.note(backend, req.urls, req.user, project, mr, note)
    return Reply(201, note_json(req.urls, mr.id, mr.iid, note))


NOTES = "/projects/{id}/merge_requests/{iid}/notes"
ROUTES = [
    route("GET", NOTES, list_notes),
    route("POST", NOTES, create_note),
    route("GET", f"{NOTES}/{{note}}", get_note),
]
