"""What changed between two versions of an application: the releases in between, from the release
records CI made through the portal (version, build, issue, source commit), and a link to the source
repository's compare view where it is on a host whose pages the portal knows (github.com).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from promotions.models import Promotion, PromotionItem

# owner/name on github.com, as CI reports a source repository: a URL, with or without scheme or .git
_GITHUB = re.compile(r"^(?:https://|http://)?(?:www\.)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
RELEASE_FIELDS = ("build", "issue", "source_repository", "source_commit")  # what CI reports with a release


@dataclass(frozen=True)
class Release:
    version: str
    promotion: int
    at: datetime
    build: str
    issue: str
    source_repository: str
    source_commit: str


@dataclass(frozen=True)
class Changes:
    older: str
    newer: str
    releases: list[Release]  # after `older`, up to and including `newer`, oldest first
    older_known: bool  # whether `older` was released through the portal (else: every release up to `newer`)
    compare: str = ""  # the source host's compare view, where both ends have a commit on a known host


def changes_between(*, application: str, older: str, newer: str) -> Changes:
    """The releases of `application` after `older` up to `newer`, in the order they were released
    (one query). Versions released more than once count at their first release."""
    rows = (
        PromotionItem.objects.filter(application=application, promotion__kind=Promotion.Kind.RELEASE)
        .order_by("promotion__created_at", "promotion_id")
        .values_list("to_version", "promotion_id", "promotion__created_at", "promotion__metadata")
    )
    releases: dict[str, Release] = {}
    for version, pk, at, metadata in rows:
        if version not in releases:
            meta = {key: str((metadata or {}).get(key, "")) for key in RELEASE_FIELDS}
            releases[version] = Release(version, pk, at, **meta)
    ordered = list(releases.values())
    names = [release.version for release in ordered]
    if newer not in names:
        return Changes(older, newer, [], older in names)
    end = names.index(newer) + 1
    start = names.index(older) + 1 if older in names else 0
    between = ordered[start:end] if start <= end else []
    compare = _compare(releases.get(older), releases[newer]) if older in releases else ""
    return Changes(older, newer, between, older in names, compare)


def _compare(old: Release | None, new: Release) -> str:
    """github.com's compare view between two releases' source commits, when both name one in the same
    repository there; '' otherwise (another host, no commits: nothing is guessed)."""
    if old is None:
        return ""
    a, b = _GITHUB.match(old.source_repository), _GITHUB.match(new.source_repository)
    if not a or not b or a.groups() != b.groups():
        return ""
    if not _SHA.match(old.source_commit) or not _SHA.match(new.source_commit):
        return ""
    owner, name = a.groups()
    return f"https://github.com/{owner}/{name}/compare/{old.source_commit}...{new.source_commit}"
