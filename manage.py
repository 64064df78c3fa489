#!/usr/bin/env python
"""Django's command-line utility for GitOps Portal."""

import os
import secrets
import sys

# Commands that only read or change the schema never sign anything (sessions, CSRF, tokens), so
# they run without SECRET_KEY, e.g. `makemigrations --check` on a fresh checkout or a migration
# job without the secret mounted. Serving, shells and everything else still require it.
SCHEMA_ONLY = {"makemigrations", "migrate", "showmigrations", "sqlmigrate", "help", "version", "--help", "--version"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gitops_portal.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command in SCHEMA_ONLY and not os.environ.get("SECRET_KEY") and not os.environ.get("SECRET_KEY_FILE"):
        os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)  # a throwaway: nothing here is signed
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load and validate
    except ImproperlyConfigured as exc:
        # A bad environment variable: one line naming it, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
