"""The tokens page: post/redirect/get, the new token shown once, to its owner only."""

import re

from django.test import Client
from django.urls import reverse

from promotions.models import ApiToken


def test_creating_redirects_and_a_reload_creates_nothing(alice):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("tokens"), {"name": "github-actions", "expires_days": "90"})
    assert (response.status_code, response.url) == (302, reverse("tokens"))
    cookie = response.cookies["gp_new_token"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == reverse("tokens")
    html = client.get(reverse("tokens")).content.decode()
    raw = re.search(r'<code id="new-token">(gp_[\w-]+)</code>', html).group(1)  # type: ignore[union-attr]
    assert ApiToken.objects.get().prefix in raw
    again = client.get(reverse("tokens")).content.decode()  # a reload: the list, no new token, none shown
    assert 'id="new-token"' not in again
    assert ApiToken.objects.count() == 1


def test_another_users_or_a_forged_cookie_shows_nothing(alice, bob):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("tokens"), {"name": "ci"})
    stolen = response.cookies["gp_new_token"].value
    other = Client()
    other.force_login(bob)
    other.cookies["gp_new_token"] = stolen
    assert 'id="new-token"' not in other.get(reverse("tokens")).content.decode()  # not bob's token
    other.cookies["gp_new_token"] = f"{ApiToken.objects.get().pk}:gp_forged"
    assert 'id="new-token"' not in other.get(reverse("tokens")).content.decode()  # unsigned: ignored


def test_a_bad_form_answers_400_and_creates_nothing(alice):
    client = Client()
    client.force_login(alice)
    response = client.post(reverse("tokens"), {"name": "", "expires_days": "0"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
