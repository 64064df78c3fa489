"""An OpenID Connect provider stand-in (discovery, authorize, token, JWKS, userinfo) over real HTTP.

    with OidcStandIn(client_id="portal", client_secret="s3cret") as idp:
        idp.user = {"sub": "u-1", "preferred_username": "alice", "groups": ["devs"]}
        idp.misbehave = "expired"

See `standin.OidcStandIn`.
"""

from sandbox.oidc.standin import MISBEHAVIOURS, OidcStandIn

__all__ = ["MISBEHAVIOURS", "OidcStandIn"]
