"""A protocol-faithful GitHub REST API stand-in, backed by real bare git repositories.

Driven through PyGithub over real HTTP (`Github(base_url=gh.api_url, …)`), never mocked:

    gh = GitHubStandIn(root=tmp_path, tokens={"portal-token": "portal-bot"}).start()
    gh.create_repository("acme", "platform")
    ...
    gh.stop()

See `standin.GitHubStandIn` for the Python API and `__main__` for running it alone.
"""

from sandbox.github.api import Served
from sandbox.github.faults import Fault
from sandbox.github.standin import GitHubStandIn
from sandbox.github.store import PullRequest
from sandbox.github.webhooks import DEFAULT_EVENTS, Delivery, signature

__all__ = ["DEFAULT_EVENTS", "Delivery", "Fault", "GitHubStandIn", "PullRequest", "Served", "signature"]
