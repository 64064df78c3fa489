"""Pull request reviews (`routers/api/v1/repo/pull_review.go`), submitted as the token's user.

`event` is Gitea's review state: APPROVED, REQUEST_CHANGES or COMMENT; anything else
(GitHub's "APPROVE" included) makes a PENDING review, which like Gitea needs a body.
Refusals, all 422, with Gitea's texts:
- the author approving their own pull request: "approve your own pull is not allowed";
- the author requesting changes on it: "reject your own pull is not allowed";
- REQUEST_CHANGES (or pending) without a body: "review event REQUEST_CHANGES requires a body";
- COMMENT without a body: "review event COMMENT requires a body or a comment";
- approving or rejecting a closed or merged pull request: "can't submit review for a closed or merged PR".
A review's `stale` turns true once the head moves past its `commit_id`; only each
reviewer's latest approval or rejection is `official`.
"""

from __future__ import annotations

from sandbox.gitea import events
from sandbox.gitea.errors import ApiError, not_found
from sandbox.gitea.pr_state import refresh
from sandbox.gitea.render import review_json
from sandbox.gitea.routing import Reply, Request, paginate, route
from sandbox.gitea.store import Backend, PullRequest, Review, now

SUBMITTED = ("APPROVED", "REQUEST_CHANGES", "COMMENT")
OWN_PULL = {
    "APPROVED": "approve your own pull is not allowed",
    "REQUEST_CHANGES": "reject your own pull is not allowed",
}


def create_review(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/pulls/{index}/reviews` {event, body, commit_id} → 200."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["index"]))
    data = req.json_object()
    sent = str(data.get("event") or "")
    event = sent if sent in SUBMITTED else "PENDING"
    body = str(data.get("body") or "")
    _check(pr, req.login, event, sent, body)
    review = Review(
        backend.store.next_id("review"), req.login, event, body, data.get("commit_id") or pr.head_sha, now()
    )
    pr.reviews.append(review)
    if event != "PENDING":
        events.review_submitted(backend, req.urls, repo, pr, review)
    return Reply(200, review_json(req.urls, backend.store, repo, pr, review))


def _check(pr: PullRequest, login: str, event: str, sent: str, body: str) -> None:
    """Gitea's `preparePullReviewType` then `SubmitReview` refusals, in that order."""
    if event in OWN_PULL and pr.user == login:
        raise ApiError(422, OWN_PULL[event])
    if event == "COMMENT" and not body.strip():
        raise ApiError(422, "review event COMMENT requires a body or a comment")
    if event in ("REQUEST_CHANGES", "PENDING") and not body.strip():
        raise ApiError(422, f"review event {sent} requires a body")
    if event in OWN_PULL and pr.state != "open":
        raise ApiError(422, "can't submit review for a closed or merged PR")


def list_reviews(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{index}/reviews`, oldest first (others' pending reviews hidden)."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["index"]))
    visible = [r for r in pr.reviews if r.state != "PENDING" or r.user == req.login]
    shown = [review_json(req.urls, backend.store, repo, pr, review) for review in visible]
    return paginate(req, shown, links=False)


def get_review(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{index}/reviews/{id}`."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["index"]))
    found = next((r for r in pr.reviews if str(r.id) == req.params["id"]), None)
    if found is None or (found.state == "PENDING" and found.user != req.login):
        raise not_found()
    return Reply(200, review_json(req.urls, backend.store, repo, pr, found))


def dismiss_review(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/pulls/{index}/reviews/{id}/dismissals` {message} → 200: the review stays
    listed, with `dismissed: true`, and no longer counts towards the approvals a merge needs."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["index"]))
    found = next((r for r in pr.reviews if str(r.id) == req.params["id"]), None)
    if found is None or found.state == "PENDING":
        raise not_found()
    found.dismissed = True
    return Reply(200, review_json(req.urls, backend.store, repo, pr, found))


REVIEWS = "/repos/{owner}/{repo}/pulls/{index}/reviews"
ROUTES = [
    route("GET", REVIEWS, list_reviews),
    route("POST", REVIEWS, create_review),
    route("GET", f"{REVIEWS}/{{id}}", get_review),
    route("POST", f"{REVIEWS}/{{id}}/dismissals", dismiss_review),
]
