"""Personal API tokens: shown once, stored as a SHA-256, revocable, with a last-used time."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from promotions.audit.chain import audit_record
from promotions.models import ApiToken

PREFIX = "gp_"
LAST_USED_EVERY = timedelta(seconds=60)  # don't write on every request


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def apitoken_create(*, user: User, name: str, expires_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; the raw token is returned here and never again."""
    raw = PREFIX + secrets.token_urlsafe(32)
    expires = timezone.now() + timedelta(days=expires_days) if expires_days else None
    token = ApiToken.objects.create(user=user, name=name.strip() or "token", key_hash=_digest(raw), prefix=raw[:10],
                                    expires_at=expires)  # fmt: skip
    audit_record(
        action="token.created",
        actor=user.get_username(),
        message=f"API token {token.name} ({token.prefix}…)",
        targets={"token": token.pk},
        after={"expires_at": expires.isoformat() if expires else None},
    )
    return token, raw


def apitoken_revoke(*, token: ApiToken, actor: str) -> None:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        audit_record(action="token.revoked", actor=actor, message=f"API token {token.name} ({token.prefix}…)",
                     targets={"token": token.pk})  # fmt: skip


def apitoken_user(raw: str) -> tuple[User | None, str]:
    """The user a raw token belongs to, or None and why not (unknown, revoked, expired)."""
    token = ApiToken.objects.select_related("user").filter(key_hash=_digest(raw)).first()
    now = timezone.now()
    if token is None:
        return None, "unknown token"
    if token.revoked_at is not None:
        return None, "this token was revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return None, "this token expired"
    if not token.user.is_active:
        return None, "the token's user is deactivated"
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, ""
