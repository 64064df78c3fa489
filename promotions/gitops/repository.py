"""Git: a remote branch mirrored into a bare clone, read and written with git's plumbing.

One persistent bare clone per repository under the data dir, updated with `fetch`
(never a clone per request). Files are read at a commit straight from the object
database (`ls-tree`, `cat-file --batch`): no work tree is checked out for reading.
Every git command runs through `promotions.gitops.runner` (one process per bulk
operation, one time limit, one error mapping; see docs/adr/0001).
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from promotions.errors import PermanentError, TransientError
from promotions.gitops.filelock import file_lock
from promotions.gitops.runner import GitFailure as GitFailure  # re-exported: callers classify failures from here
from promotions.gitops.runner import GitResult, GitStream, git_error, git_run, git_stream, push_statuses
from promotions.gitops.runner import git_failure as git_failure
from promotions.text import redact

NULL_SHA = "0" * 40


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    date: str  # ISO 8601 with offset
    subject: str


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class CommitRecord:
    """A commit's message, committer e-mail and the paths it changed (against its first parent)."""

    sha: str
    committer_email: str
    message: str
    paths: frozenset[str]


class PushRejected(TransientError):
    """The remote branch moved on (non-fast-forward): fetch, re-apply, push again."""


class MergeConflict(PermanentError):
    """Two branches change the same lines; a person has to decide."""


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

    def sync(self, *, shallow: bool = False) -> str:
        """Fetch the branch (cloning the first time) and return its head commit sha.

        `shallow`: a first clone fetches the head commit alone (`--depth 1`): what the branch
        declares now, in the time of its files rather than of its whole history (a minute for
        150,000 commits). `deepen` fetches the rest when history is wanted; later fetches of a
        shallow clone add the new commits on top of it."""
        with self._lock():
            fresh = self._init()
            self._fetch(depth=1 if shallow and fresh else None)
        head = self.head()
        if head is None:  # pragma: no cover - fetch succeeded, so the ref exists
            raise PermanentError(f"repository {self.name!r}: branch {self.branch!r} not found after fetch")
        return head

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One fetch at a time per clone on this host (other hosts have their own clone)."""

        def busy() -> TransientError:
            return TransientError(f"repository {self.name!r}: another fetch holds the lock")

        with file_lock(Path(str(self.path) + ".lock"), self.timeout, busy):
            yield

    def deepen(self) -> None:
        """Fetch the history a shallow clone lacks (nothing to do for a complete one)."""
        if not self.is_shallow():
            return
        with self._lock():
            if self.is_shallow():  # another process may have deepened it while this one waited
                self._fetch(unshallow=True)

    def is_shallow(self) -> bool:
        """Whether the clone lacks history (git records the cut-off commits in `shallow`)."""
        return (self.path / "shallow").exists()

    def _init(self) -> bool:
        """Create the clone's git directory; whether it had to (nothing fetched yet)."""
        if (self.path / "HEAD").exists() and self.head() is not None:
            return False
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--bare")
        return True

    def _fetch(self, branch: str | None = None, *, depth: int | None = None, unshallow: bool = False) -> None:
        # Fetch by URL (no remote in the clone's config): a changed URL just works, and
        # nothing about the remote is stored.
        branch = branch or self.branch
        refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
        options = [f"--depth={depth}"] if depth else ["--unshallow"] if unshallow else []
        result = self._remote("fetch", "--quiet", "--no-tags", *options, "--", self.url, refspec)
        if result.status != 0:
            raise self._fetch_error(result, branch)

    def fetch_branch(self, branch: str) -> str | None:
        """Fetch another branch (a promotion's own); None when the remote has no such branch."""
        try:
            with self._lock():
                self._fetch(branch)
        except PermanentError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return self._rev_parse(f"refs/remotes/origin/{branch}")

    def push(self, commit: str, branch: str, *, force: bool = False) -> None:
        """Push `commit` to `branch`; PushRejected when the branch moved on in the meantime."""
        self._push(f"{'+' if force else ''}{commit}:refs/heads/{branch}", branch)

    def delete_branch(self, branch: str) -> bool:
        """Delete `branch` on the remote; False when it was already gone (a server may say so
        with an error or with a warning). A refusal is a PermanentError in the server's words."""
        result = self._remote("push", "--porcelain", "--", self.url, f":refs/heads/{branch}")
        gone = "remote ref does not exist" in result.stderr or "deleting a non-existent ref" in result.stderr
        if result.status != 0 and not gone:
            raise git_error(["push"], result, label=self._label, remote=self.url)
        return not gone

    def _push(self, refspec: str, name: str, *, moved: tuple[str, ...] = ()) -> None:
        """Push one refspec. `[rejected]` (non-fast-forward, fetch first, stale info) means the
        remote moved on, and so do the server's refusals whose reason starts with `moved`."""
        result = self._remote("push", "--quiet", "--porcelain", "--", self.url, refspec)
        if result.status == 0:
            return
        for status in push_statuses(result.stdout):
            if status.flag == "!" and (status.summary == "[rejected]" or status.reason.startswith(moved)):
                raise PushRejected(f"repository {self.name!r}: {name} moved on while pushing; retrying on top of it")
        raise git_error(["push"], result, label=self._label, remote=self.url)

    def _remote(self, *args: str) -> GitResult:
        """A command that talks to the remote: with the token, its failure classified by the caller."""
        return git_run(args, git_dir=self.path, timeout=self.timeout, env=self._env(), check=False,
                       label=self._label, remote=self.url)  # fmt: skip

    def _fetch_error(self, result: GitResult, branch: str) -> PermanentError | TransientError:
        if "couldn't find remote ref" in result.stderr.lower():
            return PermanentError(f"repository {self.name!r}: cannot fetch {redact(self.url)}: "
                                  f"branch {branch!r} does not exist")  # fmt: skip
        return git_error(["fetch"], result, label=self._label, remote=self.url)

    def _env(self) -> dict[str, str]:
        if not self._token:
            return {}
        # The token travels in an environment-only config entry: never on a command
        # line (visible in ps) and never written to the clone's config file.
        basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }

    # -- local reads (no network) ------------------------------------------------------

    def head(self) -> str | None:
        """The last fetched commit of the branch, or None before the first fetch."""
        if not (self.path / "HEAD").exists():
            return None
        try:  # fetch writes the ref as a loose file; reading it saves a process per promotion
            sha = (self.path / self._ref).read_text().strip()
            if len(sha) in (40, 64) and all(c in "0123456789abcdef" for c in sha):
                return sha
        except OSError:
            pass
        return self._rev_parse(self._ref + "^{commit}")

    def write_commit(
        self, *, base: str, files: dict[str, tuple[str, bytes]], message: str, author: Person, committer: Person
    ) -> str:
        """Create a commit on top of `base` replacing `files` (path -> (mode, content)),
        straight into the object database: no work tree, one process."""
        ref = f"refs/portal/work/{uuid.uuid4().hex}"
        when = f"{int(time.time())} +0000"
        stream = [
            f"commit {ref}\n".encode(),
            b"mark :1\n",
            f"author {author.name} <{author.email}> {when}\n".encode(),
            f"committer {committer.name} <{committer.email}> {when}\n".encode(),
            _data(message.encode()),
            f"from {base}\n".encode(),
        ]
        for path, (mode, content) in sorted(files.items()):
            stream += [f"M {mode} inline {path}\n".encode(), _data(content)]
        # `get-mark` answers the new commit's sha on stdout; the scratch ref is dropped
        # by a ref deletion in the same stream, so nothing else needs to run.
        stream += [b"get-mark :1\n", f"reset {ref}\nfrom {NULL_SHA}\n\n".encode(), b"done\n"]
        return self._git("fast-import", "--quiet", "--done", input=b"".join(stream)).decode().strip()

    def merge(self, *, base: str, head: str, message: str, committer: Person) -> str:
        """A real merge commit of `head` into `base` (MergeConflict when they conflict; any other
        failure of git is a PermanentError in git's words)."""
        args = ("merge-tree", "--write-tree", "--name-only", "-z", base, head)
        result = git_run(args, git_dir=self.path, timeout=self.timeout, check=False, label=self._label)
        if result.status == 1:
            files = [f.decode() for f in result.stdout.split(b"\0\0")[0].split(b"\0")[1:] if f]
            raise MergeConflict(
                f"repository {self.name!r}: the change conflicts with {self.branch} in {', '.join(files)}"
            )
        if result.status != 0:
            raise git_error(args, result, label=self._label)
        tree = result.stdout.split(b"\0")[0].decode()
        return self._commit_tree(tree, [base, head], message, committer)

    def commits_with_line(
        self, ref: str, line: str, *, since: float | None = None, limit: int = 20
    ) -> list[CommitRecord]:
        """Commits reachable from `ref` (newest first, at most `limit`) whose message has the
        line `line` somewhere, with their committer and the files they changed: the caller
        decides which of them, if any, is really the one it looks for."""
        args = ["log", f"-{limit}", "--no-renames", "--format=%x1e%H%x00%ce%x00%B%x00", "--name-only", "-z",
                f"--grep=^{re.escape(line)}$"]  # fmt: skip
        if since is not None:
            args.append(f"--since={int(since)}")
        out = self._git(*args, ref, "--", check=False).decode("utf-8", "surrogateescape")
        records = []
        for record in out.split("\x1e")[1:]:
            sha, email, message, *paths = record.split("\0")
            changed = frozenset(p.lstrip("\n") for p in paths if p.strip("\n"))
            records.append(CommitRecord(sha, email, message, changed))
        return records

    def has_commit(self, sha: str) -> bool:
        return self._git("cat-file", "-t", sha, check=False).strip() == b"commit"

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether `older` is in `newer`'s history; False as well when either is unknown (a
        commit gone from the clone is no base to build on). Not `Repo.is_ancestor`: it has no
        time limit, raises for an unknown commit, and costs the same process."""
        result = git_run(("merge-base", "--is-ancestor", older, newer), git_dir=self.path, timeout=self.timeout,
                         check=False, label=self._label)  # fmt: skip
        return result.status == 0

    def touched_paths(self, old: str, new: str) -> dict[str, str]:
        """Every file a commit after `old` up to `new` touched (not only the net difference: a
        version changed and changed back is still a change of its date): path -> the status
        letters seen (A added, D deleted, M modified, T type changed; renames count as D + A)."""
        out = self._git("log", "--no-renames", "--name-status", "-z", "--format=", f"{old}..{new}", "--")
        fields = [f.decode("utf-8", "surrogateescape") for f in out.split(b"\0") if f.strip(b"\n")]
        touched: dict[str, str] = {}
        for status, path in zip(fields[::2], fields[1::2], strict=True):
            status = status.strip("\n")[:1]
            if status not in touched.get(path, ""):
                touched[path] = touched.get(path, "") + status
        return touched

    def commits_missing(self, head: str, revision: str) -> frozenset[str] | None:
        """The commits in `head`'s history that `revision` does not have (`rev-list head ^revision`):
        a change made at or before `head` is in `revision` exactly when it is not among them. None
        when either commit is unknown to the clone (an operator ahead of the last fetch)."""
        result = git_run(("rev-list", head, f"^{revision}", "--"), git_dir=self.path, timeout=self.timeout,
                         check=False, label=self._label)  # fmt: skip
        if result.status != 0:
            return None
        return frozenset(result.stdout.decode().split())

    def tree(self, commit: str) -> dict[str, str]:
        """Every file at `commit`: path -> blob sha."""
        return {path: sha for path, (_mode, sha) in self.entries(commit).items()}

    def entries(self, commit: str, paths: Iterable[str] = ()) -> dict[str, tuple[str, str]]:
        """Files at `commit` (all, or just `paths`): path -> (mode, blob sha)."""
        wanted = list(paths)
        args = ["--", *wanted] if wanted else ["-r"]
        out = self._git("--literal-pathspecs", "ls-tree", "-z", "--full-tree", commit, *args)
        files = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            mode, kind, sha = meta.split(b" ")
            if kind == b"blob":
                files[path.decode("utf-8", "surrogateescape")] = (mode.decode(), sha.decode())
        return files

    def blob_sizes(self, shas: Iterable[str]) -> dict[str, int]:
        """The size in bytes of many blobs, without reading them (one `cat-file --batch-check`)."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        out = self._git("cat-file", "--batch-check=%(objectname) %(objectsize)",
                        input=("\n".join(wanted) + "\n").encode())  # fmt: skip
        sizes = {}
        for line in out.decode().splitlines():
            sha, _, size = line.partition(" ")
            if size.isdigit():
                sizes[sha] = int(size)
        return sizes

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """The content of many blobs in one `cat-file --batch` round trip."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        out = self._git("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
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

    def iter_changes(self, commit: str, paths: Iterable[str], *, since: str | None = None) -> ChangeStream:
        """(path, change) for each commit reachable from `commit` (and not from `since`) that
        changed one of `paths`, newest first, streamed: stop iterating and git stops too.

        git starts at once, so it can run ahead (on another core) while the caller does
        other work before iterating. A git that fails raises PermanentError at the end of
        the iteration: a broken history is never read as a short one."""
        wanted = {path.encode("utf-8", "surrogateescape"): path for path in paths}
        if not wanted:
            return ChangeStream(None, wanted)
        # No pathspec: git then skips history simplification, which costs more (measured:
        # 2.5x on 6,000 commits) than filtering the paths here; thousands of file pathspecs
        # are worse still (every pathspec is matched against every change).
        revisions = [commit, f"^{since}"] if since else [commit]
        args = ["log", "--topo-order", "--no-renames", "--raw", "--no-abbrev", "-z",
                "--format=%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%s", *revisions, "--"]  # fmt: skip
        return ChangeStream(git_stream(args, git_dir=self.path, timeout=self.timeout, label=self._label), wanted)

    # -- refs outside the branch (the audit anchors) -----------------------------------

    def fetch_ref(self, ref: str) -> str | None:
        """Fetch any ref of the remote (`refs/...`, cloning the first time) and return its sha;
        None when the remote has no such ref. The remote is the authority: a local value is
        never used in its place."""
        with self._lock():
            self._init()
            result = self._remote("fetch", "--quiet", "--no-tags", "--", self.url, f"+{ref}:{_mirror(ref)}")
        if result.status != 0:
            if "couldn't find remote ref" in result.stderr.lower():
                return None
            raise self._fetch_error(result, ref)
        return self._rev_parse(_mirror(ref))

    def write_empty_commit(self, *, parent: str | None, message: str, committer: Person) -> str:
        """A commit with the empty tree on top of `parent` (a root commit without one), authored
        and committed by `committer`: a record that is nothing but its message."""
        tree = self._git("mktree", input=b"").decode().strip()
        return self._commit_tree(tree, [parent] if parent else [], message, committer)

    def push_ref(self, sha: str, ref: str) -> None:
        """Push `sha` to `ref` (`refs/...`), fast-forward only; PushRejected when the ref moved on."""
        # "failed to update ref" / "cannot lock ref": another push landed between our
        # reading of the ref and our update of it.
        self._push(f"{sha}:{ref}", ref, moved=("failed to update ref", "cannot lock ref"))

    def log_messages(self, ref: str) -> list[tuple[str, str]]:
        """(sha, message) of each commit along the first parents of `ref`, newest first."""
        out = self._git("log", "--first-parent", "-z", "--format=%H%n%B", ref, "--")
        records = (record.partition("\n") for record in out.decode("utf-8", "replace").split("\0") if record)
        return [(sha, message) for sha, _, message in records]

    # -- running git ---------------------------------------------------------------------

    @property
    def _label(self) -> str:
        return f"repository {self.name!r}"

    def _git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """A local command's stdout (PermanentError in git's words when it fails and `check`)."""
        return git_run(args, git_dir=self.path, timeout=self.timeout, input=input, check=check,
                       label=self._label).stdout  # fmt: skip

    def _rev_parse(self, ref: str) -> str | None:
        return self._git("rev-parse", "--verify", "--quiet", ref, check=False).decode().strip() or None

    def _commit_tree(self, tree: str, parents: list[str], message: str, committer: Person) -> str:
        """A commit of `tree` on `parents`, authored and committed by `committer`."""
        env = {
            "GIT_AUTHOR_NAME": committer.name, "GIT_AUTHOR_EMAIL": committer.email,
            "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
        }  # fmt: skip
        args = ["commit-tree", tree, *[arg for parent in parents for arg in ("-p", parent)], "-F", "-"]
        result = git_run(args, git_dir=self.path, timeout=self.timeout, input=message.encode(), env=env,
                         label=self._label)  # fmt: skip
        return result.stdout.decode().strip()


class ChangeStream:
    """A running `git log --raw`, parsed as it is read; use it as a context manager so git
    is stopped however the caller leaves (early when it has what it needs)."""

    def __init__(self, stream: GitStream | None, wanted: dict[bytes, str]) -> None:
        self._stream = stream
        self._wanted = wanted

    def __enter__(self) -> ChangeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[str, Change]]:
        stream = self._stream
        if stream is None:
            return
        tail = b""
        while chunk := stream.stdout.read(1 << 16):
            records = (tail + chunk).split(b"\x1e")
            tail = records.pop()
            for record in records:
                yield from _parse_record(record, self._wanted)
        yield from _parse_record(tail, self._wanted)
        self._stream = None
        stream.finish()  # git's exit status: a failed walk raises here, it is never a short history

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _parse_record(record: bytes, wanted: dict[bytes, str]) -> Iterator[tuple[str, Change]]:
    """One `git log -z --raw` commit record: header, NUL, then `:meta NUL path NUL` pairs."""
    if not record:
        return
    header, _, raw = record.partition(b"\0")
    fields = raw.lstrip(b"\n").split(b"\0")
    commit: Commit | None = None
    for i in range(1, len(fields), 2):
        path = wanted.get(fields[i])
        if path is None:
            continue
        if commit is None:  # decoded only for commits that touch a wanted file
            commit = Commit(*header.decode("utf-8", "replace").split("\x1f", 4))
        _, _, old, new, _status = fields[i - 1].decode().split(" ")
        yield path, Change(commit, old, new)


def _mirror(ref: str) -> str:
    """Where the clone keeps its copy of the remote's `ref` (`refs/x/y` -> `refs/portal/remote/x/y`)."""
    return "refs/portal/remote/" + ref.removeprefix("refs/")


def _data(content: bytes) -> bytes:
    return f"data {len(content)}\n".encode() + content + b"\n"


def repository_for(
    *, name: str, url: str, branch: str, data_dir: Path, timeout: int, token_env: str = ""
) -> GitRepository:
    token = os.environ.get(token_env, "") if token_env else ""
    return GitRepository(
        name=name, url=url, branch=branch, path=data_dir / "repos" / f"{name}.git", timeout=timeout, token=token
    )
