"""Rolling an application in a stage back to an earlier version, through the same policy."""

from __future__ import annotations

from django.contrib.auth.models import User

from promotions.catalogue.lookups import Catalog
from promotions.matrix.history import application_history_get
from promotions.models import Promotion, RepositoryState, StageVersion
from promotions.workflow.request import PromotionError, promotion_request


def rollback_versions(*, catalog: Catalog, application: str, stage: str) -> tuple[str | None, list[str]]:
    """The stage's current version and the earlier ones it had, newest first."""
    cell = StageVersion.objects.filter(application=application, stage=stage).first()
    if cell is None or cell.path is None:
        raise PromotionError(f"{application} is not in {stage}")
    state = RepositoryState.objects.filter(name=cell.repository).first()
    history = application_history_get(
        catalog=catalog, name=application, repository=cell.repository, commit=state.commit if state else ""
    )
    versions = list(dict.fromkeys(e.version for e in history.get(stage, []) if e.version))
    return cell.version, [v for v in versions if v != cell.version]


def promotion_rollback(
    *,
    catalog: Catalog,
    application: str,
    stage: str,
    version: str | None = None,
    requested_by: User | None = None,
    reason: str = "",
    actor: str = "",
    override_reason: str = "",
) -> Promotion:
    """A promotion of kind `rollback` to `version` (default: the one before the current)."""
    current, version = rollback_choice(catalog=catalog, application=application, stage=stage, version=version)
    return promotion_request(
        catalog=catalog, applications=[application], from_stage="", to_stage=stage, version=version,
        reason=reason.strip() or f"roll back {application} in {stage} from {current} to {version}",
        requested_by=requested_by, kind=Promotion.Kind.ROLLBACK, actor=actor, override_reason=override_reason,
    )  # fmt: skip


def rollback_choice(*, catalog: Catalog, application: str, stage: str, version: str | None) -> tuple[str | None, str]:
    """The version the stage has and the one a rollback would install (`version`, default: the one
    before); PromotionError for a version the stage never had, or has now."""
    current, earlier = rollback_versions(catalog=catalog, application=application, stage=stage)
    if version is None:
        if not earlier:
            raise PromotionError(f"{application} has no earlier version in {stage} to roll back to")
        return current, earlier[0]
    if version == current:
        raise PromotionError(f"{stage} already has {application} {version}")
    if version not in earlier:
        raise PromotionError(
            f"{application} {version} was never in {stage} (earlier there: {', '.join(earlier[:8]) or 'none'})"
        )
    return current, version


def promotion_release(
    *, catalog: Catalog, application: str, version: str, metadata: dict[str, str], requested_by: User | None,
    reason: str = "",
) -> Promotion:  # fmt: skip
    """CI built `version` of `application`: promote it into the first stage the application is in."""
    stages = list(
        StageVersion.objects.filter(application=application, path__isnull=False).values_list("stage", flat=True)
    )
    first = next((s for s in catalog.stage_names if s in stages), None)
    if first is None:
        raise PromotionError(f"unknown application {application!r}: it is in no stage folder")
    return promotion_request(
        catalog=catalog, applications=[application], from_stage="", to_stage=first, version=version,
        reason=reason or f"build {metadata.get('build') or '?'} of {application}", requested_by=requested_by,
        kind=Promotion.Kind.RELEASE, metadata={k: v for k, v in metadata.items() if v},
    )  # fmt: skip
