"""Settings come from the environment; a bad value stops start-up naming the variable."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": "/usr/bin:/bin",
        "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "k",
        "GITOPS_PORTAL_ENV_FILE": "",
    }
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'])"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=base | env,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DEBUG": "maybe"},
            "error: DEBUG: expected a boolean (true/false, 1/0, yes/no, on/off), got 'maybe'",
        ),
        (
            {"SECRET_KEY": ""},
            "error: SECRET_KEY: required when DEBUG is off (set SECRET_KEY or SECRET_KEY_FILE)",
        ),
        ({"DATABASE_URL": "mongo://x"}, "error: DATABASE_URL: "),
        (
            {"REDIS_URL": "localhost:6379"},
            "error: REDIS_URL: expected a URL starting with redis://, rediss://, unix://",
        ),
        (
            {"GITOPS_PORTAL_GIT_TIMEOUT": "soon"},
            "error: GITOPS_PORTAL_GIT_TIMEOUT: expected an integer, got 'soon'",
        ),
        ({"GITOPS_PORTAL_GIT_TIMEOUT": "0"}, "error: GITOPS_PORTAL_GIT_TIMEOUT: must be at least 1, got 0"),
        (
            {"GITOPS_PORTAL_DATA_DIR": "/proc/nope"},
            "error: GITOPS_PORTAL_DATA_DIR: cannot create directory '/proc/nope'",
        ),
        (
            {"LOG_LEVEL": "LOUD"},
            "error: LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'LOUD'",
        ),
        ({"SECRET_KEY_FILE": "/nonexistent/key"}, "error: SECRET_KEY_FILE: cannot read '/nonexistent/key'"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, env, message):
    proc = start(tmp_path, **env)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message)
    assert proc.stderr.count("\n") == 1


def test_schema_commands_run_without_a_secret_key_and_serving_does_not(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data")}

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, env=env,
                              check=False)  # fmt: skip

    schema = manage("makemigrations", "--check", "--dry-run")
    assert (schema.returncode, schema.stdout) == (0, "No changes detected\n")
    for refused in (manage("check"), manage("runserver", "--noreload")):
        assert refused.returncode == 2
        assert refused.stderr == "error: SECRET_KEY: required when DEBUG is off (set SECRET_KEY or SECRET_KEY_FILE)\n"


def test_the_embedded_default_is_sqlite_under_the_data_dir(tmp_path):
    proc = start(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["django.db.backends.sqlite3", str(tmp_path / "data" / "portal.sqlite3")]


def test_database_url_selects_postgres(tmp_path):
    proc = start(tmp_path, DATABASE_URL="postgres://portal:pw@db.internal:5432/portal")
    assert proc.stdout.split() == ["django.db.backends.postgresql", "portal"]


def test_secrets_can_come_from_files(tmp_path):
    key = tmp_path / "key"
    key.write_text("from-a-file\n")
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    env = {
        "PATH": "/usr/bin:/bin",
        "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "d"),
        "SECRET_KEY_FILE": str(key),
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.stdout.strip() == "from-a-file"
