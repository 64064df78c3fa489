"""What reviewers read: commit messages and pull-request bodies for promotions."""

from __future__ import annotations

from promotions.models import Promotion, PromotionItem

TRAILER = "Promotion-Id"
METADATA_TRAILERS = {
    "issue": "Issue",
    "build": "Build",
    "source_repository": "Source-Repository",
    "source_commit": "Source-Commit",
}


def trailer(promotion_id: int) -> str:
    return f"{TRAILER}: {promotion_id}"


def commit_message(promotion: Promotion, items: list[PromotionItem]) -> str:
    """Subject, one line per application (old → new), the reason, and trailers."""
    lines = [promotion.title, ""]
    origin = f" (from {promotion.from_stage})" if promotion.from_stage else ""
    for item in items:
        lines.append(f"{item.application}: {item.from_version or '?'} → {item.to_version}{origin}")
    if promotion.reason:
        lines += ["", promotion.reason.strip()]
    lines += ["", *trailers(promotion)]
    return "\n".join(lines) + "\n"


def trailers(promotion: Promotion) -> list[str]:
    found = [trailer(promotion.pk)]
    if promotion.requested_by:
        found.append(f"Requested-By: {promotion.requested_by.get_username()}")
    if promotion.from_stage:
        found.append(f"From-Stage: {promotion.from_stage}")
    found.append(f"To-Stage: {promotion.to_stage}")
    found += [
        f"{name}: {promotion.metadata[key]}" for key, name in METADATA_TRAILERS.items() if promotion.metadata.get(key)
    ]
    return found


def pull_request_body(promotion: Promotion, items: list[PromotionItem], *, diff: str, link: str) -> str:
    """A version table, the reason, the diff, and a link back to the portal."""
    rows = "\n".join(f"| {i.application} | `{i.from_version or '?'}` | `{i.to_version}` |" for i in items)
    requester = promotion.requested_by.get_username() if promotion.requested_by else "the portal"
    parts = [
        f"Promotion [#{promotion.pk}]({link}) into **{promotion.to_stage}**, requested by {requester}.",
        "",
        "| application | from | to |",
        "|---|---|---|",
        rows,
    ]
    if promotion.reason:
        parts += ["", f"> {promotion.reason.strip()}"]
    parts += ["", "```diff", diff.rstrip("\n"), "```", "", *[f"`{t}`  " for t in trailers(promotion)]]
    return "\n".join(parts) + "\n"
