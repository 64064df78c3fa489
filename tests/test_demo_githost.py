"""`DEMO_GIT_HOST=gitlab make run` (or gitea): one setting puts the demo's repository behind a Git
host stand-in, so production's promotions open merge (pull) requests there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitops_portal.env import env_file_parse
from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from sandbox.demo import demo_build
from sandbox.demo_githost import githost_settings, githost_standin
from sandbox.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


def prepare(tmp_path: Path, git_host: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data"),
           "GITOPS_PORTAL_ENV_FILE": str(tmp_path / ".env"), "DEMO_GIT_HOST": git_host}  # fmt: skip
    ports = [str(free_port()) for _ in range(4)]
    return subprocess.run([sys.executable, "-m", "sandbox.makerun", "prepare", "--port", ports[0], "--clusters-port",
                           ports[1], "--receivers-port", ports[2], "--git-host-port", ports[3]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_make_run_writes_the_git_hosts_address_token_and_webhook_secret(tmp_path):
    assert prepare(tmp_path, "gitlab").returncode == 0
    written = env_file_parse((tmp_path / ".env").read_text(), source=".env")
    assert written["DEMO_GIT_HOST"] == "gitlab"
    assert written["DEMO_GIT_HOST_URL"].startswith("http://127.0.0.1:")
    assert len(written["DEMO_GIT_HOST_TOKEN"]) == len(written["DEMO_GIT_HOST_WEBHOOK_SECRET"]) == 32
    refused = prepare(tmp_path / "other", "bitbucket")
    assert (refused.returncode, refused.stderr) == (1, "error: DEMO_GIT_HOST='bitbucket': choose one of local, "
                                                       "gitlab, gitea\n")  # fmt: skip


@pytest.mark.parametrize("git_host", ["gitlab", "gitea"])
def test_the_demo_promotes_to_production_through_a_merge_request_on_the_host(
    git_host, db, data_dir, monkeypatch, settings
):
    environ = githost_settings({"DEMO_GIT_HOST": git_host}, port=free_port())
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    config = demo_build(data_dir=data_dir, environ=environ)
    settings.GITOPS_PORTAL_CONFIG = config
    catalog = catalog_load(config)
    assert catalog.repository("platform").provider == git_host
    standin = githost_standin(data_dir, environ, portal_url="http://127.0.0.1:9").start()  # webhooks go nowhere
    try:
        matrix_refresh(catalog=catalog)
        promotion = promotion_request(catalog=catalog, applications=["web"], from_stage="staging",
                                      to_stage="production")  # fmt: skip
        promotion_execute(promotion_id=promotion.pk)
        promotion.refresh_from_db()
        assert promotion.state == Promotion.State.PR_OPEN, promotion.error
        assert promotion.pull_request_url.startswith(f"{environ['DEMO_GIT_HOST_URL']}/acme/platform/")
        opened = (
            standin.merge_requests("acme", "platform") if git_host == "gitlab" else standin.pulls("acme", "platform")
        )
        assert [p.title for p in opened] == [promotion.title]
    finally:
        standin.stop()
