"""`OidcStandIn`: an OpenID Connect provider over real HTTP, for one client and one auto-approved user.

Endpoints, as a provider (Keycloak, Dex, Entra ID) serves them:

- `GET /.well-known/openid-configuration`: discovery (every URL built from the request's Host).
- `GET /authorize`: no login page: the configured `user` is approved at once, answered 302 to the
  `redirect_uri` with `code` and `state`. `response_type=code` and the client id are required;
  a `code_challenge` (S256 or plain) is kept with the code. Wrong client: 400.
- `POST /token`: `grant_type=authorization_code`, the client's secret (form or HTTP Basic), the
  code (once), the same `redirect_uri` and, if the code had a challenge, a `code_verifier` that
  matches it: an RS256 ID token (with the authorize request's nonce) and an access token; any
  mismatch: 400 `{"error": "invalid_grant" | "invalid_client" | ...}`.
- `GET /jwks`: the public signing key.
- `GET /userinfo`: `Authorization: Bearer <access token>`: the user's claims; 401 otherwise.

Interface (all of it):

    with OidcStandIn(client_id="portal", client_secret="s3cret") as idp:
        idp.issuer                  # http://127.0.0.1:<port>
        idp.user = {"sub": "u-1", "preferred_username": "alice", "email": "a@x", "groups": ["devs"]}
        idp.misbehave = "wrong-audience"   # the next ID tokens: see MISBEHAVIOURS; None: behave
        idp.token_requests          # the form of every /token call, oldest first
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.httpserver import Handler, Server, Serving

KID = "standin-key-1"
MISBEHAVIOURS = ("wrong-audience", "expired", "bad-signature", "wrong-issuer", "missing-nonce")
Answer = tuple[int, dict[str, str], Any]


class OidcStandIn(Serving):
    """One client, one user, RS256 ID tokens; `misbehave` spoils the tokens it issues."""

    def __init__(self, *, client_id: str, client_secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.host, self.port = host, port
        self.user: dict[str, Any] = {"sub": "user-1", "preferred_username": "alice", "email": "alice@example.com"}
        self.misbehave: str | None = None
        self.token_requests: list[dict[str, str]] = []
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._codes: dict[str, dict[str, Any]] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def start(self) -> OidcStandIn:
        """Serve in a background thread (on a free port unless one was given); idempotent."""
        if not self.serving:
            self._serve(_Server((self.host, self.port), self), "oidc-standin")
        return self

    def stop(self) -> None:
        self._unserve()

    @property
    def issuer(self) -> str:
        return self.url

    # -- the HTTP side ---------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        route, _, query = path.partition("?")
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if route == "/.well-known/openid-configuration":
            return 200, {}, self._discovery()
        if route == "/authorize":
            return self._authorize(params)
        if route == "/token" and method == "POST":
            return self._token({k: v[0] for k, v in parse_qs(raw.decode()).items()}, headers)
        if route == "/jwks":
            return 200, {}, {"keys": [self._jwk()]}
        if route == "/userinfo":
            return self._userinfo(headers)
        return 404, {}, {"error": "not_found"}

    def _discovery(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo", "jwks_uri": f"{base}/jwks", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }  # fmt: skip

    def _authorize(self, params: dict[str, str]) -> Answer:
        if params.get("client_id") != self.client_id or params.get("response_type") != "code":
            return 400, {}, {"error": "unauthorized_client"}
        redirect_uri = params.get("redirect_uri", "")
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {"redirect_uri": redirect_uri, "nonce": params.get("nonce"),
                                 "challenge": params.get("code_challenge"),
                                 "method": params.get("code_challenge_method", "plain")}  # fmt: skip
        separator = "&" if urlsplit(redirect_uri).query else "?"
        location = redirect_uri + separator + urlencode({"code": code, "state": params.get("state", "")})
        return 302, {"Location": location}, ""

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> Answer:
        self.token_requests.append(form)
        client_id, secret = _client_credentials(form, headers)
        if (client_id, secret) != (self.client_id, self.client_secret):
            return 401, {}, {"error": "invalid_client"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {}, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {}, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        if grant["challenge"] and not _pkce_ok(form.get("code_verifier", ""), grant["challenge"], grant["method"]):
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = dict(self.user)
        body = {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": self._id_token(grant)}
        return 200, {"Cache-Control": "no-store"}, body

    def _id_token(self, grant: dict[str, Any]) -> str:
        now, spoil = int(time.time()), self.misbehave
        claims = {**self.user, "iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300}
        if grant["nonce"] and spoil != "missing-nonce":
            claims["nonce"] = grant["nonce"]
        if spoil == "wrong-audience":
            claims["aud"] = "some-other-client"
        elif spoil == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif spoil == "wrong-issuer":
            claims["iss"] = "https://evil.example.com"
        key = self._other_key if spoil == "bad-signature" else self._key  # same kid: only the signature is wrong
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})

    def _userinfo(self, headers: dict[str, str]) -> Answer:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            claims = self._access.get(token)
        if claims is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {"error": "invalid_token"}
        return 200, {}, claims

    def _jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {**jwk, "kid": KID, "alg": "RS256", "use": "sig"}


def _client_credentials(form: dict[str, str], headers: dict[str, str]) -> tuple[str, str]:
    basic = headers.get("authorization", "")
    if basic.startswith("Basic "):
        user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
        return user, password
    return form.get("client_id", ""), form.get("client_secret", "")


def _pkce_ok(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    return method == "plain" and verifier == challenge


class _Handler(Handler):
    server: Server[OidcStandIn]

    def answer(self) -> None:
        raw = self.read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, extra, body = self.server.api.handle(self.command, self.path, headers, raw)
        self.send_reply(status, extra, body)


class _Server(Server[OidcStandIn]):
    handler = _Handler
