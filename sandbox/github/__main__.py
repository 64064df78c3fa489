"""Run the GitHub stand-in in the foreground (for the demo and for manual poking).

    python -m sandbox.github --root var/github --port 8123 --token portal-token=portal-bot

Serves every bare repository already under `--root/<owner>/<name>.git`, creates the
ones named with `--repo owner/name`, prints the API base URL, and runs until
interrupted. Faults can be injected from outside with `POST /_sandbox/faults`.
"""

from __future__ import annotations

import argparse
import sys

from sandbox.github.standin import GitHubStandIn
from sandbox.hosting import cli


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; `--token TOKEN=login` and `--repo owner/name` may repeat."""
    parser = cli.parser(
        "python -m sandbox.github",
        __doc__.splitlines()[0],
        layout="<owner>/<name>.git",
        user="login",
        repo="owner/name",
        secret="HMAC secret",
    )
    parser.add_argument("--prefix", default="/api/v3", help="API path prefix (PyGithub base_url path)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start, print the base URL, serve until SIGINT/SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tokens = cli.tokens(args.token, "login")
    standin = GitHubStandIn(root=args.root, tokens=tokens, prefix=args.prefix, port=args.port)
    cli.serve(standin, args, [_owner_and_name(full_name) for full_name in args.repo])


def _owner_and_name(full_name: str) -> tuple[str, str]:
    owner, _, name = full_name.partition("/")
    return owner, name


if __name__ == "__main__":
    main()
