"""Typed readers for environment variables that fail loudly, naming the variable.

Settings come from the environment only (see `.env.example`). Every reader raises
`ImproperlyConfigured` with the variable's name and the offending value, so a bad
deployment stops at start-up instead of misbehaving later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from promotions.text import redact

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or the content of the file named by `<NAME>_FILE` (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_pairs(name: str) -> dict[str, frozenset[str]]:
    """`key=value,key=value` pairs (a key may repeat: it then has several values); empty when unset."""
    pairs: dict[str, set[str]] = {}
    for item in env_list(name, []):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key or not value:
            raise ImproperlyConfigured(f"{name}: expected key=value pairs separated by commas, got {item!r}")
        pairs.setdefault(key, set()).add(value)
    return {key: frozenset(values) for key, values in pairs.items()}


def env_path(name: str, default: Path) -> Path:
    """A path; relative values are taken relative to the current directory."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return Path(raw).expanduser().resolve()


def env_url(name: str, schemes: tuple[str, ...]) -> str:
    """An optional URL whose scheme must be one of `schemes`; empty when unset."""
    raw = os.environ.get(name, "").strip()
    if raw and ("://" not in raw or raw.split("://", 1)[0] not in schemes):
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name}: expected a URL starting with {allowed}, got {redact(raw)!r}")
    return raw


def ensure_writable_dir(name: str, path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}: cannot create directory {str(path)!r}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise ImproperlyConfigured(f"{name}: directory {str(path)!r} is not writable")
    return path


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_file_load(name: str, default: Path) -> Path | None:
    """Fill the environment from an env file: `$<name>` (set but empty: none), else `default`.

    A variable the environment already sets is never replaced, and a missing file is no error.
    `make run` writes the demo's settings to `.env` this way, so that a command in a second terminal
    finds the same database, catalogue and SECRET_KEY as the portal it runs. Returns the file read.
    """
    raw = os.environ.get(name)
    path = default if raw is None else Path(raw).expanduser() if raw.strip() else None
    if path is None or not path.is_file():
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}: cannot read {str(path)!r}: {exc.strerror}") from exc
    for key, value in env_file_parse(text, source=f"{name}: {path}").items():
        os.environ.setdefault(key, value)
    return path


def env_file_parse(text: str, *, source: str) -> dict[str, str]:
    """`KEY=value` lines; blank lines and `#` comments are skipped, an `export ` prefix and quotes
    around the value are allowed. Anything else raises, naming `source` and the line (not its value)."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, equals, value = stripped.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not _NAME.fullmatch(key):
            raise ImproperlyConfigured(f"{source}:{number}: expected KEY=value")
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values
