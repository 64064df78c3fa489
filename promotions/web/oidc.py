"""Single sign-on with OpenID Connect (authorization code + PKCE), on mozilla-django-oidc.

On only when GITOPS_PORTAL_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET are set. The provider's
endpoints come from its discovery document, read once (at the first sign-on) and kept.

mozilla-django-oidc checks the ID token's signature and nonce; it does not check the audience
or the issuer, so `PortalOIDCBackend` decodes the token itself (RS256 against the JWKS, `aud` =
our client id, `iss` = the issuer, `exp`/`iat`/`sub` required). Who the claims sign on as is
decided in `promotions.accounts.oidc`. A refusal is kept on the request (`sign_in_failure`):
the audit receiver (`promotions.web.login.login_failed`) records it and the login page shows it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from promotions.accounts.oidc import OidcPolicy, OidcRefused, oidc_user_sign_on
from promotions.audit.chain import audit_context, audit_record, current_context
from promotions.errors import PermanentError
from promotions.web.login import client_address

_TOKEN_ERRORS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the ID token has expired"),
    (jwt.InvalidAudienceError, "the ID token was issued for another application (wrong audience)"),
    (jwt.InvalidIssuerError, "the ID token comes from another issuer"),
    (jwt.InvalidSignatureError, "the ID token's signature does not verify against the provider's keys"),
]


@dataclass(frozen=True)
class Provider:
    """The endpoints of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str


_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def oidc_enabled() -> bool:
    return bool(settings.GITOPS_PORTAL_OIDC_ENABLED)


def oidc_provider() -> Provider:
    """The configured issuer's discovery document, fetched once per process (a failure is not kept)."""
    issuer = settings.GITOPS_PORTAL_OIDC_ISSUER
    with _providers_lock:
        if issuer not in _providers:
            _providers[issuer] = _discover(issuer)
        return _providers[issuer]


def _discover(issuer: str) -> Provider:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise PermanentError(f"cannot read the identity provider's discovery document {url}: {exc}") from None
    if document.get("issuer") != issuer:
        raise PermanentError(f"{url} names issuer {document.get('issuer')!r}, not {issuer!r}")
    try:
        return Provider(issuer=issuer, **{name: str(document[name]) for name in _ENDPOINTS})
    except KeyError as exc:
        raise PermanentError(f"{url} has no {exc.args[0]}") from None


_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


def oidc_policy() -> OidcPolicy:
    return OidcPolicy(
        issuer=settings.GITOPS_PORTAL_OIDC_ISSUER,
        groups_claim=settings.GITOPS_PORTAL_OIDC_GROUPS_CLAIM,
        group_map=settings.GITOPS_PORTAL_OIDC_GROUP_MAP,
        active_claim=settings.GITOPS_PORTAL_OIDC_ACTIVE_CLAIM,
    )


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the endpoints from discovery, full ID token checks, and
    users found by their linked identity (never by email or username)."""

    OIDC_RP_SIGN_ALGO = "RS256"
    OIDC_RP_IDP_SIGN_KEY = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds backends for every sign-in and session: nothing is read from the provider here.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if request is None or "nonce" not in kwargs or not oidc_enabled():
            return None  # not the callback: a password sign-in
        try:
            provider = oidc_provider()
            self.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
            self.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
            self.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
            return super().authenticate(request, **kwargs)
        except (PermanentError, SuspiciousOperation, requests.RequestException, ValueError) as exc:
            request.sign_in_failure = (getattr(self, "_actor", ""), _reason(exc))
            return None

    def get_payload_data(self, token: Any, key: Any) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.GITOPS_PORTAL_OIDC_ISSUER, leeway=settings.GITOPS_PORTAL_OIDC_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise OidcRefused(_token_reason(exc)) from None
        self._actor = str(payload.get("preferred_username") or payload.get("sub") or "")
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The userinfo answer with the ID token's claims on top (Entra ID and Dex put groups in the
        ID token); its `sub` must be the ID token's."""
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise OidcRefused("the provider's userinfo is about another subject than the ID token")
        return {**userinfo, **payload}

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.none()  # every sign-on goes through oidc_user_sign_on

    def create_user(self, claims: dict[str, Any]) -> Any:
        return oidc_user_sign_on(claims=claims, policy=oidc_policy())

    def get_user(self, user_id: Any) -> Any:
        """The session's user, while active (the library's own answers a deactivated user too)."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


def _token_reason(exc: Exception) -> str:
    for kind, reason in _TOKEN_ERRORS:
        if isinstance(exc, kind):
            return reason
    return f"the ID token is not valid ({exc})"


def _reason(exc: Exception) -> str:
    if isinstance(exc, PermanentError):
        return str(exc)
    if isinstance(exc, requests.RequestException):
        return f"the identity provider did not answer as expected ({type(exc).__name__})"
    if "nonce" in str(exc).lower():
        return "the ID token's nonce does not belong to this sign-in (missing or replayed)"
    if isinstance(exc, SuspiciousOperation):
        return f"the ID token was refused ({exc})"
    return f"the identity provider's answer could not be read ({exc})"


class PortalAuthenticateView(OIDCAuthenticationRequestView):
    """`/oidc/authenticate/`: off (404) without single sign-on; the endpoint comes from discovery."""

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)  # the parent reads the endpoint here; we read it per sign-on

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("single sign-on is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_provider().authorization_endpoint
        except PermanentError as exc:
            messages.error(request, f"Single sign-on is unavailable: {exc}")
            return redirect("login")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class PortalCallbackView(OIDCAuthenticationCallbackView):
    """`/oidc/callback/`: what happens here is audited with source "oidc"; a refusal goes back to
    the login page with the reason."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("single sign-on is not configured")
        with audit_context(source="oidc", request_id=current_context().request_id):
            return super().get(request)

    def login_failure(self) -> HttpResponse:
        request = self.request
        failure = getattr(request, "sign_in_failure", None)
        if failure is None:  # the provider answered with an error, or the state is unknown: not audited yet
            reason = request.GET.get("error_description") or request.GET.get("error") or "sign-in was not completed"
            audit_record(action="auth.login_failed", actor="anonymous", message=f"single sign-on: {reason}"[:500],
                         targets={"ip": client_address(request)})  # fmt: skip
        else:
            reason = failure[1]
        messages.error(request, f"Single sign-on refused: {reason}.")
        return redirect("login")
