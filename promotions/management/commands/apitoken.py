"""`manage.py apitoken create --user USER [--name N] [--expires DAYS]` (prints the token once),
`apitoken list [--user USER]`, `apitoken revoke ID`."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from promotions.accounts.tokens import apitoken_create, apitoken_revoke
from promotions.audit.chain import audit_context
from promotions.models import ApiToken


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens (Authorization: Bearer <token>)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        create = sub.add_parser("create")
        create.add_argument("--user", required=True)
        create.add_argument("--name", default="cli")
        create.add_argument("--expires", type=int, metavar="DAYS")
        listing = sub.add_parser("list")
        listing.add_argument("--user")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_context(source="cli"):
            getattr(self, f"_{options['what']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            self._fail(f"no user named {options['user']!r}")
        assert user is not None
        token, raw = apitoken_create(user=user, name=options["name"], expires_days=options["expires"])
        self.stdout.write(raw)
        expires = f", expires {token.expires_at:%Y-%m-%d}" if token.expires_at else ""
        self.stderr.write(f"token #{token.pk} {token.name!r} for {user}{expires}: store it now, it is not shown again")

    def _list(self, options: dict[str, Any]) -> None:
        rows = ApiToken.objects.select_related("user")
        if options["user"]:
            rows = rows.filter(user__username=options["user"])
        for t in rows:
            state = "revoked" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            self.stdout.write(f"#{t.pk}  {t.user}  {t.name}  {t.prefix}…  {state}  last used {used}")

    def _revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.filter(pk=options["id"]).first()
        if token is None:
            self._fail(f"no token #{options['id']}")
        assert token is not None
        apitoken_revoke(token=token, actor="cli")
        self.stdout.write(f"token #{token.pk} revoked")

    def _fail(self, message: str) -> None:
        self.stderr.write(f"error: {message}")
        sys.exit(2)
