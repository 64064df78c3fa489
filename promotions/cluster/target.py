"""How to find one application's workload in a cluster (templates rendered)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class LiveTarget:
    """How to find one application's workload in a cluster ({app} rendered, {stage} by `for_stage`)."""

    selector: str | None
    kind: str | None
    name: str | None
    container: str
    namespace: str | None = None  # a template ({stage} still to render); None: the stage's
    default: bool = False  # the selector is the default app.kubernetes.io/name={app}

    def for_stage(self, stage: str) -> LiveTarget:
        """The target in one stage: `{stage}` rendered in the selector, name and container."""

        def fill(value: str | None) -> str | None:
            return value.replace("{stage}", stage) if value else value

        return replace(self, selector=fill(self.selector), name=fill(self.name), container=fill(self.container) or "")
