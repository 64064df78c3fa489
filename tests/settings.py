"""Test settings: the real settings module, fed a test environment first."""

import os
import tempfile

# Never a developer's `.env` (what `make run` wrote): tests, and the processes they start, see only this.
os.environ.setdefault("GITOPS_PORTAL_ENV_FILE", "")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("GITOPS_PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="gitops-portal-tests-"))

from gitops_portal.settings import *  # noqa: F403

STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
# Persistent connections would outlive the live server's thread and block dropping the test DB.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: worker processes in tests/test_workers.py open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["GITOPS_PORTAL_DATA_DIR"], "test.sqlite3")}  # noqa: F405
