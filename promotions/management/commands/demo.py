"""`manage.py demo`: a demo GitOps repository, its catalogue and three users (idempotent)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from promotions.catalogue.loader import catalog_load
from promotions.management.base import sandbox_module
from promotions.matrix.refresh import matrix_refresh


class Command(BaseCommand):
    help = "Create (or keep) the demo repository, catalogue and users, then read the matrix."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--reset", action="store_true", help="rebuild the demo repository from scratch")

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        demo = sandbox_module("sandbox.demo")
        try:
            config = demo.demo_build(data_dir=settings.DATA_DIR, reset=reset)
        except ValueError as exc:  # DEMO_GIT_HOST names no host the demo knows
            raise CommandError(str(exc)) from None
        for username, (password, group_name, _role) in demo.USERS.items():
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = username == "admin"
            user.save()
            user.groups.add(Group.objects.get_or_create(name=group_name)[0])
        report = matrix_refresh(catalog=catalog_load(config))
        self.stdout.write(f"Demo catalogue: {config}")
        if config.resolve() != settings.GITOPS_PORTAL_CONFIG:
            self.stdout.write(
                f"  (the portal reads {settings.GITOPS_PORTAL_CONFIG}; set GITOPS_PORTAL_CONFIG={config})"
            )
        for name, error in report.errors.items():
            self.stderr.write(f"  {name}: {error}")
        self.stdout.write("Users (username / password):")
        for username, (password, _group, role) in demo.USERS.items():
            self.stdout.write(f"  {username:6} / {password}   ({role})")
