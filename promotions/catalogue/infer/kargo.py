"""Kargo: its `Stage` objects state the pipeline's graph outright.

Each Stage requests freight either straight from a Warehouse (a first stage) or from the stages
before it (`spec.requestedFreight[].sources.stages`; older releases: `spec.subscriptions.
upstreamStages[].name`). Where a repository keeps its Kargo project, those edges are the stage
graph; the files still come from the stage folders.
"""

from __future__ import annotations

from promotions.catalogue.infer.evidence import Found, listing, mapping
from promotions.catalogue.infer.tree import Tree


def kargo_graph(tree: Tree, found: Found) -> None:
    """Record each Kargo Stage's upstream stages in `found.graph`."""
    for path, obj in tree.with_kind("Stage"):
        if not str(obj.get("apiVersion", "")).startswith("kargo.akuity.io/"):
            continue
        name = str(mapping(obj.get("metadata")).get("name", ""))
        if not name:
            continue
        spec = mapping(obj.get("spec"))
        upstream = [str(s) for f in listing(spec.get("requestedFreight"))
                    for s in listing(mapping(mapping(f).get("sources")).get("stages"))]  # fmt: skip
        older = listing(mapping(spec.get("subscriptions")).get("upstreamStages"))
        upstream += [str(mapping(s)["name"]) for s in older if mapping(s).get("name")]
        found.graph[name] = list(dict.fromkeys(upstream))
        found.stages[name] = f"Kargo Stage {name} ({path})"
