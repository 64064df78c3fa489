"""What the Git host stand-in tests share: alice, the promotion branch, plain git, a webhook receiver."""

from __future__ import annotations

import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, Self

from sandbox.gitrepo import Author, RepoBuilder

ALICE = Author("Alice Martin", "alice@acme.example")
BRANCH = "promote/web-1.1"


def branch(repo: RepoBuilder, name: str, files: dict[str, str], message: str = "Promote web") -> str:
    """Start branch `name` at main (if new) and commit `files` on it as alice; returns the branch tip."""
    if RepoBuilder(repo.path, branch=name).head() is None:
        git(repo.path, "update-ref", f"refs/heads/{name}", "refs/heads/main")
    return RepoBuilder(repo.path, branch=name).commit(files, message, author=ALICE)


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True).stdout


def push_with_git(workdir: Path, clone_url: str, name: str, files: dict[str, str]) -> str:
    """What the portal does: clone, commit on a new branch, `git push origin <branch>`; returns the sha."""
    identity = ["-c", "user.name=Portal Bot", "-c", "user.email=bot@acme.example"]
    subprocess.run(["git", "clone", "--quiet", clone_url, str(workdir)], check=True, capture_output=True)

    def run(*args: str) -> str:
        return subprocess.run(["git", *identity, *args], cwd=workdir, check=True, capture_output=True, text=True).stdout

    run("switch", "--quiet", "-c", name)
    for path, content in files.items():
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).write_text(content)
    run("commit", "--quiet", "-am", f"Promote {name}")
    run("push", "--quiet", "origin", name)
    return run("rev-parse", "HEAD").strip()


class Receiver:
    """A webhook receiver on 127.0.0.1 (`url` ends in `path`) that records every POST and answers it.

    `record()` keeps (headers, raw body) in `received` and answers 200; a host's receiver may
    check more (a signature) and keep and answer accordingly. Use it in a `with` block.
    """

    def __init__(self, path: str) -> None:
        self.received: list[Any] = []
        record = self.record

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status = record(dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def record(self, headers: dict[str, str], body: bytes) -> int:
        """Keep one delivery; returns the status to answer."""
        self.received.append((headers, body))
        return 200

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
