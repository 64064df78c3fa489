#!/usr/bin/env python
"""Django's command-line utility for GitOps Portal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gitops_portal.settings")
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
