"""User text that ends up inside structure (commit messages, trailers, YAML, logs): one rule.

A single-line field (a build id, an issue key, a version) may hold no control character and
no line break of any kind, so it can never form a line of its own in a commit message.
Free text (a reason, a comment) may hold line breaks, which are normalised to `\\n`.
"""

from __future__ import annotations

import unicodedata

# Line breaks that are not control characters (category Cc) but that some tools split on.
_OTHER_BREAKS = frozenset("\u2028\u2029")
SINGLE_LINE = "must be a single line without control characters"
FREE_TEXT = "must not contain control characters other than line breaks and tabs"


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` may not be used as given (None when it may)."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for char in value:
        if char in allowed:
            continue
        if unicodedata.category(char) == "Cc" or char in _OTHER_BREAKS:
            return FREE_TEXT if multiline else SINGLE_LINE
    return None


def free_text(value: str) -> str:
    """Free text with its line breaks normalised (browsers send CRLF) and outer blanks removed."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def redact(url: str) -> str:
    """Hide the credentials part of a URL (`scheme://user:secret@host` -> `scheme://***@host`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
