"""Single sign-on: the real authorization code + PKCE flow between Django's test client and the
OIDC provider stand-in over real HTTP (the browser's hop to the provider is made with `requests`)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.test import Client

from promotions.models import AuditEvent, Profile
from sandbox.oidc import OidcStandIn
from tests.builders import portal_user

CLIENT_ID, CLIENT_SECRET = "gitops-portal", "client-secret"
PLATFORM_ALICE = {"sub": "kc-alice", "preferred_username": "alice", "email": "alice@example.com",
                  "groups": ["platform-team", "devs", "admins"]}  # fmt: skip


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcStandIn]:
    with OidcStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture
def sso(idp: OidcStandIn, settings, db) -> OidcStandIn:  # type: ignore[no-untyped-def]
    """Single sign-on on, against the stand-in, with platform-team → release-managers, devs → developers."""
    idp.user, idp.misbehave = dict(PLATFORM_ALICE), None
    settings.GITOPS_PORTAL_OIDC_ISSUER = idp.issuer
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.GITOPS_PORTAL_OIDC_ENABLED = True
    settings.GITOPS_PORTAL_OIDC_GROUP_MAP = {"platform-team": frozenset({"release-managers"}),
                                             "devs": frozenset({"developers"})}  # fmt: skip
    return idp


def sign_on(client: Client) -> str:
    """Go through the whole flow; the page the portal sends the browser to at the end."""
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start
    challenge = dict(part.split("=", 1) for part in urlsplit(start["Location"]).query.split("&"))
    assert challenge["code_challenge_method"] == "S256"
    assert challenge["code_challenge"]
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302, at_provider.text
    callback = urlsplit(at_provider.headers["Location"])
    assert callback.path == "/oidc/callback/"
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302
    return str(done["Location"])


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def groups_of(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_it_creates_the_user_at_a_first_sign_on_with_mapped_groups_only(sso, client):
    assert sign_on(client) == "/"
    assert signed_in_as(client) == "alice"
    alice = User.objects.get(username="alice")
    assert (alice.email, alice.has_usable_password()) == ("alice@example.com", False)
    assert (alice.profile.oidc_issuer, alice.profile.oidc_subject) == (sso.issuer, "kc-alice")
    assert groups_of("alice") == {"release-managers", "developers"}  # "admins" is not in the map
    assert not Group.objects.filter(name="admins").exists()
    login = AuditEvent.objects.get(action="auth.login")
    assert (login.actor, login.source) == ("alice", "oidc")
    assert sso.token_requests[-1]["code_verifier"]  # PKCE: the verifier went to the token endpoint


def test_it_updates_groups_at_the_next_sign_on_removing_mapped_ones_only(sso, client):
    sign_on(client)
    User.objects.get(username="alice").groups.add(Group.objects.create(name="viewers"))  # given in the portal
    sso.user["groups"] = ["devs"]
    client.logout()

    sign_on(client)

    assert signed_in_as(client) == "alice"
    assert groups_of("alice") == {"developers", "viewers"}
    assert User.objects.count() == 1


def test_it_gives_an_idp_admin_a_new_account_not_the_local_admin(sso, client):
    admin = User.objects.create_superuser("admin", "root@example.com", "admin-pw")
    sso.user = {"sub": "evil-1", "preferred_username": "admin", "email": "root@example.com", "groups": []}

    sign_on(client)

    assert signed_in_as(client) == "admin-2"
    newcomer = User.objects.get(username="admin-2")
    assert (newcomer.is_superuser, newcomer.is_staff) == (False, False)
    assert not hasattr(User.objects.get(pk=admin.pk), "profile")


def test_it_signs_on_as_the_user_an_admin_linked_to_the_subject(sso, client):
    bob = portal_user("bob", "release-managers")
    Profile.objects.create(user=bob, oidc_issuer=sso.issuer, oidc_subject="kc-alice")

    sign_on(client)

    assert signed_in_as(client) == "bob"
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.parametrize(
    ("misbehaviour", "reason"),
    [
        ("wrong-audience", "issued for another application (wrong audience)"),
        ("expired", "the ID token has expired"),
        ("bad-signature", "signature does not verify"),
        ("wrong-issuer", "comes from another issuer"),
        ("missing-nonce", "nonce does not belong to this sign-in"),
    ],
)
def test_it_refuses_and_audits_a_bad_id_token(sso, client, misbehaviour, reason):
    sso.misbehave = misbehaviour

    assert sign_on(client) == "/login/"

    assert signed_in_as(client) is None
    assert not User.objects.exists()
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert reason in failed.message
    assert failed.source == "oidc"
    page = client.get("/login/").content.decode()
    assert "Single sign-on refused" in page
    assert reason.split(" (")[0].replace("'", "&#x27;") in page


def test_it_refuses_a_user_deactivated_in_the_portal(sso, client):
    sign_on(client)
    client.logout()
    User.objects.filter(username="alice").update(is_active=False)

    assert sign_on(client) == "/login/"

    assert signed_in_as(client) is None
    assert AuditEvent.objects.get(action="auth.login_failed").message == "the portal account alice is deactivated"


def test_it_ends_the_session_of_a_user_deactivated_after_signing_on(sso, client):
    sign_on(client)
    User.objects.filter(username="alice").update(is_active=False)

    response = client.get("/")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_it_refuses_a_user_the_idp_marks_inactive(sso, client, settings):
    settings.GITOPS_PORTAL_OIDC_ACTIVE_CLAIM = "active"
    sso.user["active"] = False

    assert sign_on(client) == "/login/"
    assert signed_in_as(client) is None
    assert "marks this account inactive" in AuditEvent.objects.get(action="auth.login_failed").message


def test_it_refuses_a_normal_users_password_when_local_login_is_off(sso, client, settings):
    settings.GITOPS_PORTAL_LOCAL_LOGIN = False
    portal_user("carol", "viewers")
    page = client.get("/login/").content.decode()
    assert "Sign in with single sign-on" in page
    assert 'name="password"' not in page

    response = client.post("/login/?break-glass", {"username": "carol", "password": "carol-test-pw"})

    assert response.status_code == 200
    assert signed_in_as(client) is None
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert (failed.actor, failed.message) == ("carol", "password sign-in is off: use single sign-on")


def test_it_lets_a_superuser_in_with_a_password_when_local_login_is_off(sso, client, settings):
    settings.GITOPS_PORTAL_LOCAL_LOGIN = False
    User.objects.create_superuser("root", "root@example.com", "root-pw")
    assert 'name="password"' in client.get("/login/?break-glass").content.decode()

    response = client.post("/login/?break-glass", {"username": "root", "password": "root-pw"})

    assert response.status_code == 302
    assert signed_in_as(client) == "root"


def test_it_keeps_single_sign_on_off_without_its_settings(client, db):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert "single sign-on" not in client.get("/login/").content.decode()
