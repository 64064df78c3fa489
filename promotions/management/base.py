"""What the promotion commands share: acting as a user, printing a promotion (text or the
JSON contract), exit codes (1: the promotion failed; 2: the request was refused)."""

from __future__ import annotations

import importlib
import json
import sys
from types import ModuleType
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from promotions.audit.chain import audit_context
from promotions.catalogue.loader import catalog_load
from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.models import Promotion
from promotions.workflow.permissions import Who, who
from promotions.workflow.queries import promotion_document
from promotions.workflow.store import store_read


class PromotionCommand(BaseCommand):
    """Subclasses implement `run(options) -> Promotion`; PortalError means refused (exit 2)."""

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_context(source="cli"):
            try:
                promotion = self.run(options)
            except PortalError as exc:
                self.refuse(str(exc), options.get("json", False))
            promotion.refresh_from_db()
            self.show(promotion, options.get("json", False))
            if promotion.state == Promotion.State.FAILED:
                sys.exit(1)

    def run(self, options: dict[str, Any]) -> Promotion:
        raise NotImplementedError

    def catalog(self, options: dict[str, Any]) -> Catalog:
        """The catalogue, once every repository in it was read from Git (read now on a fresh server)."""
        catalog = catalog_load(options.get("config") or settings.GITOPS_PORTAL_CONFIG)
        store_read(catalog=catalog)
        return catalog

    def user(self, username: str | None) -> User | None:
        if not username:
            return None
        user = User.objects.filter(username=username).first()
        if user is None:
            raise PortalError(f"no user named {username!r}")
        if not user.is_active:
            raise PortalError(f"user {username!r} is deactivated")
        return user

    def actor(self, username: str | None, catalog: Catalog) -> Who:
        return who(self.user(username), catalog)

    def promotion(self, promotion_id: int) -> Promotion:
        promotion = Promotion.objects.filter(pk=promotion_id).first()
        if promotion is None:
            raise PortalError(f"no promotion #{promotion_id}")
        return promotion

    def show(self, promotion: Promotion, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(promotion_document(promotion)))
            return
        self.stdout.write(f"promotion #{promotion.pk}: {promotion.title} — {promotion.state}")
        details = [promotion.pull_request_url, promotion.commit and f"commit {promotion.commit}", promotion.error]
        for line in filter(None, details):
            self.stdout.write(f"  {line}")

    def refuse(self, message: str, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"id": None, "state": "refused", "error": message}))
        self.stderr.write(f"error: {message}")
        sys.exit(2)


def sandbox_module(name: str) -> ModuleType:
    """A module of sandbox/ (the demo's builders live beside the stand-ins they drive), which
    only a source checkout has: the production image does not ship it."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise CommandError(f"{name} is part of the source checkout's sandbox/, not of this installation") from None
