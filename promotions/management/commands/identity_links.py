"""`manage.py identity_links propose|link|unlink`: who a GitHub login or chat user is in the portal.

Only links made here or in the admin let an outside identity act; `propose` lists identities
seen acting whose name equals a username (what older versions trusted silently), each with the
command that confirms it, or asks one by one with `--interactive`.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from promotions.accounts.identities import LINK_FIELDS, identity_link, identity_proposals, identity_unlink
from promotions.audit.chain import audit_context
from promotions.errors import PortalError

ACTOR = "admin (identity_links)"


class Command(BaseCommand):
    help = "Link portal users to their GitHub login and chat user ids (only linked identities may act)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        propose = sub.add_parser("propose", help="list unlinked identities whose name equals a username")
        propose.add_argument("--interactive", action="store_true", help="ask for each proposal whether to link it")
        for name in ("link", "unlink"):
            command = sub.add_parser(name, help=f"{name} one identity")
            command.add_argument("username")
            group = command.add_mutually_exclusive_group(required=True)
            for system in LINK_FIELDS:
                if name == "link":
                    group.add_argument(f"--{system}", metavar="ID")
                else:
                    group.add_argument(f"--{system}", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_context(source="cli"):
            try:
                getattr(self, options["what"])(options)
            except PortalError as exc:
                raise CommandError(str(exc)) from None

    def propose(self, options: dict[str, Any]) -> None:
        proposals = identity_proposals()
        if not proposals:
            self.stdout.write("nothing to propose: every identity seen acting is linked or matches no username")
            return
        for p in proposals:
            line = f"{p.system} {p.identity} → {p.username} (seen: {p.seen})"
            if not options["interactive"]:
                self.stdout.write(f"{line}\n    confirm: manage.py identity_links link {p.username} --{p.system} "
                                  f"{p.identity}")  # fmt: skip
                continue
            self.stdout.write(f"{line}: link? [y/N] ", ending="")
            if sys.stdin.readline().strip().lower() in ("y", "yes"):
                identity_link(user=self._user(p.username), system=p.system, identity=p.identity, actor=ACTOR)
                self.stdout.write("    linked")

    def link(self, options: dict[str, Any]) -> None:
        system = next(s for s in LINK_FIELDS if options.get(s))
        user = self._user(options["username"])
        identity_link(user=user, system=system, identity=options[system], actor=ACTOR)
        self.stdout.write(f"linked {system} {options[system]} to {user.get_username()}")

    def unlink(self, options: dict[str, Any]) -> None:
        system = next(s for s in LINK_FIELDS if options.get(s))
        user = self._user(options["username"])
        identity_unlink(user=user, system=system, actor=ACTOR)
        self.stdout.write(f"{user.get_username()} has no {system} link now")

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        return user
