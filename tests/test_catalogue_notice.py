"""The admins' notice on the dashboard: what `catalogue check` says, stored by the refresh and shown
without reading Git in the request."""

import shutil

import pytest
from django.contrib.auth.models import Group

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import RepositoryState
from tests.test_catalogue_check import CATALOGUE, platform_commit


@pytest.fixture
def platform(repo):
    return platform_commit(repo)


@pytest.fixture
def typo(platform, write_catalog, db):
    """The platform with billing's path misspelt in a catalogue whose admins are the platform team,
    read by the periodic refresh."""
    catalogue = CATALOGUE.replace("apps/billing/{stage}", "apps/biling/{stage}") + "    admins: [platform-team]\n"
    path = write_catalog(catalogue, url=platform.url)
    matrix_refresh(catalog=catalog_load(path))
    return path


def test_the_refresh_stores_what_the_check_says(typo):
    assert RepositoryState.objects.get(name="platform").problems == [
        f"{typo}:18: applications.items[2] (billing): path apps/biling/{{stage}}/values.yaml matched no file "
        "in any stage; did you mean apps/billing/staging/values.yaml?"
    ]


def test_admins_see_the_problems_on_the_dashboard_without_a_git_read(typo, platform, client, alice, tmp_path):
    alice.groups.add(Group.objects.get_or_create(name="platform-team")[0])
    client.force_login(alice)
    shutil.move(platform.path, tmp_path / "moved.git")  # the page shows what the refresh stored
    html = client.get("/").content.decode()
    assert "The catalogue matches no file for 1 entry" in html
    assert "applications.items[2] (billing): path apps/biling/{stage}/values.yaml matched no file" in html
    assert "did you mean apps/billing/staging/values.yaml?" in html


def test_others_do_not_see_them(typo, client, carol):
    client.force_login(carol)
    html = client.get("/").content.decode()
    assert "The catalogue matches no file" not in html
    assert "apps/biling" not in html


def test_the_notice_goes_once_the_catalogue_is_fixed(typo, client, alice):
    typo.write_text(typo.read_text().replace("apps/biling/{stage}", "apps/billing/{stage}"))
    matrix_refresh(catalog=catalog_load(typo))
    alice.groups.add(Group.objects.get_or_create(name="platform-team")[0])
    client.force_login(alice)
    assert "The catalogue matches no file" not in client.get("/").content.decode()
