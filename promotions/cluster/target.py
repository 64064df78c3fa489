"""How to find one application's workload in a cluster (templates rendered)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class OperatorRef:
    """A Flux or Argo CD object named in the catalogue for an application (templates rendered;
    `namespace` None: the stage operator's)."""

    kind: str
    name: str
    namespace: str | None = None

    def for_stage(self, stage: str) -> OperatorRef:
        namespace = self.namespace.replace("{stage}", stage) if self.namespace else None
        return replace(self, name=self.name.replace("{stage}", stage), namespace=namespace)


@dataclass(frozen=True)
class LiveTarget:
    """How to find one application's workload in a cluster ({app} rendered, {stage} by `for_stage`)."""

    selector: str | None
    kind: str | None
    name: str | None
    container: str
    namespace: str | None = None  # a template ({stage} still to render); None: the stage's
    default: bool = False  # the selector is the default app.kubernetes.io/name={app}
    operator: OperatorRef | None = None  # the operator's object for it, when the catalogue names one

    def for_stage(self, stage: str) -> LiveTarget:
        """The target in one stage: `{stage}` rendered in the selector, name and container."""

        def fill(value: str | None) -> str | None:
            return value.replace("{stage}", stage) if value else value

        operator = self.operator.for_stage(stage) if self.operator else None
        return replace(self, selector=fill(self.selector), name=fill(self.name), container=fill(self.container) or "",
                       operator=operator)  # fmt: skip
