"""The one way the portal runs git: every git process starts in this module.

`git_run` runs a command to its end and `git_stream` starts one whose output is read as it
comes (`git log` over a long history). Both start git through GitPython (`Git.execute`), with
the same environment (never a prompt; the caller's extra variables, such as a token header),
the same time limit and one error mapping:

- longer than the limit: the whole process group is killed -> TransientError naming the
  command and the limit ("… took longer than 20s");
- a non-zero exit -> PermanentError with git's own words (the last meaningful line of its
  stderr); a command that talks to a remote (fetch, push, ls-remote) is classified by
  `git_failure` instead, TransientError when retrying may help;
- credentials in a URL never reach a message (`promotions.text.redact`).

GitPython is imported on the first git call, not with this module: a command-line start
that runs no git (`manage.py approve`, `--help`) does not pay its ~25 ms import.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from promotions.errors import PermanentError, TransientError
from promotions.text import redact

if TYPE_CHECKING:
    from git.cmd import Git

# What a command that talks to a remote could not do, as a message says it ("cannot push to URL").
NETWORK_VERBS = {"fetch": "fetch", "push": "push to", "ls-remote": "list the refs of"}
# A git run by a server never waits for a person: no terminal prompt, no askpass program.
_QUIET = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}

# Why a fetch or push failed, by what git printed (any line, lower-cased): the first class
# that matches decides. Transient classes are retried with backoff; the others need a person.
_FAILURE_CLASSES: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    ("cannot reach the server", True, (
        "could not resolve host", "name or service not known", "temporary failure in name resolution",
        "failed to connect", "couldn't connect", "connection refused", "connection timed out", "timed out",
        "no route to host", "network is unreachable", "host is unreachable", "connection reset",
        "connection closed by", "the remote end hung up", "early eof",
    )),
    ("the server failed", True, ("returned error: 5", "http 5", "rpc failed", "rate limit", "temporarily unavailable")),
    ("repository not found", True, (
        "does not appear to be a git repository", "repository not found", "returned error: 404",
    )),
    ("authentication refused", False, (
        "permission denied", "authentication failed", "returned error: 401", "returned error: 403",
        "could not read username", "could not read password", "terminal prompts disabled",
        "host key verification failed", "invalid username or password",
    )),
    ("push rejected", False, ("[remote rejected]", "hook declined", "protected branch")),
)  # fmt: skip


@dataclass(frozen=True)
class GitResult:
    """A finished git command: its output as bytes, its stderr as text, its exit status."""

    stdout: bytes
    stderr: str
    status: int


@dataclass(frozen=True)
class GitFailure:
    """What went wrong talking to a remote: a class for people, whether retrying may help, git's own words."""

    cause: str
    transient: bool
    detail: str


@dataclass(frozen=True)
class PushStatus:
    """One ref's line of `git push --porcelain`: `!` is a refusal, `summary` is `[rejected]`
    (the remote moved on) or `[remote rejected]` (the server said no), `reason` is git's why."""

    flag: str
    ref: str
    summary: str
    reason: str


def git_run(
    args: Sequence[str],
    *,
    git_dir: Path,
    timeout: float,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    label: str = "",
    remote: str = "",
) -> GitResult:
    """Run `git --git-dir=GIT_DIR ARGS…` to its end, within `timeout` seconds.

    `input` is written to git's stdin; `env` adds to the process environment; `label` starts
    every message (`repository 'platform'`); `remote` is the URL a network command talks to
    (shown redacted). With `check`, a non-zero exit raises `git_error`; without, the caller
    reads the status (and raises `git_error` for the outcomes it does not handle itself)."""
    command = ["git", f"--git-dir={git_dir}", *args]
    proc = _start(command, git_dir=git_dir, env=env, stdin=input is not None)
    try:
        # Through the pipe, not through `istream`: Git.execute hands `istream` to Popen as
        # stdin, so bytes would need a file per call (a temp file: +0.3 ms; a memfd: +0.1 ms),
        # and its own time limit (`kill_after_timeout`) kills git's children only where
        # `pgrep`/`ps` exist (not in a slim image), so an https or ssh helper left behind keeps
        # the pipes open and the call never returns. `communicate` feeds stdin and reads both
        # pipes without a thread; on time-out the whole process group goes (see ADR 0001).
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise TransientError(_timeout_message(args, label, remote, timeout)) from None
    except BaseException:  # interrupted (Ctrl-C, a task's time limit): git must not outlive us
        _kill(proc)
        raise
    result = GitResult(stdout, stderr.decode("utf-8", "replace"), proc.returncode)
    if check and result.status != 0:
        raise git_error(args, result, label=label, remote=remote)
    return result


def git_error(
    args: Sequence[str], result: GitResult, *, label: str = "", remote: str = ""
) -> PermanentError | TransientError:
    """The error for a git command that exited non-zero, in git's words. A network command's
    failure is classified (`git_failure`): a TransientError when retrying may help."""
    verb = _verb(args)
    if verb not in NETWORK_VERBS or not remote:
        said = last_words(result.stderr) or f"exit status {result.status}"
        return PermanentError(f"{_prefix(label)}git {verb} failed: {said}")
    where = f"{_prefix(label)}cannot {NETWORK_VERBS[verb]} {redact(remote)}"
    refused = [status for status in push_statuses(result.stdout) if status.summary == "[remote rejected]"]
    if refused:  # the server said no (a hook, a protected branch): its own words follow git's reason
        said = "; ".join(_scrub(line.removeprefix("remote:").strip()) for line in result.stderr.splitlines()
                         if line.startswith("remote:") and line.removeprefix("remote:").strip())  # fmt: skip
        return PermanentError(f"{where}: push rejected ({refused[0].reason}){f': {said}' if said else ''}")
    failure = git_failure(result.stderr)
    message = f"{where}: {failure.cause} ({failure.detail})"
    return TransientError(message) if failure.transient else PermanentError(message)


def git_failure(output: str) -> GitFailure:
    """Classify git's output of a failed fetch or push (see `_FAILURE_CLASSES`)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    lowered = [ln.lower() for ln in lines]
    for cause, transient, hints in _FAILURE_CLASSES:
        for line, low in zip(lines, lowered, strict=True):
            if any(hint in low for hint in hints):
                return GitFailure(cause, transient, _scrub(_strip_prefix(line)))
    detail = next((ln for ln in reversed(lines) if ln.lower().startswith(("fatal", "error"))), "")
    return GitFailure("git failed", False, _scrub(_strip_prefix(detail or (lines[-1] if lines else "no output"))))


def push_statuses(stdout: bytes) -> list[PushStatus]:
    """The ref lines of `git push --porcelain` (`flag TAB from:to TAB summary (reason)`).

    Parsed here rather than by GitPython's `PushInfo`: that needs a configured `Remote` of a
    `Repo`, and it cannot name a pushed commit sha (`Reference.from_path` refuses it), so
    `Remote.push` drops exactly the lines that say a push of a sha was refused."""
    statuses = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        flag, tab, rest = line.partition("\t")
        if not tab or len(flag) != 1:
            continue  # "To URL", "Done"
        refs, _, outcome = rest.partition("\t")
        summary, _, reason = outcome.partition(" (")
        statuses.append(PushStatus(flag, refs.rpartition(":")[2], summary, reason.removesuffix(")")))
    return statuses


def last_words(stderr: str) -> str:
    """What git's stderr says went wrong: its last `error:`/`fatal:` lines (git often gives the
    cause, then the conclusion: "Could not read 1a2b…; revision walk setup failed"), or its
    last line; without the prefixes and with any credentials in a URL hidden."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("hint:")]
    said = [ln for ln in lines if ln.startswith(("fatal:", "error:"))][-2:] or lines[-1:]
    return "; ".join(_scrub(_strip_prefix(line)) for line in said)


class GitStream:
    """A running git command whose stdout is read as git writes it (`git_stream`).

    Read `stdout` to its end, then call `finish()`: it raises like `git_run` when git failed or
    ran out of time, so a failed `git log` is an error, never a short history. `close()` stops
    git at any point (the caller has what it needs); use the stream as a context manager."""

    def __init__(self, proc: subprocess.Popen[bytes], args: Sequence[str], *, timeout: float, label: str) -> None:
        self._proc: subprocess.Popen[bytes] | None = proc
        self._args = args
        self._timeout = timeout
        self._label = label
        self._expired = threading.Event()
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        assert proc.stdout is not None
        self.stdout: IO[bytes] = proc.stdout

    def __enter__(self) -> GitStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finish(self) -> None:
        """After the last byte of stdout: wait for git and raise if it did not succeed."""
        proc = self._proc
        if proc is None:
            return
        stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        status = proc.wait()
        self.close()
        if self._expired.is_set():
            raise TransientError(_timeout_message(self._args, self._label, "", self._timeout))
        if status != 0:
            raise git_error(self._args, GitResult(b"", stderr, status), label=self._label)

    def close(self) -> None:
        self._watchdog.cancel()
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None

    def _expire(self) -> None:
        self._expired.set()
        if (proc := self._proc) is not None:
            _kill_group(proc)


def git_stream(
    args: Sequence[str], *, git_dir: Path, timeout: float, env: Mapping[str, str] | None = None, label: str = ""
) -> GitStream:
    """Start `git --git-dir=GIT_DIR ARGS…` and return its output as a stream (see GitStream),
    with a 1 MiB pipe so git can run ahead (on another core) while the caller works."""
    proc = _start(["git", f"--git-dir={git_dir}", *args], git_dir=git_dir, env=env, stdin=False)
    assert proc.stdout is not None
    with suppress(OSError):  # room for git to run ahead: 1 MiB instead of 64 KiB
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    return GitStream(proc, args, timeout=timeout, label=label)


def _start(command: list[str], *, git_dir: Path, env: Mapping[str, str] | None, stdin: bool) -> subprocess.Popen[bytes]:
    from git.exc import GitCommandNotFound

    try:
        process = _git(git_dir).execute(
            command,
            istream=subprocess.PIPE if stdin else None,
            as_process=True,  # the caller waits, within its time limit (see git_run)
            env={**_QUIET, **(env or {})},
            process_group=0,  # git and its helpers (ssh, git-remote-https) die together
        )
    except GitCommandNotFound:
        raise PermanentError("git is not installed (no `git` on PATH)") from None
    proc = process.proc
    process.proc = None  # from here on this module owns the process (GitPython would only SIGTERM git)
    assert proc is not None
    return proc


def _git(git_dir: Path) -> Git:
    import git

    # Run in the clone (GitPython falls back to no working directory while it does not exist).
    return git.Git(git_dir)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop git and its helpers and release the pipes; nothing is waited on but git itself,
    so a helper that escaped the group cannot hold the caller."""
    if proc.poll() is None:
        _kill_group(proc)
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _timeout_message(args: Sequence[str], label: str, remote: str, timeout: float) -> str:
    target = f" {redact(remote)}" if remote else ""
    return f"{_prefix(label)}git {_verb(args)}{target} took longer than {timeout:g}s"


def _prefix(label: str) -> str:
    return f"{label}: " if label else ""


def _verb(args: Sequence[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _strip_prefix(line: str) -> str:
    for prefix in ("fatal: ", "error: ", "remote: "):
        line = line.removeprefix(prefix)
    return line


def _scrub(text: str) -> str:
    """`redact` each word: git quotes URLs inside sentences ("unable to access 'https://…'")."""
    return " ".join(redact(word) for word in text.split(" "))
