"""Issue endpoints as they apply to pull requests: the issue itself, comments, labels.

On GitHub every pull request is also an issue with the same number; the stand-in has
no plain issues, so an issue number that is not a pull request is a 404.
"""

from __future__ import annotations

from typing import Any

from sandbox.github import events
from sandbox.github.errors import ApiError, missing_field, validation_failed
from sandbox.github.render import comment_json, issue_json, label_json
from sandbox.github.routing import Reply, Request, paginate, route
from sandbox.github.store import Backend, Comment, PullRequest, Repository, now


def _issue(backend: Backend, req: Request) -> tuple[Repository, PullRequest]:
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    return repo, backend.store.pull(repo, req.params["number"])


def get_issue(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/issues/{n}`."""
    repo, pr = _issue(backend, req)
    return Reply(200, issue_json(req.urls, repo, pr))


def list_comments(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/issues/{n}/comments`, oldest first, paginated."""
    repo, pr = _issue(backend, req)
    return paginate(req, [comment_json(req.urls, repo, pr, comment) for comment in pr.comments])


def create_comment(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/issues/{n}/comments` {body} → 201."""
    repo, pr = _issue(backend, req)
    body = req.json_object().get("body")
    if not body:
        raise validation_failed(missing_field("IssueComment", "body"))
    comment = Comment(backend.store.next_id(), body, req.login, now(), now())
    pr.comments.append(comment)
    events.comment_created(backend, req, repo, pr, comment)
    shown = comment_json(req.urls, repo, pr, comment)
    return Reply(201, shown, {"Location": shown["url"]})


def list_labels(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/issues/{n}/labels`."""
    repo, pr = _issue(backend, req)
    return paginate(req, _labels(req, repo, pr))


def add_labels(backend: Backend, req: Request) -> Reply:
    """`POST …/labels`: a bare JSON list (what PyGithub sends) or {"labels": […]}; answers all labels."""
    repo, pr = _issue(backend, req)
    for name in _label_names(req.body):
        _attach(backend, req, repo, pr, name)
    return Reply(200, _labels(req, repo, pr))


def set_labels(backend: Backend, req: Request) -> Reply:
    """`PUT …/labels`: replace the issue's labels."""
    repo, pr = _issue(backend, req)
    wanted = _label_names(req.body)
    for name in [name for name in pr.labels if name.lower() not in {w.lower() for w in wanted}]:
        _detach(backend, req, repo, pr, name)
    for name in wanted:
        _attach(backend, req, repo, pr, name)
    return Reply(200, _labels(req, repo, pr))


def remove_label(backend: Backend, req: Request) -> Reply:
    """`DELETE …/labels/{name}`: answers the remaining labels; 404 "Label does not exist" otherwise."""
    repo, pr = _issue(backend, req)
    name = req.params["name"]
    if name.lower() not in {label.lower() for label in pr.labels}:
        raise ApiError(404, "Label does not exist")
    _detach(backend, req, repo, pr, name)
    return Reply(200, _labels(req, repo, pr))


def remove_all_labels(backend: Backend, req: Request) -> Reply:
    """`DELETE …/labels` → 204."""
    repo, pr = _issue(backend, req)
    for name in list(pr.labels):
        _detach(backend, req, repo, pr, name)
    return Reply(204)


def _label_names(body: Any) -> list[str]:
    items = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise validation_failed(missing_field("Label", "labels"))
    names = [item.get("name") if isinstance(item, dict) else item for item in items]
    if not all(isinstance(name, str) and name for name in names):
        raise validation_failed({"resource": "Label", "field": "name", "code": "invalid"})
    return [str(name) for name in names]


def _attach(backend: Backend, req: Request, repo: Repository, pr: PullRequest, name: str) -> None:
    label = backend.store.label(repo, name)
    if label.name.lower() in {existing.lower() for existing in pr.labels}:
        return
    pr.labels.append(label.name)
    pr.updated_at = now()
    events.pull_request(backend, req, repo, pr, "labeled", label=label_json(req.urls, repo, label))


def _detach(backend: Backend, req: Request, repo: Repository, pr: PullRequest, name: str) -> None:
    label = backend.store.label(repo, name)
    pr.labels = [existing for existing in pr.labels if existing.lower() != name.lower()]
    pr.updated_at = now()
    events.pull_request(backend, req, repo, pr, "unlabeled", label=label_json(req.urls, repo, label))


def _labels(req: Request, repo: Repository, pr: PullRequest) -> list[dict[str, Any]]:
    return [label_json(req.urls, repo, repo.labels[name.lower()]) for name in pr.labels]


ISSUE = "/repos/{owner}/{repo}/issues/{number}"
ROUTES = [
    route("GET", ISSUE, get_issue),
    route("GET", f"{ISSUE}/comments", list_comments),
    route("POST", f"{ISSUE}/comments", create_comment),
    route("GET", f"{ISSUE}/labels", list_labels),
    route("POST", f"{ISSUE}/labels", add_labels),
    route("PUT", f"{ISSUE}/labels", set_labels),
    route("DELETE", f"{ISSUE}/labels", remove_all_labels),
    route("DELETE", f"{ISSUE}/labels/{{name*}}", remove_label),
]
