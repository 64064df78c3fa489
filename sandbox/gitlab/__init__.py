"""A protocol-faithful GitLab REST API (v4) stand-in, backed by real bare git repositories.

Driven through python-gitlab over real HTTP (`gitlab.Gitlab(lab.url, private_token=…)`),
never mocked:

    lab = GitLabStandIn(root=tmp_path, tokens={"portal-token": "portal-bot"}).start()
    lab.create_repository("acme/platform", "gitops", pipeline_must_succeed=True)
    ...
    lab.stop()

See `standin.GitLabStandIn` for the Python API and `__main__` for running it alone.
"""

from sandbox.gitlab.api import Served
from sandbox.gitlab.errors import ApiError
from sandbox.gitlab.faults import Fault
from sandbox.gitlab.standin import GitLabStandIn, MergeRequestSnapshot
from sandbox.gitlab.webhooks import DEFAULT_EVENTS, Delivery

__all__ = ["DEFAULT_EVENTS", "ApiError", "Delivery", "Fault", "GitLabStandIn", "MergeRequestSnapshot", "Served"]
