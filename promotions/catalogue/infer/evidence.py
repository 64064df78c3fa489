"""What inference finds: stage files that hold an application's version, and where each came from.

A `Unit` is one application in one stage: the file(s) its version is read from (layered Helm
values list the shared file first, the stage's own last), the catalogue's `version:` block that
reads it, and a sentence naming the evidence. `Found` gathers the units, the stage names the
repository states outright (with their order, when a generator gives one) and what could not
be inferred, with the reason.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from promotions.catalogue.infer.names import STRUCTURAL, stage_score

Version = tuple[tuple[str, str], ...]  # the catalogue's version block, as sorted (key, value) pairs

# Which evidence wins when two say different things about one application in one stage: what
# an operator object names outright beats a folder convention.
EXPLICIT, OPERATOR, FOLDER = 3, 2, 1


@dataclass(frozen=True)
class Unit:
    app: str
    stage: str
    paths: tuple[str, ...]
    version: Version
    source: str
    weight: int = FOLDER


@dataclass
class Found:
    units: list[Unit] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> where the repository names it
    listed: list[str] = field(default_factory=list)  # stage order a generator gives
    graph: dict[str, list[str]] = field(default_factory=dict)  # stage -> upstreams, where stated (Kargo)
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (app, stage, why) unless found elsewhere
    unresolved: list[str] = field(default_factory=list)
    roots: dict[str, str] = field(default_factory=dict)  # folder -> stage an operator applies it for

    def add(self, unit: Unit) -> None:
        self.units.append(unit)

    def note(self, text: str) -> None:
        if text not in self.unresolved:
            self.unresolved.append(text)


def version(kind: str, **fields: str) -> Version:
    return tuple(sorted({"kind": kind, **fields}.items()))


def where(path: str, known: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """The (stage, application) a file's folders name: the surest stage folder, and the nearest
    other folder that is not a structural one (`apps`, `overlays`, `base`…)."""
    parts = posixpath.dirname(path).split("/") if "/" in path else []
    scores = [stage_score(name, parts[i - 1] if i else None, known or {}) for i, name in enumerate(parts)]
    best = max(scores, default=0)
    if not best:
        return None, _app_of(parts)
    at = max(i for i, s in enumerate(scores) if s == best)
    return parts[at], _app_of(parts[:at] + parts[at + 1 :])


def _app_of(parts: list[str]) -> str | None:
    names = [p for p in parts if p.lower() not in STRUCTURAL and not p.startswith(".")]
    return names[-1] if names else None


def image_repository(image: str) -> str:
    """`ghcr.io/acme/app:1.2@sha256:…` → `ghcr.io/acme/app`."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def image_name(image: str) -> str:
    """The last path segment of an image: `ghcr.io/acme/app:1.2` → `app`."""
    return image_repository(image).rsplit("/", 1)[-1]


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def listing(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
