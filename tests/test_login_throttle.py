"""Guessing passwords: throttled per account and per client address, one audit event per lockout."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from promotions.models import AuditEvent


def sign_in(client: Client, username: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def guess(client: Client, username: str, times: int, **extra: str) -> list[int]:
    return [sign_in(client, username, f"guess-{n}", **extra).status_code for n in range(times)]


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def test_it_refuses_the_right_password_after_five_wrong_ones_with_a_lockout_page(client, alice):
    assert guess(client, "alice", 5) == [200, 200, 200, 200, 429]  # the fifth failure starts the lockout
    response = sign_in(client, "alice", "alice-test-pw")
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed sign-ins" in html
    assert "Try again after" in html
    assert "python manage.py axes_reset_username alice" in html
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert signed_in_as(client) is None


def test_it_audits_one_lockout_and_nothing_for_attempts_during_it(client, alice):
    guess(client, "alice", 5)
    events_at_lockout = AuditEvent.objects.count()
    guess(client, "alice", 30)
    sign_in(client, "alice", "alice-test-pw")

    assert AuditEvent.objects.count() == events_at_lockout
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5
    lockout = AuditEvent.objects.get(action="auth.locked_out")
    assert (lockout.actor, lockout.source, lockout.targets) == ("alice", "ui", {"ip": "127.0.0.1"})
    assert lockout.message == "too many failed sign-ins: refused for 15 minutes"
    assert AccessAttempt.objects.get().failures_since_start == 5  # refused attempts are not recorded either


def test_it_lets_the_right_password_in_once_the_cool_off_has_passed(client, alice):
    guess(client, "alice", 5)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    response = sign_in(client, "alice", "alice-test-pw")
    assert response.status_code == 302
    assert signed_in_as(client) == "alice"


def test_an_admin_can_lift_a_lockout_with_axes_reset_username(client, alice):
    guess(client, "alice", 5)
    call_command("axes_reset_username", "alice")
    assert sign_in(client, "alice", "alice-test-pw").status_code == 302
    assert signed_in_as(client) == "alice"


def test_it_locks_the_account_from_every_address(client, alice):
    guess(client, "alice", 5, REMOTE_ADDR="203.0.113.7")
    assert sign_in(client, "alice", "alice-test-pw", REMOTE_ADDR="198.51.100.20").status_code == 429


def test_it_throttles_other_accounts_from_an_address_after_the_address_limit(client, alice, bob, settings):
    assert settings.GITOPS_PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT == 20
    for name in ("alice", "mallory", "trent", "oscar"):
        assert guess(client, name, 4) == [200] * 4  # under the account limit each
    assert guess(client, "peggy", 4) == [200, 200, 200, 429]  # the address's 20th failure

    assert sign_in(client, "bob", "bob-test-pw").status_code == 429  # bob never failed, his address did
    assert AuditEvent.objects.get(action="auth.locked_out").actor == "peggy"
    assert sign_in(Client(), "bob", "bob-test-pw", REMOTE_ADDR="198.51.100.20").status_code == 302


def test_the_admin_login_is_throttled_too(client, admin_user):
    admin_login = reverse("admin:login")
    statuses = [client.post(admin_login, {"username": "admin", "password": f"guess-{n}"}).status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    response = client.post(admin_login, {"username": "admin", "password": "password"})
    assert response.status_code == 429
    assert "axes_reset_username admin" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302  # still signed out


def test_a_spoofed_x_forwarded_for_does_not_escape_the_address_limit(client, bob):
    for n in range(20):
        sign_in(client, f"user{n}", "guess", HTTP_X_FORWARDED_FOR=f"10.0.{n}.1")
    response = sign_in(client, "bob", "bob-test-pw", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}
    assert {e.targets["ip"] for e in AuditEvent.objects.filter(action="auth.login_failed")} == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("forwarded_for", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own claim is left of what the proxy added
        ("not-an-address", "192.0.2.1"),  # nonsense: the proxy's address
        ("", "192.0.2.1"),
    ],
)
def test_behind_one_trusted_proxy_it_counts_the_address_the_proxy_saw(client, settings, db, forwarded_for, counted_as):
    settings.GITOPS_PORTAL_TRUSTED_PROXY_COUNT = 1
    sign_in(client, "alice", "guess", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert AccessAttempt.objects.get().ip_address == counted_as
    assert AuditEvent.objects.get(action="auth.login_failed").targets == {"ip": counted_as}
