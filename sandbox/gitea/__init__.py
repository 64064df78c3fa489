"""A protocol-faithful Gitea / Forgejo REST API v1 stand-in, backed by real bare git repositories.

Driven over real HTTP (`requests` with `Authorization: token <t>`), never mocked:

    with GiteaStandIn(root=tmp_path, tokens={"portal-token": "portal-bot"}) as gitea:
        gitea.create_repository("acme", "platform", required_approvals=1)
        requests.get(f"{gitea.api_url}/repos/acme/platform", headers={"Authorization": "token portal-token"})

Refusals (status codes and messages) are Gitea's own; each module's docstring lists the
ones it answers. See `standin.GiteaStandIn` for the Python API.
"""

from sandbox.gitea.api import Served
from sandbox.gitea.faults import Fault
from sandbox.gitea.standin import GiteaStandIn, PullSnapshot
from sandbox.gitea.webhooks import DEFAULT_EVENTS, signature
from sandbox.hosting.webhooks import Delivery

__all__ = ["DEFAULT_EVENTS", "Delivery", "Fault", "GiteaStandIn", "PullSnapshot", "Served", "signature"]
