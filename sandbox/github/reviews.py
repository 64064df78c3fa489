"""Pull request reviews, submitted as the token's user, with GitHub's self-review refusals."""

from __future__ import annotations

from sandbox.github import events
from sandbox.github.errors import invalid_field, not_found, unprocessable, validation_failed
from sandbox.github.pr_state import refresh
from sandbox.github.render import review_json
from sandbox.github.routing import Reply, Request, paginate, route
from sandbox.github.store import Backend, Review, now

DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
STATES = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED", None: "PENDING"}
SELF_REVIEW = {
    "APPROVE": "Can not approve your own pull request",
    "REQUEST_CHANGES": "Can not request changes on your own pull request",
}


def create_review(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/pulls/{n}/reviews` {event, body, commit_id}; no event leaves it PENDING."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["number"]))
    data = req.json_object()
    event, body = data.get("event"), data.get("body") or ""
    if event not in STATES:
        raise validation_failed(invalid_field("PullRequestReview", "event"), docs=DOCS)
    if event in SELF_REVIEW and req.login == pr.user:
        raise unprocessable(SELF_REVIEW[event], docs=DOCS)
    if event == "REQUEST_CHANGES" and not body:
        raise unprocessable("Body is required when requesting changes", docs=DOCS)
    commit_id = data.get("commit_id") or pr.head_sha
    review = Review(backend.store.next_id(), req.login, body, STATES[event], commit_id, now() if event else None)
    pr.reviews.append(review)
    if event:
        events.review_submitted(backend, req, repo, pr, review)
    return Reply(200, review_json(req.urls, repo, pr, review))


def list_reviews(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{n}/reviews`, oldest first."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = backend.store.pull(repo, req.params["number"])
    return paginate(req, [review_json(req.urls, repo, pr, review) for review in pr.reviews])


def get_review(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{n}/reviews/{id}`."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = backend.store.pull(repo, req.params["number"])
    found = next((review for review in pr.reviews if str(review.id) == req.params["id"]), None)
    if found is None:
        raise not_found()
    return Reply(200, review_json(req.urls, repo, pr, found))


def dismiss_review(backend: Backend, req: Request) -> Reply:
    """`PUT /repos/{o}/{r}/pulls/{n}/reviews/{id}/dismissals` {message}: an approval or a change request
    becomes DISMISSED (a comment cannot be dismissed, as on GitHub)."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = backend.store.pull(repo, req.params["number"])
    found = next((review for review in pr.reviews if str(review.id) == req.params["id"]), None)
    if found is None:
        raise not_found()
    if not req.json_object().get("message"):
        raise validation_failed(invalid_field("PullRequestReview", "message"), docs=DOCS)
    if found.state not in ("APPROVED", "CHANGES_REQUESTED"):
        raise unprocessable(f"Can not dismiss a {found.state.lower()} pull request review", docs=DOCS)
    found.state = "DISMISSED"
    events.review_submitted(backend, req, repo, pr, found, action="dismissed")
    return Reply(200, review_json(req.urls, repo, pr, found))


REVIEWS = "/repos/{owner}/{repo}/pulls/{number}/reviews"
ROUTES = [
    route("GET", REVIEWS, list_reviews),
    route("POST", REVIEWS, create_review),
    route("GET", f"{REVIEWS}/{{id}}", get_review),
    route("PUT", f"{REVIEWS}/{{id}}/dismissals", dismiss_review),
]
