"""`catalogue init`: clone a repository, infer its catalogue, and prove it with a real matrix read.

The inferred catalogue is read exactly as the portal would read it (versions only, a shallow
clone). A cell the matrix cannot read is taken out and listed, with the reader's own words, among
what was not inferred, so the catalogue written never shows an error cell it caused itself. The
clone lives under the data dir's `init/` (keyed by URL), apart from the configured repositories',
and is reused by the next run on the same URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from promotions.catalogue.infer.catalogue import Inference, catalogue_text, inference_build, repository_name
from promotions.catalogue.infer.scan import tree_scan
from promotions.catalogue.infer.tree import tree_read
from promotions.catalogue.loader import catalog_parse
from promotions.errors import ConfigError, PermanentError
from promotions.gitops.repository import repository_for
from promotions.matrix.document import matrix_document
from promotions.matrix.refresh import matrix_read_git


@dataclass(frozen=True)
class Preview:
    """The catalogue text, what it was made of, and the matrix it reads (cells by app and stage)."""

    text: str
    inference: Inference
    commit: str
    cells: dict[tuple[str, str], dict[str, Any]]


def catalogue_preview(*, url: str, branch: str = "main", data_dir: Path | None = None) -> Preview:
    """Clone (or update the clone of) `url` at `branch`, infer its catalogue and read it."""
    root = (data_dir or settings.DATA_DIR) / "init" / hashlib.sha256(f"{url}\n{branch}".encode()).hexdigest()[:16]
    name = repository_name(url)
    repo = repository_for(name=name, url=url, branch=branch, data_dir=root, timeout=settings.GITOPS_PORTAL_GIT_TIMEOUT)
    commit = repo.sync(shallow=True)
    inference = inference_build(tree_scan(tree_read(repo, commit)))
    if not inference.apps:
        raise PermanentError(_nothing(url, branch, inference))
    for _round in range(2):  # a dropped cell can change the shared defaults: read once more
        text = catalogue_text(inference, url=url, branch=branch, name=name, commit=commit)
        cells = _cells(text, root)
        broken = {key: cell["error"] for key, cell in cells.items() if cell.get("error") and key[0] in inference.apps}
        for (app, stage), error in broken.items():
            inference.drop(app, stage, error)
        if not broken:
            return Preview(text, inference, commit, cells)
        if not inference.apps:
            raise PermanentError(_nothing(url, branch, inference))
    text = catalogue_text(inference, url=url, branch=branch, name=name, commit=commit)
    return Preview(text, inference, commit, _cells(text, root))


def _cells(text: str, root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        catalog = catalog_parse(text, path="inferred catalogue")
    except ConfigError as exc:  # pragma: no cover - a bug in the writer, said plainly
        raise PermanentError(f"the inferred catalogue does not load ({exc}); please report it") from None
    reads = matrix_read_git(catalog=catalog, data_dir=root, history=False)
    for read in reads:
        if read.error:
            raise PermanentError(read.error)
    document = matrix_document(catalog=catalog, reads=reads)
    return {(a["name"], s): c for a in document["applications"] for s, c in a["stages"].items()}


def _nothing(url: str, branch: str, inference: Inference) -> str:
    reasons = "; ".join(inference.unresolved[:5])
    return (
        f"{url} ({branch}): no stages found: no Argo CD Application or ApplicationSet, Flux Kustomization, "
        "stage folder (overlays/<stage>, env/<stage>, <stage>/<app>) or values-<stage>.yaml with a version in it"
        + (f" ({reasons})" if reasons else "")
    )
