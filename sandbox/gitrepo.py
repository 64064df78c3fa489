"""Build real bare Git repositories with a believable history, fast (`git fast-import`).

Used by the demo, the tests and the benchmarks to create GitOps repositories: each
`commit()` writes one commit with the given author and date straight into the object
database, no work tree needed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Author:
    name: str
    email: str


DEFAULT_AUTHOR = Author("Demo Bot", "bot@example.com")


class RepoBuilder:
    """A bare repository at `path` whose branch grows one `commit()` at a time."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = Path(path)
        self.branch = branch
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--bare", f"--initial-branch={branch}")

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()

    def commit(
        self,
        files: Mapping[str, str | bytes | None],
        message: str,
        *,
        author: Author = DEFAULT_AUTHOR,
        date: datetime | None = None,
    ) -> str:
        """Write `files` (None deletes a path) as one commit on the branch; returns its sha."""
        when = int((date or datetime.now(UTC)).timestamp())
        stream: list[str | bytes] = [
            f"commit refs/heads/{self.branch}",
            "mark :1",
            f"author {author.name} <{author.email}> {when} +0000",
            f"committer {author.name} <{author.email}> {when} +0000",
            *_data(message.encode()),
        ]
        if self.head():
            stream.append(f"from refs/heads/{self.branch}^0")
        for path, content in files.items():
            if content is None:
                stream.append(f"D {path}")
            else:
                stream += [
                    f"M 100644 inline {path}",
                    *_data(content if isinstance(content, bytes) else content.encode()),
                ]
        payload = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in stream) + b"\n"
        self._git("fast-import", "--quiet", "--done", input=payload + b"done\n")
        return self.head() or ""

    def head(self) -> str | None:
        proc = subprocess.run(
            [
                "git",
                f"--git-dir={self.path}",
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{self.branch}",
            ],
            capture_output=True,
            check=False,
        )
        return proc.stdout.decode().strip() or None

    def read(self, path: str, ref: str | None = None) -> str:
        return self._git("show", f"{ref or self.branch}:{path}").decode()

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        proc = subprocess.run(["git", f"--git-dir={self.path}", *args], input=input, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed: {proc.stderr.decode().strip()}")
        return proc.stdout


def _data(content: bytes) -> list[bytes]:
    # `data <n>` then exactly n raw bytes (fast-import's counted format: any content is safe).
    return [f"data {len(content)}".encode() + b"\n" + content]
