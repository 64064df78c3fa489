"""Request signatures from Git hosting and chat: HMAC-SHA256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_valid(secret: str, body: bytes, header: str) -> bool:
    return bool(header) and hmac.compare_digest(github_signature(secret, body), header)


def gitea_valid(secret: str, body: bytes, header: str) -> bool:
    """`X-Gitea-Signature` / `X-Forgejo-Signature`: the hex HMAC-SHA256 of the body, no prefix."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(header) and hmac.compare_digest(expected, header.strip().lower())


def token_valid(secret: str, header: str) -> bool:
    """`X-Gitlab-Token`: GitLab sends the shared secret itself; compared in constant time."""
    return bool(header) and hmac.compare_digest(secret.encode(), header.encode())


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack sends: v0=HMAC(secret, "v0:{timestamp}:{body}")."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_valid(secret: str, timestamp: str, body: bytes, header: str, *, now: float, window: float = 300) -> str:
    """Empty when valid; otherwise why not (stale timestamps are refused: replays)."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return "missing or malformed X-Slack-Request-Timestamp"
    if age > window:
        return f"stale request ({int(age)}s old); replays are refused"
    if not header or not hmac.compare_digest(slack_signature(secret, timestamp, body), header):
        return "bad signature"
    return ""
