"""Personal API tokens in the UI: list, create (shown once), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from promotions.accounts.tokens import apitoken_create, apitoken_revoke
from promotions.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="what it is for, e.g. github-actions")
    expires_days = forms.IntegerField(min_value=1, max_value=3650, required=False, label="Expires after (days)",
                                      help_text="empty: never")  # fmt: skip


@never_cache  # the new token is in this response: no cache may keep it
@require_http_methods(["GET", "POST"])
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    form = TokenForm(request.POST or None)
    created, raw = None, ""
    if request.method == "POST" and form.is_valid():
        created, raw = apitoken_create(user=user, name=form.cleaned_data["name"],
                                       expires_days=form.cleaned_data["expires_days"])  # fmt: skip
        form = TokenForm()
    tokens = ApiToken.objects.filter(user=user)
    status = 201 if created else 400 if request.method == "POST" else 200
    return render(request, "promotions/tokens.html", {"form": form, "tokens": tokens, "created": created, "raw": raw},
                  status=status)  # fmt: skip


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    token = get_object_or_404(ApiToken, pk=token_id, user=user)
    apitoken_revoke(token=token, actor=user.get_username())
    messages.success(request, f"Token {token.name} ({token.prefix}…) revoked: requests with it now get 401.")
    return redirect("tokens")
