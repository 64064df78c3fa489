"""Kubeconfig files for the stand-in: one cluster, context and bearer-token user per virtual cluster."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

USER = "portal"


def kubeconfig(servers: Mapping[str, str], token: str, current: str | None = None) -> dict[str, Any]:
    """A kubeconfig whose contexts are named like the clusters (`servers`: name -> server URL)."""
    names = list(servers)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": servers[name]}} for name in names],
        "users": [{"name": USER, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": USER}} for name in names],
        "current-context": current or (names[0] if names else ""),
    }


def write(path: Path, config: Mapping[str, Any]) -> Path:
    """Write `config` as YAML (mode 0600, as kubectl does: it holds a token); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    path.chmod(0o600)
    return path
