"""Personal API tokens in the UI: list, create (shown once), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from promotions.accounts.tokens import apitoken_create, apitoken_revoke
from promotions.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="what it is for, e.g. github-actions")
    expires_days = forms.IntegerField(min_value=1, max_value=3650, required=False, label="Expires after (days)",
                                      help_text="empty: never")  # fmt: skip


# Post/redirect/get: the new token travels to the page that shows it once in a short-lived, signed,
# HttpOnly cookie scoped to this page (never in the database, never in a URL), so reloading the page
# shows the list instead of creating another token.
NEW_TOKEN_COOKIE, NEW_TOKEN_SALT = "gp_new_token", "promotions.tokens.new"


@never_cache  # the new token is in this response: no cache may keep it
@require_http_methods(["GET", "POST"])
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, secret = apitoken_create(user=user, name=form.cleaned_data["name"],
                                        expires_days=form.cleaned_data["expires_days"])  # fmt: skip
        moved = redirect("tokens")
        moved.set_signed_cookie(NEW_TOKEN_COOKIE, f"{token.pk}:{secret}", salt=NEW_TOKEN_SALT, max_age=120,
                                   path=reverse("tokens"), secure=request.is_secure(), httponly=True,
                                   samesite="Strict")  # fmt: skip
        return moved
    created, raw = _new_token(request, user.pk)
    tokens = ApiToken.objects.filter(user=user)
    status = 400 if request.method == "POST" else 200
    response = render(request, "promotions/tokens.html",
                      {"form": form, "tokens": tokens, "created": created, "raw": raw}, status=status)  # fmt: skip
    if NEW_TOKEN_COOKIE in request.COOKIES:
        response.delete_cookie(NEW_TOKEN_COOKIE, path=reverse("tokens"), samesite="Strict")  # shown once
    return response


def _new_token(request: HttpRequest, user_id: int) -> tuple[ApiToken | None, str]:
    """The token just created (and its raw value) from the redirect's cookie, if it is this user's."""
    value = request.get_signed_cookie(NEW_TOKEN_COOKIE, default="", salt=NEW_TOKEN_SALT, max_age=120) or ""
    pk, _, raw = value.partition(":")
    token = ApiToken.objects.filter(pk=int(pk), user_id=user_id).first() if pk.isdigit() and raw else None
    return (token, raw) if token is not None else (None, "")


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    token = get_object_or_404(ApiToken, pk=token_id, user=user)
    apitoken_revoke(token=token, actor=user.get_username())
    messages.success(request, f"Token {token.name} ({token.prefix}…) revoked: requests with it now get 401.")
    return redirect("tokens")
