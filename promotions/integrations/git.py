"""Git: the only module that talks to Git (GitPython for repository management, plumbing
commands for bulk reads).

One persistent bare clone per repository under the data dir, updated with `fetch`
(never a clone per request). Files are read at a commit straight from the object
database (`ls-tree`, `cat-file --batch`): no work tree is checked out for reading.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import git
from filelock import FileLock, Timeout

from gitops_portal.env import redact
from promotions.errors import PermanentError, TransientError

NULL_SHA = "0" * 40
_TRANSIENT_HINTS = (
    "could not resolve host",
    "connection refused",
    "connection timed out",
    "timed out",
    "temporarily unavailable",
    "the remote end hung up",
    "early eof",
    "http 5",
    "returned error: 5",
    "rate limit",
)


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    date: str  # ISO 8601 with offset
    subject: str


@dataclass(frozen=True)
class Change:
    """One commit's change to one file: the blob before (NULL_SHA if added) and after."""

    commit: Commit
    old_blob: str
    new_blob: str


class GitRepository:
    """A remote branch mirrored into a bare clone at `path`."""

    def __init__(self, *, name: str, url: str, branch: str, path: Path, timeout: int, token: str = "") -> None:
        self.name = name
        self.url = url
        self.branch = branch
        self.path = path
        self.timeout = timeout
        self._token = token
        self._ref = f"refs/remotes/origin/{branch}"

    # -- network -----------------------------------------------------------------------

    def sync(self) -> str:
        """Fetch the branch (cloning the first time) and return its head commit sha."""
        try:
            with FileLock(str(self.path) + ".lock", timeout=self.timeout):
                repo = self._open_or_init()
                self._fetch(repo)
        except Timeout:
            raise TransientError(f"repository {self.name!r}: another fetch holds the lock") from None
        head = self.head()
        if head is None:  # pragma: no cover - fetch succeeded, so the ref exists
            raise PermanentError(f"repository {self.name!r}: branch {self.branch!r} not found after fetch")
        return head

    def _open_or_init(self) -> git.Repo:
        if (self.path / "HEAD").exists():
            repo = git.Repo(self.path)
            if repo.remote("origin").url != self.url:
                repo.remote("origin").set_url(self.url)
            return repo
        self.path.mkdir(parents=True, exist_ok=True)
        repo = git.Repo.init(self.path, bare=True)
        repo.create_remote("origin", self.url)
        return repo

    def _fetch(self, repo: git.Repo) -> None:
        refspec = f"+refs/heads/{self.branch}:{self._ref}"
        try:
            with repo.git.custom_environment(**self._env()):
                repo.git.fetch("--no-tags", "--prune", "origin", refspec, kill_after_timeout=self.timeout)
        except git.GitCommandError as exc:
            raise self._fetch_error(exc) from None

    def _fetch_error(self, exc: git.GitCommandError) -> Exception:
        lines = [ln.strip() for ln in str(exc.stderr or "").splitlines() if ln.strip()]
        detail = next((ln for ln in reversed(lines) if ln.lower().startswith(("fatal", "error"))), "")
        detail = redact(detail or (lines[-1] if lines else f"git exited with {exc.status}"))
        if "couldn't find remote ref" in detail:
            detail = f"branch {self.branch!r} does not exist"
        message = f"repository {self.name!r}: cannot fetch {redact(self.url)}: {detail}"
        transient = exc.status is None or any(h in detail.lower() for h in _TRANSIENT_HINTS)
        return TransientError(message) if transient else PermanentError(message)

    def _env(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        if self._token:
            # The token travels in an environment-only config entry: never on a command
            # line (visible in ps) and never written to the clone's config file.
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }
        return env

    # -- local reads (no network) ------------------------------------------------------

    def head(self) -> str | None:
        """The last fetched commit of the branch, or None before the first fetch."""
        if not (self.path / "HEAD").exists():
            return None
        out = self._plumbing("rev-parse", "--verify", "--quiet", self._ref + "^{commit}", check=False)
        return out.decode().strip() or None

    def has_commit(self, sha: str) -> bool:
        out = self._plumbing("cat-file", "-t", sha, check=False)
        return out.strip() == b"commit"

    def tree(self, commit: str) -> dict[str, str]:
        """Every file at `commit`: path -> blob sha."""
        out = self._plumbing("ls-tree", "-r", "-z", "--full-tree", commit)
        files = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            _mode, kind, sha = meta.split(b" ")
            if kind == b"blob":
                files[path.decode("utf-8", "surrogateescape")] = sha.decode()
        return files

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """The content of many blobs in one `cat-file --batch` round trip."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        out = self._plumbing("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
        blobs, pos = {}, 0
        for sha in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            if header[-1] == b"missing":
                raise PermanentError(f"repository {self.name!r}: object {sha} is missing")
            size = int(header[2])
            blobs[sha] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return blobs

    def changes(self, commit: str, paths: Iterable[str]) -> dict[str, list[Change]]:
        """For each of `paths`, the commits reachable from `commit` that changed it, newest first."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        fmt = "--format=%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%s"
        out = self._plumbing(
            "--literal-pathspecs",
            "log",
            "--topo-order",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "-z",
            fmt,
            commit,
            "--",
            *wanted,
        )
        found: dict[str, list[Change]] = defaultdict(list)
        for chunk in out.split(b"\x1e")[1:]:
            header, _, raw = chunk.partition(b"\0")
            sha, author, email, date, subject = header.decode("utf-8", "replace").split("\x1f", 4)
            info = Commit(sha, author, email, date, subject)
            fields = raw.lstrip(b"\n").split(b"\0")
            for meta, path in zip(fields[0::2], fields[1::2], strict=False):
                if meta.startswith(b":"):
                    _, _, old, new, _status = meta.decode().split(" ")
                    found[path.decode("utf-8", "surrogateescape")].append(Change(info, old, new))
        return dict(found)

    def _plumbing(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        command = ["git", f"--git-dir={self.path}", *args]
        proc = subprocess.run(command, input=input, capture_output=True, timeout=self.timeout, check=False)
        if check and proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise PermanentError(f"repository {self.name!r}: git {args[0]} failed: {detail[-1] if detail else ''}")
        return proc.stdout


def repository_for(
    *, name: str, url: str, branch: str, data_dir: Path, timeout: int, token_env: str = ""
) -> GitRepository:
    token = os.environ.get(token_env, "") if token_env else ""
    return GitRepository(
        name=name,
        url=url,
        branch=branch,
        path=data_dir / "repos" / f"{name}.git",
        timeout=timeout,
        token=token,
    )
