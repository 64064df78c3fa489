"""Comments and labels: a pull request is an issue with the same index.

As in `issue_comment.go`, `issue_label.go` and `label.go` of `routers/api/v1/repo`.

The stand-in has no plain issues, so an index that is not a pull request is a 404.
Adding labels takes ids or names (not both: 400 "labels should be an array of strings
or integers"); ids or names the repository does not have are skipped silently, as Gitea
does. Comments are not paginated (Gitea lists them all, with `X-Total-Count`).
"""

from __future__ import annotations

from typing import Any

from sandbox.gitea import events
from sandbox.gitea.errors import ApiError, binding_error
from sandbox.gitea.render import comment_json, label_json
from sandbox.gitea.routing import Reply, Request, paginate, route
from sandbox.gitea.store import Backend, Comment, Label, PullRequest, Repository, now

HEX = set("0123456789abcdefABCDEF")


def _issue(backend: Backend, req: Request) -> tuple[Repository, PullRequest]:
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    return repo, backend.store.pull(repo, req.params["index"])


def list_comments(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/issues/{index}/comments`, oldest first, all at once."""
    repo, pr = _issue(backend, req)
    shown = [comment_json(req.urls, backend.store, repo, pr, comment) for comment in pr.comments]
    return Reply(200, shown, {"X-Total-Count": str(len(shown))})


def create_comment(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/issues/{index}/comments` {body} → 201."""
    repo, pr = _issue(backend, req)
    body = req.json_object().get("body")
    if not body:
        raise binding_error("Body", "Required")
    comment = Comment(backend.store.next_id("comment"), req.login, str(body), now())
    pr.comments.append(comment)
    events.comment_created(backend, req.urls, repo, pr, comment)
    return Reply(201, comment_json(req.urls, backend.store, repo, pr, comment))


def list_repo_labels(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/labels`, by id, paginated."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    return paginate(req, [label_json(req.urls, repo, label) for _, label in sorted(repo.labels.items())])


def create_repo_label(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/labels` {name, color, description, exclusive} → 201; the colour is `#rrggbb` or `rrggbb`."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    data = req.json_object()
    for name in ("name", "color"):
        if not data.get(name):
            raise binding_error(name.capitalize(), "Required")
    color = str(data["color"]).lstrip("#")
    if len(color) != 6 or not set(color) <= HEX:
        raise ApiError(422, f"invalid color: {data['color']}")
    label = Label(
        backend.store.next_id("label"),
        str(data["name"]),
        f"#{color.lower()}",
        str(data.get("description") or ""),
        bool(data.get("exclusive")),
    )
    repo.labels[label.id] = label
    return Reply(201, label_json(req.urls, repo, label))


def list_issue_labels(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/issues/{index}/labels`."""
    repo, pr = _issue(backend, req)
    return Reply(200, _labels(req, repo, pr))


def add_issue_labels(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/issues/{index}/labels` {labels: [ids] or [names]} → 200, all the issue's labels."""
    repo, pr = _issue(backend, req)
    added = [label_id for label_id in _label_ids(repo, req.json_object().get("labels")) if label_id not in pr.labels]
    if added:
        pr.labels += added
        pr.updated_at = now()
        events.pull_request(backend, req.urls, req.login, repo, pr, "label_updated", event_type="pull_request_label")
    return Reply(200, _labels(req, repo, pr))


def remove_issue_label(backend: Backend, req: Request) -> Reply:
    """`DELETE /repos/{o}/{r}/issues/{index}/labels/{id}` → 204; 422 for a label the repository lacks."""
    repo, pr = _issue(backend, req)
    label_id = int(req.params["id"]) if req.params["id"].isdigit() else 0
    if label_id not in repo.labels:
        raise ApiError(422, f"label does not exist [label_id: {label_id}]")
    if label_id in pr.labels:
        pr.labels.remove(label_id)
        events.pull_request(backend, req.urls, req.login, repo, pr, "label_updated", event_type="pull_request_label")
    return Reply(204)


def _label_ids(repo: Repository, items: Any) -> list[int]:
    """Ids of the repository labels `items` names, by id or by name (Gitea's `prepareForReplaceOrAdd`)."""
    items = items if isinstance(items, list) else []
    ids = [item for item in items if isinstance(item, int) and not isinstance(item, bool)]
    names = [item for item in items if isinstance(item, str)]
    if len(ids) + len(names) != len(items):
        raise ApiError(400, "a label must be an integer or a string")
    if ids and names:
        raise ApiError(400, "labels should be an array of strings or integers")
    by_name = [label.id for label in repo.labels.values() if label.name in names]
    return list(dict.fromkeys(label_id for label_id in ids + by_name if label_id in repo.labels))


def _labels(req: Request, repo: Repository, pr: PullRequest) -> list[dict[str, Any]]:
    return [label_json(req.urls, repo, repo.labels[label_id]) for label_id in pr.labels]


REPO = "/repos/{owner}/{repo}"
ISSUE = f"{REPO}/issues/{{index}}"
ROUTES = [
    route("GET", f"{ISSUE}/comments", list_comments),
    route("POST", f"{ISSUE}/comments", create_comment),
    route("GET", f"{ISSUE}/labels", list_issue_labels),
    route("POST", f"{ISSUE}/labels", add_issue_labels),
    route("DELETE", f"{ISSUE}/labels/{{id}}", remove_issue_label),
    route("GET", f"{REPO}/labels", list_repo_labels),
    route("POST", f"{REPO}/labels", create_repo_label),
]
