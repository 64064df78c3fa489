"""HSTS when DEBUG is off, and a Content-Security-Policy on every page (DEBUG on or off)."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from promotions.models import Promotion

ROOT = Path(__file__).resolve().parent.parent
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def hsts_settings(tmp_path: Path, **env: str) -> str:
    """SECURE_HSTS_SECONDS and SECURE_HSTS_INCLUDE_SUBDOMAINS as a fresh process reads them from `env`."""
    base = {
        "PATH": "/usr/bin:/bin",
        "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "k",
        "GITOPS_PORTAL_ENV_FILE": "",
    }
    code = "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS)"
    proc = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT,
                          capture_output=True, text=True, env=base | env, check=True)  # fmt: skip
    return proc.stdout.strip()


def test_it_sends_strict_transport_security_over_https_when_debug_is_off(client, db, settings):
    settings.DEBUG = False
    assert client.get(reverse("login"), secure=True)["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get(reverse("login"))  # browsers ignore it over HTTP


def test_it_can_include_subdomains_in_hsts(client, db, settings):
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    header = client.get(reverse("login"), secure=True)["Strict-Transport-Security"]
    assert header == "max-age=31536000; includeSubDomains"


def test_hsts_is_a_year_by_default_configurable_and_off_with_debug(tmp_path):
    assert hsts_settings(tmp_path) == "31536000 False"
    assert hsts_settings(tmp_path, SECURE_HSTS_SECONDS="600", SECURE_HSTS_INCLUDE_SUBDOMAINS="true") == "600 True"
    assert hsts_settings(tmp_path, DEBUG="true", SECURE_HSTS_SECONDS="600") == "0 False"


@pytest.fixture
def pages(client, pipeline, admin_user) -> dict[str, str]:
    """Every kind of page, signed in as the admin (who may see them all), with one promotion."""
    client.force_login(admin_user)
    client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging", "reason": "fix"})
    promotion = Promotion.objects.get()
    return {
        "matrix": reverse("dashboard"),
        "application": reverse("application", args=["web"]),
        "confirm": reverse("promote") + "?app=web&from=dev&to=staging",
        "promotion": reverse("promotion", args=[promotion.pk]),
        "promotions": reverse("promotions"),
        "approvals": reverse("approvals"),
        "audit": reverse("audit"),
        "notifications": reverse("notifications"),
        "tokens": reverse("tokens"),
        "admin": reverse("admin:index"),
        "api": reverse("api-stages"),
    }


@pytest.mark.parametrize("debug", [False, True])
def test_every_page_carries_the_content_security_policy(client, pages, settings, debug):
    settings.DEBUG = debug
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        assert directives(response["Content-Security-Policy"]) == POLICY, name


def test_the_login_and_lockout_pages_carry_it_too(client, db):
    assert directives(client.get(reverse("login"))["Content-Security-Policy"]) == POLICY
    for n in range(5):
        locked = client.post(reverse("login"), {"username": "alice", "password": f"guess-{n}"})
    assert locked.status_code == 429
    assert directives(locked["Content-Security-Policy"]) == POLICY


def test_only_the_swagger_ui_is_exempt(client, alice):
    client.force_login(alice)
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    assert "Content-Security-Policy" not in docs  # drf-spectacular's page has inline script and style
    assert directives(client.get(reverse("api-schema"))["Content-Security-Policy"]) == POLICY
