"""What reviewers read: commit messages and pull-request bodies for promotions."""

from __future__ import annotations

import re

from promotions.models import Promotion, PromotionItem

TRAILER = "Promotion-Id"
NONCE = "Promotion-Nonce"
_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
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
    # The trailer block is the last paragraph and only the portal writes it: user text
    # (validated single-line, and flattened here once more) only ever fills a value.
    lines += ["", *trailers(promotion, nonce=True)]
    return "\n".join(lines) + "\n"


def trailers(promotion: Promotion, *, nonce: bool = False) -> list[str]:
    found = [trailer(promotion.pk)]
    if nonce and promotion.nonce:
        found.append(f"{NONCE}: {promotion.nonce}")
    if promotion.requested_by:
        found.append(f"Requested-By: {promotion.requested_by.get_username()}")
    if promotion.from_stage:
        found.append(f"From-Stage: {promotion.from_stage}")
    found.append(f"To-Stage: {promotion.to_stage}")
    found += [
        f"{name}: {_one_line(promotion.metadata[key])}"
        for key, name in METADATA_TRAILERS.items()
        if promotion.metadata.get(key)
    ]
    return found


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def trailer_block(message: str) -> dict[str, list[str]]:
    """A commit message's trailers: its last paragraph, when every line of it is `Key: value`
    (as `git interpret-trailers --parse` reads them); empty otherwise."""
    paragraphs = [p for p in message.strip("\n").split("\n\n") if p.strip()]
    found: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines() if paragraphs else []:
        key, sep, value = line.partition(": ")
        if not sep or not _TRAILER_KEY.fullmatch(key):
            return {}
        found.setdefault(key, []).append(value)
    return found


def is_own_message(message: str, promotion: Promotion) -> bool:
    """Whether `message` is the one the portal wrote for `promotion`: its own trailer block names
    the promotion once, with the promotion's secret nonce (promotions older than the nonce: the id)."""
    block = trailer_block(message)
    if block.get(TRAILER) != [str(promotion.pk)]:
        return False
    return not promotion.nonce or block.get(NONCE) == [promotion.nonce]


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
        parts += ["", *(f"> {line}" for line in promotion.reason.strip().splitlines())]
    parts += ["", "```diff", diff.rstrip("\n"), "```", "", *[f"`{t}`  " for t in trailers(promotion)]]
    return "\n".join(parts) + "\n"
