"""Run the GitLab stand-in in the foreground (for the demo and for manual poking).

    python -m sandbox.gitlab --root var/gitlab --port 8124 --token portal-token=portal-bot

Serves every bare repository already under `--root/<namespace…>/<name>.git`, creates the
ones named with `--repo group/name`, prints the server URL (python-gitlab's `url`), and
runs until interrupted. Faults can be injected from outside with `POST /_sandbox/faults`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sandbox.gitlab.standin import GitLabStandIn


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; `--token TOKEN=username` and `--repo group/name` may repeat."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.gitlab", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="directory holding <namespace>/<name>.git")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN=username", help="accepted token")
    parser.add_argument("--repo", action="append", default=[], metavar="group/name", help="create if missing")
    parser.add_argument("--webhook", metavar="URL", help="deliver all events to URL")
    parser.add_argument("--webhook-secret", default="", help="X-Gitlab-Token for --webhook")
    return parser.parse_args(argv)


def _tokens(pairs: list[str]) -> dict[str, str]:
    tokens = {}
    for pair in pairs:
        token, sep, username = pair.partition("=")
        if not (token and sep and username):
            raise SystemExit(f"--token wants TOKEN=username, got {pair!r}")
        tokens[token] = username
    return tokens


def main(argv: list[str] | None = None) -> None:
    """Start, print the server URL, serve until SIGINT/SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    standin = GitLabStandIn(root=args.root, tokens=_tokens(args.token), port=args.port)
    standin.adopt_existing()
    for full_path in args.repo:
        namespace, _, name = full_path.rpartition("/")
        if not (args.root / namespace / f"{name}.git").exists():
            standin.create_repository(namespace, name)
    if args.webhook:
        standin.add_webhook(args.webhook, args.webhook_secret, events=("*",))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    standin.start()
    print(standin.url, flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
