"""The catalogue file's schema (a public contract: extend it, never break it).

Pydantic models with `extra="forbid"`, so a misspelt key is an error naming the key
instead of being silently ignored. `promotion` and `cluster` are validated here and used
by later features (promotions, live state).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from promotions import locators
from promotions.labels import SelectorError, parse_selector
from promotions.yamlnodes import PathSyntaxError, parse_path

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)]


def render(template: str, *, app: str, stage: str) -> str:
    return template.replace("{app}", app).replace("{stage}", stage)


def check_template(value: str, allowed: tuple[str, ...] = ("app", "stage")) -> str:
    for name in PLACEHOLDER.findall(value):
        if name not in allowed:
            choices = ", ".join(f"{{{a}}}" for a in allowed)
            raise ValueError(f"unknown placeholder {{{name}}} in {value!r} (allowed: {choices})")
    return value


Template = Annotated[str, StringConstraints(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitHubSettings(Model):
    repo: Annotated[str, StringConstraints(pattern=r"^[^/\s]+/[^/\s]+$")]
    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"


class RepositoryConfig(Model):
    name: Name
    url: Annotated[str, StringConstraints(min_length=1)]
    branch: Annotated[str, StringConstraints(min_length=1)] = "main"
    provider: Literal["local", "github"] = "local"
    github: GitHubSettings | None = None
    webhook_secret_env: str = "GITHUB_WEBHOOK_SECRET"

    @model_validator(mode="after")
    def _github_needs_settings(self) -> RepositoryConfig:
        if self.provider == "github" and self.github is None:
            raise ValueError("provider 'github' needs a 'github' block with at least 'repo: owner/name'")
        return self


class ClusterConfig(Model):
    """Where a stage runs. kubeconfig: a path (relative to the catalogue file), else
    KUBECONFIG, ~/.kube/config, or the in-cluster service account, in that order."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: Template = "{app}"
    timeout: Annotated[float, Field(gt=0, le=120)] = 5.0  # seconds per API call

    _namespace = field_validator("namespace")(check_template)


class PromotionPolicy(Model):
    mode: Literal["commit", "pull_request"] = "commit"
    approvals: Annotated[int, Field(ge=0)] = 0
    approvers: list[str] = []
    # After the change lands: healthy this long counts as verified; not running the new
    # version this long after the merge fails the promotion.
    soak_seconds: Annotated[int, Field(ge=0)] = 60
    deploy_deadline_seconds: Annotated[int, Field(gt=0)] = 600


class StageConfig(Model):
    name: Name
    cluster: ClusterConfig | None = None
    promotion: PromotionPolicy = PromotionPolicy()


class KustomizeImage(Model):
    kind: Literal["kustomize-image"]
    image: Template | None = None

    _image = field_validator("image")(check_template)

    def bind(self, *, app: str, stage: str) -> locators.Locator:
        return locators.KustomizeImageLocator(render(self.image, app=app, stage=stage) if self.image else None)


def _check_path(value: str) -> str:
    check_template(value)
    try:
        parse_path(render(value, app="app", stage="stage"))
    except PathSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


class HelmValues(Model):
    kind: Literal["helm-values"]
    key: Template = "image.tag"

    _key = field_validator("key")(_check_path)

    def bind(self, *, app: str, stage: str) -> locators.Locator:
        return locators.PathLocator("helm-values", render(self.key, app=app, stage=stage))


class HelmReleaseChart(Model):
    kind: Literal["helmrelease-chart"]
    name: Template | None = None

    _name = field_validator("name")(check_template)

    def bind(self, *, app: str, stage: str) -> locators.Locator:
        name = render(self.name, app=app, stage=stage) if self.name else None
        return locators.HelmReleaseChartLocator(name, app)


class Workload(Model):
    kind: str | None = None
    name: Template | None = None

    _name = field_validator("name")(check_template)


class Image(Model):
    kind: Literal["image"]
    container: Template = "{app}"
    workload: Workload | None = None

    _container = field_validator("container")(check_template)

    def bind(self, *, app: str, stage: str) -> locators.Locator:
        workload = self.workload or Workload()
        name = render(workload.name, app=app, stage=stage) if workload.name else None
        return locators.ImageLocator(render(self.container, app=app, stage=stage), workload.kind, name)


class YamlPath(Model):
    kind: Literal["yaml-path"]
    path: Template

    _path = field_validator("path")(_check_path)

    def bind(self, *, app: str, stage: str) -> locators.Locator:
        return locators.PathLocator("yaml-path", render(self.path, app=app, stage=stage))


LOCATOR_KINDS = ("kustomize-image", "helm-values", "helmrelease-chart", "image", "yaml-path")
VersionLocator = Annotated[
    KustomizeImage | HelmValues | HelmReleaseChart | Image | YamlPath, Field(discriminator="kind")
]


def _check_selector(value: str | None) -> str | None:
    if value is not None:
        check_template(value)
        try:
            parse_selector(render(value, app="app", stage="stage"))
        except SelectorError as exc:
            raise ValueError(str(exc)) from None
    return value


class LiveSelector(Model):
    """How to find the application in its stage's cluster: a label selector, or a workload
    kind and name (default: the label app.kubernetes.io/name={app}); `container` picks the
    application's container (default {app}, or the only one)."""

    selector: str | None = None
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] | None = None
    name: Template | None = None
    container: Template | None = None
    namespace: Template | None = None  # overrides the stage's cluster.namespace for this application

    _selector = field_validator("selector")(_check_selector)
    _name = field_validator("name", "container", "namespace")(check_template)


class StageOverride(Model):
    path: Template | None = None
    version: VersionLocator | None = None

    _path = field_validator("path")(check_template)


class ApplicationDefaults(Model):
    repository: str | None = None
    path: Template | None = None
    version: VersionLocator | None = None
    live: LiveSelector | None = None

    _path = field_validator("path")(check_template)


class ApplicationConfig(ApplicationDefaults):
    name: Name
    stages: list[str] | None = None
    overrides: dict[str, StageOverride] = {}


def _check_discover(value: str) -> str:
    check_template(value)
    if "{app}" not in value:
        raise ValueError(f"discover pattern {value!r} must contain {{app}}")
    return value


class ApplicationsSection(Model):
    defaults: ApplicationDefaults = ApplicationDefaults()
    discover: Annotated[str, Field(min_length=1)] | list[Annotated[str, Field(min_length=1)]] | None = None
    items: list[ApplicationConfig] = []

    @field_validator("discover")
    @classmethod
    def _discover(cls, value: str | list[str] | None) -> str | list[str] | None:
        for pattern in [value] if isinstance(value, str) else value or []:
            _check_discover(pattern)
        return value


class CatalogFile(Model):
    repositories: Annotated[list[RepositoryConfig], Field(min_length=1)]
    stages: Annotated[list[StageConfig], Field(min_length=1)]
    applications: ApplicationsSection = ApplicationsSection()
