"""Run the GitHub stand-in in the foreground (for the demo and for manual poking).

    python -m sandbox.github --root var/github --port 8123 --token portal-token=portal-bot

Serves every bare repository already under `--root/<owner>/<name>.git`, creates the
ones named with `--repo owner/name`, prints the API base URL, and runs until
interrupted. Faults can be injected from outside with `POST /_sandbox/faults`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sandbox.github.standin import GitHubStandIn


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; `--token TOKEN=login` and `--repo owner/name` may repeat."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.github", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="directory holding <owner>/<name>.git")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--prefix", default="/api/v3", help="API path prefix (PyGithub base_url path)")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN=login", help="accepted token")
    parser.add_argument("--repo", action="append", default=[], metavar="owner/name", help="create if missing")
    parser.add_argument("--webhook", metavar="URL", help="deliver all events to URL")
    parser.add_argument("--webhook-secret", default="", help="HMAC secret for --webhook")
    return parser.parse_args(argv)


def _tokens(pairs: list[str]) -> dict[str, str]:
    tokens = {}
    for pair in pairs:
        token, sep, login = pair.partition("=")
        if not (token and sep and login):
            raise SystemExit(f"--token wants TOKEN=login, got {pair!r}")
        tokens[token] = login
    return tokens


def main(argv: list[str] | None = None) -> None:
    """Start, print the base URL, serve until SIGINT/SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    standin = GitHubStandIn(root=args.root, tokens=_tokens(args.token), prefix=args.prefix, port=args.port)
    standin.adopt_existing()
    for full_name in args.repo:
        owner, _, name = full_name.partition("/")
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


if __name__ == "__main__":
    main()
