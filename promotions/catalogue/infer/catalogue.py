"""From evidence to a catalogue: one unit per application and stage, the stage graph, and the
commented YAML text.

Where two pieces of evidence speak of the same application in the same stage, the stronger one
wins (an Argo CD or Flux object over a folder name), then the more specific folder. Paths and
version blocks are written as templates (`{app}`, `{stage}`) where one template gives every
stage's file, shared by `defaults` where most applications agree, with `overrides` for the
stages that differ. Text from the repository (paths, names) only ever reaches the catalogue as a
JSON-quoted scalar or a comment stripped of line breaks.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from promotions.catalogue.infer.evidence import Found, Unit
from promotions.catalogue.infer.names import order, rank, upstreams

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass
class Inference:
    """What `catalogue init` writes: stages in order with their upstreams, and per application the
    unit chosen for each stage."""

    stages: list[str]
    upstream: dict[str, list[str]]
    stage_sources: dict[str, str]
    ordered_by: str
    listed: list[str]  # the stages whose order a generator gave
    apps: dict[str, dict[str, Unit]]
    unresolved: list[str] = field(default_factory=list)

    def drop(self, app: str, stage: str, reason: str) -> None:
        """Take a cell out (the matrix could not read it), saying why at the end of the catalogue."""
        unit = self.apps.get(app, {}).pop(stage, None)
        if unit is not None:
            self.unresolved.append(f"{app} in {stage}: {reason} (inferred from {unit.source})")
        if app in self.apps and not self.apps[app]:
            del self.apps[app]


def inference_build(found: Found) -> Inference:
    """Choose a unit per application and stage, and order the stages."""
    unresolved = list(found.unresolved)
    chosen: dict[tuple[str, str], Unit] = {}
    for unit in found.units:
        if not (NAME.match(unit.app) and NAME.match(unit.stage)):
            unresolved.append(f"{unit.source}: {unit.app!r} in {unit.stage!r} is not usable as a name; left out")
            continue
        key = (unit.app, unit.stage)
        if key not in chosen or _strength(unit) > _strength(chosen[key]):
            chosen[key] = unit
    unresolved += [why for app, stage, why in found.misses if (app, stage) not in chosen]
    names = {stage for _app, stage in chosen}
    for stage, source in found.stages.items():
        if stage not in names:
            unresolved.append(f"stage {stage} ({source}): no application's version found in it; left out")
    graph = {s: [u for u in ups if u in names] for s, ups in found.graph.items() if s in names}
    stages = _after_upstreams(order(names, found.listed), graph)
    edges = upstreams(stages) | graph
    if graph:
        ordered_by = "the graph of the Kargo Stages' requested freight"
    elif any(s in names for s in found.listed):
        ordered_by = "the order of an ApplicationSet list generator"
    else:
        ordered_by = "the usual order of stage names"
    apps: dict[str, dict[str, Unit]] = {}
    for (app, stage), unit in sorted(chosen.items()):
        apps.setdefault(app, {})[stage] = unit
    return Inference(stages, edges, {s: found.stages.get(s, "") for s in stages}, ordered_by,
                     [s for s in found.listed if s in names], apps, list(dict.fromkeys(unresolved)))  # fmt: skip


def _after_upstreams(stages: list[str], graph: dict[str, list[str]]) -> list[str]:
    """`stages` reordered so each comes after the upstreams the graph states (ties keep their order)."""
    done: list[str] = []
    left = list(stages)
    while left:
        ready = next((s for s in left if all(u in done or u not in left for u in graph.get(s, []))), left[0])
        done.append(ready)
        left.remove(ready)
    return done


def _strength(unit: Unit) -> tuple[int, int]:
    return unit.weight, unit.paths[-1].count("/")


def template(text: str, *, app: str, stage: str) -> str:
    """`text` with the stage's and the application's names (as whole words) as placeholders."""
    return _word(app, "{app}", _word(stage, "{stage}", text))


def _word(name: str, placeholder: str, text: str) -> str:
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", placeholder, text)


def render(text: str, *, app: str, stage: str) -> str:
    return text.replace("{app}", app).replace("{stage}", stage)


Block = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]  # (path templates, version block templated)


def block_of(unit: Unit) -> Block:
    paths = tuple(template(p, app=unit.app, stage=unit.stage) for p in unit.paths)
    fields = tuple((k, template(v, app=unit.app, stage=unit.stage) if k != "kind" else v) for k, v in unit.version)
    return paths, fields


def fits(block: Block, unit: Unit) -> bool:
    """Whether `block` rendered for the unit's application and stage gives exactly its files and version."""
    paths, fields = block
    return (
        tuple(render(p, app=unit.app, stage=unit.stage) for p in paths) == unit.paths
        and tuple((k, render(v, app=unit.app, stage=unit.stage)) for k, v in fields) == unit.version
    )


def main_block(units: dict[str, Unit]) -> Block:
    """The block that gives the most of an application's stages (ties: the earliest stage's)."""
    counts = Counter(block_of(u) for u in units.values())
    best = max(counts.values())
    return next(block_of(u) for u in units.values() if counts[block_of(u)] == best)


def catalogue_text(inference: Inference, *, url: str, branch: str, name: str, commit: str) -> str:
    """The commented catalogue YAML."""
    lines = [
        f"# Written by `manage.py catalogue init` from {_comment(url)} (branch {_comment(branch)}, "
        f"commit {commit[:12]}).",
        "# Each item says where it was inferred from; what could not be inferred is listed at the end.",
        "# Keep this file in Git; `manage.py catalogue init URL --check --config FILE` lists what it misses.",
        "repositories:",
        f"  - name: {name}",
        f"    url: {_q(url)}",
        f"    branch: {_q(branch)}",
        *_provider(url),
        "stages:",
        f"  # in {inference.ordered_by}"
        + ("" if "graph" in inference.ordered_by else "; stages of the same rank take releases from the same stages"),
    ]
    for i, stage in enumerate(inference.stages):
        source = inference.stage_sources.get(stage) or "folder and file names"
        if rank(stage) is None and "graph" not in inference.ordered_by and stage not in inference.listed:
            source += "; not a usual stage name, so its place in the order is a guess: move it where it belongs"
        lines.append(f"  - name: {_q(stage)}  # {_comment(source)}")
        ups = inference.upstream[stage]
        if ups != ([inference.stages[i - 1]] if i else []):
            lines.append(f"    upstream: [{', '.join(_q(u) for u in ups)}]")
        if rank(stage) == 3:
            lines.append("    # promotion: {mode: pull_request, approvals: 1, approvers: [release-managers]}")
    lines += _applications(inference)
    if inference.unresolved:
        lines += ["", "# Not inferred (add them by hand, or change the repository so they can be):"]
        lines += [f"# - {_comment(text)}" for text in inference.unresolved]
    return "\n".join(lines) + "\n"


def _applications(inference: Inference) -> list[str]:
    mains = {app: main_block(units) for app, units in inference.apps.items()}
    shared, count = Counter(mains.values()).most_common(1)[0] if mains else (None, 0)
    lines = ["applications:"]
    if shared is not None and count > 1:
        lines += ["  defaults:", *_block_lines(shared, "    ")]
    lines.append("  items:")
    for app, units in inference.apps.items():
        block = mains[app]
        lines.append(f"    # {_comment(_sources(units))}")
        lines.append(f"    - name: {_q(app)}")
        if block != shared or count <= 1:
            lines += _block_lines(block, "      ")
        present = [s for s in inference.stages if s in units]
        if len(present) != len(inference.stages):
            lines.append(f"      stages: [{', '.join(_q(s) for s in present)}]")
        others = [(s, block_of(units[s])) for s in present if not fits(block, units[s])]
        if others:
            lines.append("      overrides:")
            for stage, own in others:
                lines.append(f"        {_q(stage)}:")
                lines += _block_lines(own, "          ")
    return lines


def _block_lines(block: Block, indent: str) -> list[str]:
    paths, fields = block
    path = _q(paths[0]) if len(paths) == 1 else "[" + ", ".join(_q(p) for p in paths) + "]"
    version = ", ".join(f"{k}: {_q(v)}" for k, v in sorted(fields, key=lambda kv: kv[0] != "kind"))
    return [f"{indent}path: {path}", f"{indent}version: {{{version}}}"]


def _sources(units: dict[str, Unit]) -> str:
    """Where an application was inferred from, once for all stages where only the stage's name differs."""
    sources = list(dict.fromkeys(_word(stage, "{stage}", unit.source) for stage, unit in units.items()))
    return "; ".join(sources)


def _provider(url: str) -> list[str]:
    match = re.match(r"^(?:https://github\.com/|git@github\.com:)([^/\s]+/[^/\s]+?)(?:\.git)?/?$", url)
    if match:
        return ["    provider: github  # pull requests on GitHub: the token comes from GITHUB_TOKEN",
                f"    github: {{repo: {_q(match.group(1))}}}"]  # fmt: skip
    return ["    # provider: local; for pull requests on GitHub: provider: github, github: {repo: owner/name}"]


def repository_name(url: str) -> str:
    """A catalogue name for the repository: its URL's last segment, without `.git`."""
    last = re.sub(r"\.git/?$", "", url.rstrip("/")).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]", "-", last).lstrip("-._")[:100]
    return name or "gitops"


def _q(value: str) -> str:
    """A scalar as YAML reads it back exactly: plain when it is a safe name, else JSON-quoted."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", value) and not re.fullmatch(
        r"(?i)(y|yes|n|no|true|false|on|off|null|~|[0-9._:+-]+(e[0-9+-]+)?)", value
    ):
        return value
    return json.dumps(value)


def _comment(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()
