"""Run the GitLab stand-in in the foreground (for the demo and for manual poking).

    python -m sandbox.gitlab --root var/gitlab --port 8124 --token portal-token=portal-bot

Serves every bare repository already under `--root/<namespace…>/<name>.git`, creates the
ones named with `--repo group/name`, prints the server URL (python-gitlab's `url`), and
runs until interrupted. Faults can be injected from outside with `POST /_sandbox/faults`.
"""

from __future__ import annotations

import argparse
import sys

from sandbox.gitlab.standin import GitLabStandIn
from sandbox.hosting import cli


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; `--token TOKEN=username` and `--repo group/name` may repeat."""
    parser = cli.parser(
        "python -m sandbox.gitlab",
        __doc__.splitlines()[0],
        layout="<namespace>/<name>.git",
        user="username",
        repo="group/name",
        secret="X-Gitlab-Token",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start, print the server URL (python-gitlab's `url`), serve until SIGINT/SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    standin = GitLabStandIn(root=args.root, tokens=cli.tokens(args.token, "username"), port=args.port)
    cli.serve(standin, args, [_namespace_and_name(full_path) for full_path in args.repo])


def _namespace_and_name(full_path: str) -> tuple[str, str]:
    namespace, _, name = full_path.rpartition("/")
    return namespace, name


if __name__ == "__main__":
    main()
