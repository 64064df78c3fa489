"""What `make run` does around the portal's processes, in Python so that it behaves alike on every
machine (see the Makefile):

    python -m sandbox.makerun prepare --host 127.0.0.1 --port 8000 --clusters-port 8001
    python -m sandbox.makerun start

`prepare` runs before anything starts. It checks that every port the demo is about to listen on is
free, and says which one is taken and how to choose another (exit 1); then it writes the demo's
settings to `.env` (`$GITOPS_PORTAL_ENV_FILE`), which the settings read at start-up, so that
`manage.py …` in a second terminal finds the same database, catalogue and SECRET_KEY as the running
portal. `start` runs the Procfile under honcho, with time for the Celery worker to stop on Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sandbox.demo import RECEIVERS_ENV, receivers_env_read, receivers_env_write
from sandbox.demo_githost import PORT as GIT_HOST_PORT
from sandbox.demo_githost import githost_serve, githost_settings

ROOT = Path(__file__).resolve().parent.parent
RECEIVERS_PORT = 8002  # the demo's staging Flux receiver; production's Argo CD webhook listens on the next one
# honcho stops each process with SIGTERM, then SIGKILLs what still runs 5 s after the first one stopped.
# A Celery worker on the filesystem broker takes 4-6 s to wind down (its consumer waits up to 2 s for
# messages, then its pool and timers stop): honcho killed it in 2 stops out of 3.
KILL_WAIT = 20
ENV_HEADER = """\
# Written by `make run`: the demo's settings, read at start-up by every process it starts and by
# `manage.py` in another terminal (gitops_portal/settings.py; a variable the environment sets wins).
# `make run` rewrites the lines it owns on every start and keeps SECRET_KEY and any line you add.
"""


@dataclass(frozen=True)
class Port:
    """A port the demo is about to listen on: whose it is and how a person chooses another."""

    host: str
    number: int
    owner: str  # "the web server"
    change: str  # "make run PORT={port}": {port} is a free one, found for the message


def ports_busy(ports: Iterable[Port]) -> list[str]:
    """One line per port nobody may listen on now, naming it, whose it is and how to pick another."""
    ports = list(ports)
    numbers = {port.number for port in ports}
    lines = []
    for port in ports:
        error = listen_error(port.host, port.number)
        if error is None:
            continue
        state = "is taken" if error.errno == errno.EADDRINUSE else f"cannot be listened on ({error.strerror})"
        change = port.change.format(port=spare_port(port.host, after=port.number, avoid=numbers))
        lines.append(f"port {port.number} on {port.host}, for {port.owner}, {state}: stop what listens there, "
                     f"or pick another port: {change}")  # fmt: skip
    return lines


def listen_error(host: str, port: int) -> OSError | None:
    """Why a server could not listen on (host, port) now; None when it could. Address reuse is on, as
    the servers set it, so a port a stopped server left in TIME_WAIT counts as free."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        return OSError(errno.EADDRNOTAVAIL, f"unknown host {host!r}: {error.strerror}")
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            return error
    return None


def spare_port(host: str, *, after: int, avoid: set[int]) -> int:
    """A free port a little above `after` (not one of `avoid`), to suggest instead."""
    for candidate in range(after + 10, min(after + 1000, 65536)):
        if candidate not in avoid and listen_error(host, candidate) is None:
            return candidate
    return after + 10


def demo_ports(
    *, host: str, port: int, clusters_port: int, receivers: Path, git_host_port: int | None = None
) -> list[Port]:
    """The web server's port, the demo clusters' and their receivers' (from the demo's receivers.env),
    and the Git host stand-in's when DEMO_GIT_HOST chose one."""
    ports = [
        Port(host, port, "the web server", "make run PORT={port}"),
        Port("127.0.0.1", clusters_port, "the demo's clusters", "make run CLUSTERS_PORT={port}"),
    ]
    if git_host_port is not None:
        ports.append(Port("127.0.0.1", git_host_port, "the demo's Git host", "make run GIT_HOST_PORT={port}"))
    for name, url in sorted(receivers_env_read(receivers).items()):
        number = urlparse(url).port if name.endswith("_URL") else None
        if number is not None:
            ports.append(Port("127.0.0.1", number, f"the demo's receiver ({name})", f"edit {name} in {receivers}"))
    return ports


def data_dir_of(environ: Mapping[str, str]) -> Path:
    """The portal's data directory: `$GITOPS_PORTAL_DATA_DIR`, else its default (./var)."""
    return Path(environ.get("GITOPS_PORTAL_DATA_DIR") or ROOT / "var").expanduser().resolve()


def demo_settings(environ: Mapping[str, str], *, url: str, receivers: Mapping[str, str]) -> dict[str, str]:
    """What the running demo uses, for `.env`: the environment's values, else the portal's defaults."""
    data_dir = data_dir_of(environ)
    config = Path(environ.get("GITOPS_PORTAL_CONFIG") or data_dir / "demo" / "gitops-portal.yaml")
    return {
        "DEBUG": environ.get("DEBUG") or "true",
        "GITOPS_PORTAL_DATA_DIR": str(data_dir),
        "GITOPS_PORTAL_CONFIG": str(config.expanduser().resolve()),
        "GITOPS_PORTAL_URL": environ.get("GITOPS_PORTAL_URL") or url,
        **receivers,
    }


def env_file_path(environ: Mapping[str, str]) -> Path | None:
    """Where the settings read `.env` from (`$GITOPS_PORTAL_ENV_FILE`; set but empty: nowhere)."""
    raw = environ.get("GITOPS_PORTAL_ENV_FILE")
    if raw is None:
        return ROOT / ".env"
    return Path(raw).expanduser() if raw.strip() else None


def env_file_write(path: Path, values: Mapping[str, str]) -> Path:
    """Set `values` in the env file at `path`, keeping its other lines (a person's own settings) and its
    SECRET_KEY; a new file gets a SECRET_KEY of its own and is readable by its owner only."""
    from gitops_portal.env import env_file_parse

    text = path.read_text() if path.exists() else ENV_HEADER
    secret = env_file_parse(text, source=str(path)).get("SECRET_KEY") or secrets.token_urlsafe(50)
    wanted = {**values, "SECRET_KEY": secret}
    lines, written = [], set()
    for line in text.splitlines():
        key = line.partition("=")[0].strip().removeprefix("export ").strip()
        if key in wanted and "=" in line and not line.lstrip().startswith("#"):
            if key not in written:
                lines.append(f"{key}={wanted[key]}")
                written.add(key)
            continue
        lines.append(line)
    lines += [f"{key}={value}" for key, value in wanted.items() if key not in written]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Check the ports, then write `.env`: 1 (and no `.env` written) when a port is taken. The demo's
    receivers.env is made first when missing (`manage.py demo` keeps it): it names the receivers' ports."""
    receivers = data_dir_of(environ) / "demo" / RECEIVERS_ENV
    receivers.parent.mkdir(parents=True, exist_ok=True)
    receivers_env_write(receivers, port=args.receivers_port)
    try:
        githost = githost_settings(environ, port=args.git_host_port)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    git_host_port = args.git_host_port if githost["DEMO_GIT_HOST"] != "local" else None
    busy = ports_busy(demo_ports(host=args.host, port=args.port, clusters_port=args.clusters_port,
                                 receivers=receivers, git_host_port=git_host_port))  # fmt: skip
    for line in busy:
        print(f"error: {line}", file=sys.stderr)
    if busy:
        return 1
    path = env_file_path(environ)
    if path is not None:
        url = f"http://{args.host}:{args.port}"
        env_file_write(path, {**demo_settings(environ, url=url, receivers=receivers_env_read(receivers)), **githost})
        print(f"Settings for `manage.py` in another terminal: {path}")
    return 0


def start(honcho_args: list[str]) -> int:
    """`honcho start` on the Procfile, waiting KILL_WAIT seconds before SIGKILL. honcho reads no env
    file: each process reads `.env` itself, under what the environment sets (honcho's would override it)."""
    from honcho import command, manager

    manager.KILL_WAIT = KILL_WAIT
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # each line shows when written, not when a buffer fills
    command.main(["start", "--procfile", str(ROOT / "Procfile"), "--env", os.devnull, *honcho_args])
    return 0  # not reached: honcho exits with its processes' code


def githost(environ: Mapping[str, str]) -> int:
    """The Procfile's `githost`: the settings come from `.env`, as every process's do."""
    from gitops_portal.env import env_file_load

    env_file_load("GITOPS_PORTAL_ENV_FILE", ROOT / ".env")
    githost_serve(data_dir_of(os.environ), os.environ,
                  portal_url=os.environ.get("GITOPS_PORTAL_URL") or "http://127.0.0.1:8000")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.makerun", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    prep = sub.add_parser("prepare", help="check the ports, write .env")
    prep.add_argument("--host", default="127.0.0.1")
    prep.add_argument("--port", type=int, default=8000)
    prep.add_argument("--clusters-port", type=int, default=8001)
    prep.add_argument("--receivers-port", type=int, default=RECEIVERS_PORT, help="for a new receivers.env")
    prep.add_argument(
        "--git-host-port", type=int, default=GIT_HOST_PORT, help="the Git host stand-in's (DEMO_GIT_HOST)"
    )
    sub.add_parser("start", help="run the Procfile (honcho start; further arguments go to it)")
    sub.add_parser("githost", help="serve the demo repository on the Git host DEMO_GIT_HOST names (Procfile)")
    args, rest = parser.parse_known_args(argv)
    if args.step == "start":
        return start(rest)
    if args.step == "githost":
        return githost(os.environ)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return prepare(args, os.environ)


if __name__ == "__main__":
    sys.exit(main())
