"""/api/v1/: thin views over the same services and selectors as the pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from promotions.accounts.tokens import apitoken_create, apitoken_revoke
from promotions.api import serializers as s
from promotions.api.errors import error_response
from promotions.api.pagination import Pagination
from promotions.api.schema import FOUND, NAME, READ, WRITE, errors
from promotions.audit.chain import audit_context, current_context
from promotions.audit.export import audit_document, audit_events
from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.insights.delivery import delivery_insights_get, insights_document
from promotions.insights.query import InsightsQueryError, insights_query
from promotions.matrix.document import stored_applications, stored_matrix_document, stored_matrix_json
from promotions.matrix.history import application_history_get
from promotions.matrix.version import etag_matches, matrix_version
from promotions.models import ApiToken, Promotion, RepositoryState, StageVersion
from promotions.reviews.approvals import approval_submit, promotion_reject
from promotions.reviews.merge import promotion_merge
from promotions.text import text_problem
from promotions.workflow.freeze import active_freeze, describe
from promotions.workflow.permissions import who
from promotions.workflow.queries import promotion_document, promotion_get, promotions_query
from promotions.workflow.request import promotion_cancel, promotion_request
from promotions.workflow.rollback import promotion_release, promotion_rollback
from promotions.workflow.store import store_wait


def _catalog() -> Catalog:
    return catalog_get(settings.GITOPS_PORTAL_CONFIG)


def _read_catalog() -> Catalog:
    """The catalogue, once every repository in it has been read from Git: on a fresh server a
    worker reads it while the request waits a few seconds; else 503 "not read yet" with
    Retry-After (never an empty answer, never "unknown application" for want of a read)."""
    catalog = _catalog()
    store_wait(catalog=catalog)
    return catalog


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _valid(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    """Query parameters validated like a body (a plain dict: an empty value is a value, not absent).
    Each takes one value: `?name=a&name=b` is refused, not read as one of them."""
    repeated = sorted(key for key, values in request.query_params.lists() if len(values) > 1)
    if repeated:
        raise ValidationError({key: [f"give {key} once, not {len(request.query_params.getlist(key))} times"]
                               for key in repeated})  # fmt: skip
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _application_name(name: str) -> str:
    """A path's application name; one that could never be (control characters) is simply not found."""
    if text_problem(name):
        raise Http404("no application with such a name")
    return name


def _promotion(promotion_id: int) -> Promotion:
    try:
        return promotion_get(promotion_id=promotion_id)
    except Promotion.DoesNotExist:
        raise Http404(f"no promotion #{promotion_id}") from None


class Stages(APIView):
    @extend_schema(responses={200: s.Stage(many=True), **READ}, summary="Stages in pipeline (graph) order")
    def get(self, request: Request) -> Response:
        now, catalog = timezone.now(), _catalog()
        return Response([
            {"name": st.name, "position": i, "mode": st.promotion.mode, "approvals": st.promotion.approvals,
             "approvers": st.promotion.approvers, "requesters": st.promotion.requesters,
             "cluster": st.cluster is not None,
             "frozen": describe(w) if (w := active_freeze(st.promotion, now)) else None,
             "upstream": catalog.upstreams(st.name), "promotion_sources": catalog.promotion_sources(st.name)}
            for i, st in enumerate(catalog.stages)
        ])  # fmt: skip


class Matrix(APIView):
    @extend_schema(
        parameters=[s.MatrixFilter],
        responses={200: s.Matrix, 304: None, **FOUND},
        summary="Every application's version per stage, with live state",
        description="Send the ETag of an earlier answer in If-None-Match: 304 while nothing it shows changed. "
        "With `page` or `page_size`, one page of applications and a `page` object.",
    )
    def get(self, request: Request) -> HttpResponse:
        catalog = _read_catalog()
        query = _query(s.MatrixFilter, request)
        name = query.get("name", "")
        paged = "page" in query or "page_size" in query
        number, size = query.get("page", 1), query.get("page_size", Pagination.page_size)
        version = matrix_version(catalog=catalog, extra=(name, paged and (number, size)))
        etag = f'"{version}"'
        response: HttpResponse
        if etag_matches(request.headers.get("If-None-Match", ""), version):
            response = HttpResponseNotModified()
        else:  # built once per version for every client: polling CI jobs and chat bots cost a lookup
            build = (lambda: _matrix_page(request, catalog, name, number, size)) if paged else (
                lambda: stored_matrix_document(catalog=catalog, query=name))  # fmt: skip
            response = HttpResponse(stored_matrix_json(catalog=catalog, version=version, build=build),
                                    content_type="application/json")  # fmt: skip
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"  # revalidate every time: it changes
        return response


def _matrix_page(request: Request, catalog: Catalog, name: str, number: int, size: int) -> dict[str, Any]:
    """One page of the matrix document: its applications' cells only, and where the others are."""
    names = stored_applications(catalog=catalog, query=name)
    pages = max(1, -(-len(names) // size))
    if number > pages:
        raise Http404(f"page {number} is past the last ({pages})")

    def link(page: int) -> str | None:
        if not 1 <= page <= pages:
            return None
        params = request.query_params.copy()
        params["page"] = str(page)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    document = stored_matrix_document(catalog=catalog, applications=names[(number - 1) * size : number * size])
    return document | {"page": {"number": number, "size": size, "count": len(names), "next": link(number + 1),
                                "previous": link(number - 1)}}  # fmt: skip


class Applications(APIView):
    @extend_schema(
        operation_id="applications_list",
        parameters=[s.ApplicationFilter],
        responses={200: s.paginated(s.Application), **FOUND},
        summary="Applications with their per-stage state",
    )
    def get(self, request: Request) -> Response:
        query = _query(s.ApplicationFilter, request)
        apps = stored_matrix_document(catalog=_read_catalog(), query=query.get("name", ""))["applications"]
        paginator = Pagination()
        page = paginator.paginate_queryset(apps, request, view=self)
        return paginator.get_paginated_response(page)


class ApplicationDetail(APIView):
    @extend_schema(parameters=[NAME], responses={200: s.Application, **FOUND}, summary="One application")
    def get(self, request: Request, name: str) -> Response:
        name = _application_name(name)
        document = stored_matrix_document(catalog=_read_catalog(), query=name)
        apps = [a for a in document["applications"] if a["name"] == name]
        if not apps:
            raise Http404(f"no application named {name!r}")
        return Response(apps[0])


class ApplicationHistory(APIView):
    @extend_schema(parameters=[NAME], responses={200: s.History, **FOUND},
                   summary="Versions an application had, per stage")  # fmt: skip
    def get(self, request: Request, name: str) -> Response:
        name = _application_name(name)
        catalog = _read_catalog()
        cell = StageVersion.objects.filter(application=name).first()
        if cell is None:
            raise Http404(f"no application named {name!r}")
        state = RepositoryState.objects.filter(name=cell.repository).first()
        history = application_history_get(catalog=catalog, name=name, repository=cell.repository,
                                          commit=state.commit if state else "")  # fmt: skip
        stages = {stage: [{"version": e.version, "error": e.error, "commit": e.commit, "author": e.author,
                           "date": e.date.isoformat(), "subject": e.subject} for e in entries]
                  for stage, entries in history.items()}  # fmt: skip
        return Response({"application": name, "stages": stages})


class Promotions(APIView):
    @extend_schema(
        operation_id="promotions_list",
        parameters=[s.PromotionFilter],
        responses={200: s.paginated(s.Promotion), **FOUND},
        summary="Promotions, newest first",
    )
    def get(self, request: Request) -> Response:
        q = _query(s.PromotionFilter, request)
        rows = promotions_query(application=q.get("application", ""), stage=q.get("stage", ""),
                                state=q.get("state", ""), kind=q.get("kind", ""))  # fmt: skip
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([promotion_document(p) for p in page or []])

    @extend_schema(request=s.PromotionRequest, responses={202: s.Promotion, **WRITE},
                   summary="Request a promotion (several applications: a release bundle)")  # fmt: skip
    def post(self, request: Request) -> Response:
        data = _valid(s.PromotionRequest, request)
        promotion = promotion_request(
            catalog=_read_catalog(), applications=data["applications"], from_stage=data["from_stage"],
            to_stage=data["to_stage"], version=data.get("version"), reason=data["reason"],
            requested_by=_user(request), actor=_user(request).get_username(), override_reason=data["override_reason"],
            allow_downgrade=data["allow_downgrade"], lift_pin_reason=data["lift_pin_reason"],
        )  # fmt: skip
        return Response(promotion_document(promotion), status=status.HTTP_202_ACCEPTED)


class PromotionDetail(APIView):
    @extend_schema(responses={200: s.Promotion, **errors(404)}, summary="One promotion")
    def get(self, request: Request, promotion_id: int) -> Response:
        return Response(promotion_document(_promotion(promotion_id)))


class PromotionAction(APIView):
    """approve {comment}, reject {reason}, merge {override_reason}, cancel {reason}."""

    inputs = {"approve": s.Comment, "reject": s.Reason, "merge": s.MergeInput, "cancel": s.OptionalReason}
    action = ""

    @extend_schema(responses={200: s.Promotion, **WRITE})
    def post(self, request: Request, promotion_id: int) -> Response:
        promotion = _promotion(promotion_id)
        data = _valid(self.inputs[self.action], request)
        actor = who(_user(request), _catalog())
        if self.action == "approve":
            approval_submit(promotion=promotion, actor=actor, comment=data["comment"], source="api")
        elif self.action == "reject":
            promotion_reject(promotion=promotion, actor=actor, reason=data["reason"], source="api")
        elif self.action == "merge":
            promotion_merge(promotion=promotion, actor=actor, override_reason=data["override_reason"])
        else:
            promotion_cancel(promotion=promotion, actor=actor, reason=data["reason"])
        return Response(promotion_document(_promotion(promotion_id)))


def action_view(name: str, summary: str, request_serializer: type) -> Any:
    view = type(f"Promotion{name.title()}", (PromotionAction,), {"action": name})
    return extend_schema(request=request_serializer, responses={200: s.Promotion, **WRITE}, summary=summary)(view)


class Rollbacks(APIView):
    @extend_schema(request=s.Rollback, responses={202: s.Promotion, **WRITE},
                   summary="Roll an application in a stage back (default: to the version before)")  # fmt: skip
    def post(self, request: Request) -> Response:
        data = _valid(s.Rollback, request)
        promotion = promotion_rollback(
            catalog=_read_catalog(), application=data["application"], stage=data["stage"], version=data.get("version"),
            requested_by=_user(request), reason=data["reason"], actor=_user(request).get_username(),
            override_reason=data["override_reason"],
        )  # fmt: skip
        return Response(promotion_document(promotion), status=status.HTTP_202_ACCEPTED)


class Releases(APIView):
    @extend_schema(request=s.Release, responses={202: s.Promotion, **WRITE},
                   summary="CI: version V of an application was built; promote it into its first stage")  # fmt: skip
    def post(self, request: Request) -> Response:
        data = _valid(s.Release, request)
        metadata = {k: data.get(k, "") for k in ("build", "source_repository", "source_commit", "issue")}
        with audit_context(source="ci", request_id=current_context().request_id):
            promotion = promotion_release(
                catalog=_read_catalog(),
                application=data["application"],
                version=data["version"],
                metadata=metadata,
                requested_by=_user(request),
                reason=data["reason"],
            )
        return Response(promotion_document(promotion), status=status.HTTP_202_ACCEPTED)


class AuditEvents(APIView):
    @extend_schema(
        operation_id="audit_events_list",
        parameters=[s.AuditFilter],
        responses={200: s.paginated(s.AuditEvent), **FOUND},
        summary="The audit history, oldest first",
    )
    def get(self, request: Request) -> Response:
        q = _query(s.AuditFilter, request)
        rows = audit_events(application=q.get("application", ""), stage=q.get("stage", ""), user=q.get("user", ""),
                            action=q.get("action", ""), since=q.get("since"), until=q.get("until"))  # fmt: skip
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([audit_document(e) for e in page or []])


class Insights(APIView):
    @extend_schema(
        parameters=[s.InsightsFilter],
        responses={200: s.DeliveryInsights, **READ},
        summary="Delivery insights (DORA): deployment frequency, lead time, change failure rate, time to restore",
        description="Over a period (default: the last 30 days), for the pipeline's last stages (or `stage`), per "
        "stage, per application and per week, from the portal's own promotion records. A period or stage that "
        "cannot be answered is `400 refused` with the parameter at fault in `details`.",
    )
    def get(self, request: Request) -> Response:
        params = _query(s.InsightsFilter, request)
        try:
            query = insights_query(catalog=_catalog(), now=timezone.now(), **params)
        except InsightsQueryError as exc:
            return error_response(status.HTTP_400_BAD_REQUEST, str(exc), {exc.field: [exc.message]}, code="refused")
        return Response(insights_document(delivery_insights_get(query=query)))


def _token(token: ApiToken) -> dict[str, Any]:
    fields = ("name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    return {"id": token.pk} | {field: getattr(token, field) for field in fields}


class Tokens(APIView):
    @extend_schema(responses={200: s.Token(many=True), **errors()}, summary="Your API tokens")
    def get(self, request: Request) -> Response:
        return Response([_token(t) for t in ApiToken.objects.filter(user=_user(request))])

    @extend_schema(request=s.TokenInput, responses={201: s.NewToken, **errors(400, 403)},
                   summary="Create a token (shown once)")  # fmt: skip
    def post(self, request: Request) -> Response:
        data = _valid(s.TokenInput, request)
        token, raw = apitoken_create(user=_user(request), name=data["name"], expires_days=data.get("expires_days"))
        return Response(_token(token) | {"token": raw}, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    @extend_schema(responses={204: None, **errors(403, 404)}, summary="Revoke one of your tokens")
    def delete(self, request: Request, token_id: int) -> Response:
        token = ApiToken.objects.filter(pk=token_id, user=_user(request)).first()
        if token is None:
            raise Http404(f"no token #{token_id} of yours")
        apitoken_revoke(token=token, actor=_user(request).get_username())
        return Response(status=status.HTTP_204_NO_CONTENT)
