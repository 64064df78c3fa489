"""Which promotions can still move: what the matrix shows on its cells, what its update token
watches, and what a promotion's page keeps asking about."""

from __future__ import annotations

from django.db.models import Q

from promotions.catalogue.lookups import Catalog
from promotions.models import Promotion

State = Promotion.State
MOVING = (*Promotion.OPEN_STATES, State.SYNCING, State.DEPLOYED)
LANDED = (State.COMMITTED, State.MERGED)  # moving only in a stage with a cluster to follow it into


def unsettled_filter(catalog: Catalog, prefix: str = "") -> Q:
    """Promotions that can still move (`prefix`: the path to the promotion, e.g. "promotion__"): open,
    rolling out, or landed in a stage with a cluster to follow it into (elsewhere landing is the end)."""
    clustered = [stage.name for stage in catalog.stages if stage.cluster is not None]
    return Q(**{f"{prefix}state__in": MOVING}) | Q(**{f"{prefix}state__in": LANDED, f"{prefix}to_stage__in": clustered})


def unsettled(promotion: Promotion, catalog: Catalog) -> bool:
    """`unsettled_filter` for one promotion at hand (no query)."""
    if promotion.state in MOVING:
        return True
    stage = catalog.stage(promotion.to_stage)
    return promotion.state in LANDED and stage is not None and stage.cluster is not None
