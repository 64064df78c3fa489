"""The demo on a Git host stand-in: `DEMO_GIT_HOST=gitlab make run` (or `gitea`; `local`, the
default, needs no host).

One setting switches it. `make run` (`sandbox.makerun prepare`) writes the host's address, an API
token and a webhook secret to `.env`; `manage.py demo` points the demo catalogue's repository at
the host (`provider: gitlab` or `gitea`, with those variables); the Procfile's `githost` process
serves the demo's own bare repository through the stand-in (sandbox/gitlab, sandbox/gitea), with
its webhooks sent to the portal. Promotions to production then open merge (pull) requests there,
and approving or merging them on the host shows in the portal, as with a real one.
"""

from __future__ import annotations

import secrets
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GIT_HOSTS = ("local", "gitlab", "gitea")
PORT = 8004
OWNER, NAME = "acme", "platform"
# Demo users' tokens on the stand-in (bob approves and merges there as he would on the real host).
USER_TOKENS = {"bob": "demo-bob-token", "alice": "demo-alice-token", "carol": "demo-carol-token"}


def git_host(environ: Mapping[str, str]) -> str:
    """The chosen host; ValueError naming the allowed values for anything else."""
    host = (environ.get("DEMO_GIT_HOST") or "local").strip().lower()
    if host not in GIT_HOSTS:
        raise ValueError(f"DEMO_GIT_HOST={host!r}: choose one of {', '.join(GIT_HOSTS)}")
    return host


def githost_settings(environ: Mapping[str, str], *, port: int = PORT) -> dict[str, str]:
    """What `.env` gets for the host (nothing for local): its URL, and a token and a webhook secret
    kept from an earlier run when there is one."""
    host = git_host(environ)
    if host == "local":
        return {"DEMO_GIT_HOST": "local"}
    return {
        "DEMO_GIT_HOST": host,
        "DEMO_GIT_HOST_URL": environ.get("DEMO_GIT_HOST_URL") or f"http://127.0.0.1:{port}",
        "DEMO_GIT_HOST_TOKEN": environ.get("DEMO_GIT_HOST_TOKEN") or secrets.token_hex(16),
        "DEMO_GIT_HOST_WEBHOOK_SECRET": environ.get("DEMO_GIT_HOST_WEBHOOK_SECRET") or secrets.token_hex(16),
    }


def repository_block(environ: Mapping[str, str], url: str) -> str:
    """The demo catalogue's repository entry for the chosen host."""
    host = git_host(environ)
    lines = ["  - name: platform", f"    url: {url}", "    branch: main", f"    provider: {host}"]
    if host != "local":
        key = "project" if host == "gitlab" else "repo"
        address = environ.get("DEMO_GIT_HOST_URL") or f"http://127.0.0.1:{PORT}"
        lines += [f'    {host}: {{{key}: {OWNER}/{NAME}, api_url: "{address}", token_env: DEMO_GIT_HOST_TOKEN}}',
                  "    webhook_secret_env: DEMO_GIT_HOST_WEBHOOK_SECRET"]  # fmt: skip
    return "\n".join(lines) + "\n"


def githost_standin(data_dir: Path, environ: Mapping[str, str], *, portal_url: str) -> Any:
    """The chosen host's stand-in serving the demo's own bare repository as acme/platform (the portal
    fetches and pushes the same one by its file:// URL), webhooks to the portal (not started)."""
    host = git_host(environ)
    port = int(environ["DEMO_GIT_HOST_URL"].rstrip("/").rsplit(":", 1)[1])
    tokens = {environ["DEMO_GIT_HOST_TOKEN"]: "portal-bot", **{t: user for user, t in USER_TOKENS.items()}}
    root = data_dir / "demo" / "git-host"
    if host == "gitlab":
        from sandbox.gitlab import GitLabStandIn

        standin: Any = GitLabStandIn(root=root, tokens=tokens, port=port)
    else:
        from sandbox.gitea import GiteaStandIn

        standin = GiteaStandIn(root=root, tokens=tokens, flavour="forgejo", port=port)
    standin.add_repository(OWNER, NAME, data_dir / "demo" / f"{NAME}.git")
    standin.add_webhook(f"{portal_url.rstrip('/')}/webhooks/{host}/", environ["DEMO_GIT_HOST_WEBHOOK_SECRET"])
    return standin


def githost_serve(data_dir: Path, environ: Mapping[str, str], *, portal_url: str) -> None:
    """The Procfile's `githost`: serve until SIGTERM (for `local`, only wait: honcho stops every
    process when one ends)."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    if git_host(environ) == "local":
        stopped.wait()
        return
    standin = githost_standin(data_dir, environ, portal_url=portal_url).start()
    print(f"{git_host(environ)} stand-in on {standin.url}: acme/platform; bob's token {USER_TOKENS['bob']}", flush=True)
    try:
        stopped.wait()
    finally:
        standin.stop()
