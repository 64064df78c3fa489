"""What `python -m sandbox.<host>` does on every host: the common arguments, `--token` pairs, serving until stopped."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol


class Runnable(Protocol):
    """The stand-in methods `serve` uses (every host's stand-in has them)."""

    @property
    def api_url(self) -> str: ...

    def adopt_existing(self) -> list[str]: ...
    def create_repository(self, owner: str, name: str) -> Path: ...
    def add_webhook(self, url: str, secret: str, events: Iterable[str]) -> int: ...
    def start(self) -> Any: ...
    def stop(self) -> None: ...


def parser(prog: str, description: str, *, layout: str, user: str, repo: str, secret: str) -> argparse.ArgumentParser:
    """The arguments every host takes; `layout`, `user`, `repo` and `secret` word the help in the host's terms."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--root", type=Path, required=True, help=f"directory holding {layout}")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", action="append", default=[], metavar=f"TOKEN={user}", help="accepted token")
    parser.add_argument("--repo", action="append", default=[], metavar=repo, help="create if missing")
    parser.add_argument("--webhook", metavar="URL", help="deliver all events to URL")
    parser.add_argument("--webhook-secret", default="", help=f"{secret} for --webhook")
    return parser


def tokens(pairs: list[str], user: str) -> dict[str, str]:
    """`--token TOKEN=<user>` pairs as token → user; exits on a malformed one."""
    found = {}
    for pair in pairs:
        token, sep, name = pair.partition("=")
        if not (token and sep and name):
            raise SystemExit(f"--token wants TOKEN={user}, got {pair!r}")
        found[token] = name
    return found


def serve(standin: Runnable, args: argparse.Namespace, repos: Iterable[tuple[str, str]]) -> None:
    """Serve what is under `--root`, create the missing `repos` (owner, name), subscribe `--webhook` to
    everything; start, print the API URL, serve until SIGINT/SIGTERM."""
    standin.adopt_existing()
    for owner, name in repos:
        if not (args.root / owner / f"{name}.git").exists():
            standin.create_repository(owner, name)
    if args.webhook:
        standin.add_webhook(args.webhook, args.webhook_secret, events=("*",))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    standin.start()
    print(standin.api_url, flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
