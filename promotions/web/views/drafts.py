"""The "Add a repository" pages (admins only): ask for a catalogue inferred from a Git URL, watch a worker
build it, download it. The portal never installs it: the admin commits it to Git."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from promotions.catalogue.lookups import Catalog
from promotions.errors import PermanentError
from promotions.matrix.drafts import catalogue_draft_request, draft_branch_problem, draft_url_problem
from promotions.models import CatalogueDraft
from promotions.web.htmx import HtmxHttpRequest, htmx_partial
from promotions.web.views.base import denied, signed_in_user, with_catalog
from promotions.workflow.permissions import Denied, who

LATE_SECONDS = 60  # a draft not finished by then: the page stops polling and asks whether a worker runs


def admins_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, a readable catalogue, and an admin of it; others get the "not allowed" page."""

    @login_required
    @with_catalog
    @wraps(view)
    def wrapper(request: HtmxHttpRequest, catalog: Catalog, *args: Any, **kwargs: Any) -> HttpResponse:
        if not who(request.user, catalog).admin:
            return denied(request, Denied("only admins may add a repository"))
        return view(request, *args, **kwargs)

    return wrapper


class RepositoryForm(forms.Form):
    # Not stripped: a line break anywhere is refused, not quietly removed.
    url = forms.CharField(max_length=2000, strip=False, label="Clone URL",
                          help_text="https://host/owner/repo.git, ssh://host/path or git@host:path")  # fmt: skip
    branch = forms.CharField(max_length=255, strip=False, initial="main")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip(" ")
        if problem := draft_url_problem(url, file_urls=settings.GITOPS_PORTAL_INIT_FILE_URLS):
            raise forms.ValidationError(problem)
        return url

    def clean_branch(self) -> str:
        branch = self.cleaned_data["branch"].strip(" ")
        if problem := draft_branch_problem(branch):
            raise forms.ValidationError(problem)
        return branch


@require_http_methods(["GET", "POST"])
@admins_only
def repository_new(request: HtmxHttpRequest) -> HttpResponse:
    initial = {"url": request.GET.get("url", ""), "branch": request.GET.get("branch", "") or "main"}
    form = RepositoryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            draft = catalogue_draft_request(user=signed_in_user(request), url=form.cleaned_data["url"],
                                            branch=form.cleaned_data["branch"],
                                            file_urls=settings.GITOPS_PORTAL_INIT_FILE_URLS)  # fmt: skip
        except PermanentError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("catalogue-draft", draft_id=draft.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "promotions/repository_new.html", {"form": form}, status=status)


@require_GET
@admins_only
def catalogue_draft(request: HtmxHttpRequest, draft_id: int) -> HttpResponse:
    draft = get_object_or_404(CatalogueDraft, pk=draft_id)
    age = (timezone.now() - draft.created_at).total_seconds()
    retry = f"{reverse('repository-new')}?{urlencode({'url': draft.url, 'branch': draft.branch})}"
    context = {"draft": draft, "late": draft.pending and age > LATE_SECONDS, "seconds": int(age), "retry": retry,
               "rows": _rows(draft), "upstream": draft.preview.get("upstream", {})}  # fmt: skip
    template = "promotions/partials/draft.html" if htmx_partial(request) else "promotions/draft.html"
    return render(request, template, context)


def _rows(draft: CatalogueDraft) -> list[dict[str, Any]]:
    """The matrix rows with their cells in stage order (None where the application has no cell)."""
    stages = draft.preview.get("stages", [])
    return [{"app": row["app"], "cells": [row["cells"].get(stage) for stage in stages]}
            for row in draft.preview.get("rows", [])]  # fmt: skip


@require_GET
@admins_only
def catalogue_draft_download(request: HtmxHttpRequest, draft_id: int) -> HttpResponse:
    draft = get_object_or_404(CatalogueDraft, pk=draft_id)
    if draft.state != CatalogueDraft.State.DONE:
        raise Http404("this draft has no catalogue (yet)")
    response = HttpResponse(draft.text, content_type="text/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="catalogue.yaml"'
    return response
