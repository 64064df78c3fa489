"""The catalogue file's schema (a public contract: extend it, never break it).

Pydantic models with `extra="forbid"`, so a misspelt key is an error naming the key
instead of being silently ignored. `promotion` and `cluster` are validated here and used
by later features (promotions, live state).
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from promotions.cluster.labels import SelectorError, parse_selector
from promotions.gitops.yaml import locators
from promotions.gitops.yaml.nodes import PathSyntaxError, parse_path

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


def check_repo_path(value: str) -> str:
    """A file path template inside the repository: relative, and never climbing out of it."""
    check_template(value)
    if value.startswith("/") or ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"path {value!r} must stay inside the repository (relative, without '..' segments)")
    return value


Template = Annotated[str, StringConstraints(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitHubSettings(Model):
    repo: Annotated[str, StringConstraints(pattern=r"^[^/\s]+/[^/\s]+$")]
    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"


class GitLabSettings(Model):
    """A GitLab project (gitlab.com or self-managed): `api_url` is the server (…/api/v4 is accepted too)."""

    project: Annotated[str, StringConstraints(pattern=r"^[^/\s]+(/[^/\s]+)+$")]
    api_url: Annotated[str, StringConstraints(pattern=r"^https?://")] = "https://gitlab.com"
    token_env: str = "GITLAB_TOKEN"

    @property
    def server(self) -> str:
        return self.api_url.rstrip("/").removesuffix("/api/v4")


class GiteaSettings(Model):
    """A Gitea or Forgejo repository: `api_url` is the server or its …/api/v1."""

    repo: Annotated[str, StringConstraints(pattern=r"^[^/\s]+/[^/\s]+$")]
    api_url: Annotated[str, StringConstraints(pattern=r"^https?://")]
    token_env: str = "GITEA_TOKEN"

    @property
    def api(self) -> str:
        url = self.api_url.rstrip("/")
        return url if url.endswith("/api/v1") else f"{url}/api/v1"


HOSTED = ("github", "gitlab", "gitea")
WEBHOOK_SECRET_ENV = {"github": "GITHUB_WEBHOOK_SECRET", "gitlab": "GITLAB_WEBHOOK_SECRET",
                      "gitea": "GITEA_WEBHOOK_SECRET"}  # fmt: skip


class RepositoryConfig(Model):
    name: Name
    url: Annotated[str, StringConstraints(min_length=1)]
    branch: Annotated[str, StringConstraints(min_length=1)] = "main"
    provider: Literal["local", "github", "gitlab", "gitea"] = "local"
    github: GitHubSettings | None = None
    gitlab: GitLabSettings | None = None
    gitea: GiteaSettings | None = None
    # The environment variable holding the webhook secret (default per provider: GITHUB_, GITLAB_,
    # GITEA_WEBHOOK_SECRET); the secret itself never sits in the catalogue.
    webhook_secret_env: str = ""
    # Delete a promotion's branch (gitops-portal/promotion-<id>) once it is merged, superseded,
    # cancelled or rejected; false keeps every branch.
    delete_branches: bool = True

    @model_validator(mode="before")
    @classmethod
    def _secret_env(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("webhook_secret_env"):
            provider = data.get("provider") or "local"
            return {**data, "webhook_secret_env": WEBHOOK_SECRET_ENV.get(str(provider), "GITHUB_WEBHOOK_SECRET")}
        return data

    @model_validator(mode="after")
    def _host_needs_settings(self) -> RepositoryConfig:
        needs = {"github": "'repo: owner/name'", "gitlab": "'project: group/name'",
                 "gitea": "'repo: owner/name' and 'api_url'"}  # fmt: skip
        if self.provider in needs and getattr(self, self.provider) is None:
            raise ValueError(f"provider '{self.provider}' needs a '{self.provider}' block with at least "
                             f"{needs[self.provider]}")  # fmt: skip
        return self

    @property
    def host_path(self) -> str:
        """What the Git host calls the repository (owner/name, a GitLab project's path); '' for local."""
        if self.github is not None and self.provider == "github":
            return self.github.repo
        if self.gitlab is not None and self.provider == "gitlab":
            return self.gitlab.project
        return self.gitea.repo if self.gitea is not None and self.provider == "gitea" else ""

    @property
    def token_env(self) -> str:
        """The environment variable with the host's API token ('' for local)."""
        settings = getattr(self, self.provider, None) if self.provider in HOSTED else None
        return settings.token_env if settings is not None else ""


class ClusterConfig(Model):
    """Where a stage runs. kubeconfig: a path (relative to the catalogue file), else
    KUBECONFIG, ~/.kube/config, or the in-cluster service account, in that order."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: Template = "{app}"
    timeout: Annotated[float, Field(gt=0, le=120)] = 5.0  # seconds per API call

    _namespace = field_validator("namespace")(check_template)


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(value: object) -> object:
    """YAML 1.1 reads an unquoted 15:00 as the sexagesimal number 900: take it back."""
    if isinstance(value, int) and 0 <= value <= 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}" if value < 24 * 60 else "23:59:59"
    return value


class FreezeWindow(Model):
    """A time when promotions into a stage are refused: a fixed range (`start`, `end`) or
    every week on some `days` (optionally between `start_time` and `end_time`)."""

    reason: Annotated[str, StringConstraints(min_length=1)]
    start: datetime | None = None
    end: datetime | None = None
    days: list[Day] | None = None
    start_time: time = time(0, 0)
    end_time: time = time(23, 59, 59)
    timezone: str = "UTC"

    _times = field_validator("start_time", "end_time", mode="before")(_clock)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> FreezeWindow:
        fixed, weekly = self.start is not None or self.end is not None, self.days is not None
        if fixed == weekly:
            raise ValueError("a freeze window has either start and end, or days")
        if fixed and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("a fixed freeze window needs start before end")
        return self


class PromotionPolicy(Model):
    mode: Literal["commit", "pull_request"] = "commit"
    approvals: Annotated[int, Field(ge=0)] = 0
    approvers: list[str] = []
    # Who may request promotions into this stage (groups); unset: any signed-in user.
    requesters: list[str] | None = None
    self_approval: bool = False  # the requester's own approval never counts unless this is true
    auto_merge: bool = False  # merge as soon as the approvals are there
    rollback_approvals: Annotated[int, Field(ge=0)] | None = None  # default: `approvals`
    freeze: list[FreezeWindow] = []
    # After the change lands: healthy this long counts as verified; not running the new
    # version this long after the merge fails the promotion.
    soak_seconds: Annotated[int, Field(ge=0)] = 60
    deploy_deadline_seconds: Annotated[int, Field(gt=0)] = 600
    # Stages this one also takes promotions from, besides its upstreams (a hotfix path, a
    # sideways copy between regions); `from` in the file.
    from_: Annotated[list[Name], Field(alias="from")] = []

    @model_validator(mode="after")
    def _reviewable(self) -> PromotionPolicy:
        if (self.approvals or self.rollback_approvals) and self.mode != "pull_request":
            raise ValueError("approvals need a pull request to approve: set mode: pull_request")
        if (self.approvals or self.rollback_approvals) and not self.approvers:
            raise ValueError("approvals > 0 needs approvers (the groups whose approval counts)")
        return self

    def required(self, kind: str) -> int:
        """How many approvals a promotion of `kind` needs."""
        if kind == "rollback" and self.rollback_approvals is not None:
            return self.rollback_approvals
        return self.approvals


class ReceiverConfig(Model):
    """Where to ask the stage's operator to sync now (a Flux `Receiver` or Argo CD's `/api/webhook`):
    the URL and the shared secret come from environment variables, never from the catalogue."""

    url_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    secret_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None


OPERATOR_NAMESPACES = {"flux": "flux-system", "argocd": "argocd"}
OPERATOR_TITLES = {"flux": "Flux", "argocd": "Argo CD"}


class OperatorConfig(Model):
    """The GitOps operator that applies the stage's files: read (never written) from the stage's
    cluster; `namespace` is where its objects live (flux-system, argocd by default)."""

    kind: Literal["flux", "argocd"]
    namespace: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)] | None = (
        None
    )
    receiver: ReceiverConfig | None = None

    @property
    def objects_namespace(self) -> str:
        return self.namespace or OPERATOR_NAMESPACES[self.kind]

    @property
    def title(self) -> str:
        return OPERATOR_TITLES[self.kind]


class StageConfig(Model):
    name: Name
    # The stages it takes releases from; unset: the stage before it in the list (none for the first).
    upstream: list[Name] | None = None
    cluster: ClusterConfig | None = None
    operator: OperatorConfig | None = None
    promotion: PromotionPolicy = PromotionPolicy()

    @model_validator(mode="after")
    def _operator_needs_cluster(self) -> StageConfig:
        if self.operator is not None and self.cluster is None:
            raise ValueError("an 'operator' is read from the stage's cluster: give the stage a 'cluster' block too")
        return self


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


class OperatorObject(Model):
    """The Flux or Argo CD object that applies the application in a stage, named where matching by
    path is ambiguous: a Kustomization or Application (it applies the file), or a HelmRelease (it
    installs the release). `name` and `namespace` are templates ({app}, {stage}); the namespace
    defaults to the stage operator's."""

    kind: Literal["Kustomization", "HelmRelease", "Application"]
    name: Template
    namespace: Template | None = None

    _name = field_validator("name", "namespace")(check_template)


class LiveSelector(Model):
    """How to find the application in its stage's cluster: a label selector, or a workload
    kind and name (default: the label app.kubernetes.io/name={app}); `container` picks the
    application's container (default {app}, or the only one)."""

    selector: str | None = None
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] | None = None
    name: Template | None = None
    container: Template | None = None
    namespace: Template | None = None  # overrides the stage's cluster.namespace for this application
    operator: OperatorObject | None = None  # the operator's object for it, where matching by path is ambiguous

    _selector = field_validator("selector")(_check_selector)
    _name = field_validator("name", "container", "namespace")(check_template)


def check_repo_paths(value: str | list[str] | None) -> str | list[str] | None:
    """One path template, or layered files (later ones override earlier ones, as Helm's
    `-f a -f b`): each relative and inside the repository."""
    if value == []:
        raise ValueError("an empty list of files: give at least one path (the stage's own file last)")
    for path in [value] if isinstance(value, str) else value or []:
        check_repo_path(path)
    return value


# A stage file, or layered files ending with the stage's own (where promotions write).
StagePath = Template | list[Template]


class StageOverride(Model):
    path: StagePath | None = None
    version: VersionLocator | None = None

    _path = field_validator("path")(check_repo_paths)


class ApplicationDefaults(Model):
    repository: str | None = None
    path: StagePath | None = None
    version: VersionLocator | None = None
    live: LiveSelector | None = None

    _path = field_validator("path")(check_repo_paths)


class ApplicationConfig(ApplicationDefaults):
    name: Name
    stages: list[str] | None = None
    overrides: dict[str, StageOverride] = {}


def _check_discover(value: str) -> str:
    check_repo_path(value)
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


NOTIFICATION_EVENTS = ("requested", "awaiting_approval", "approved", "merged", "deployed", "verified", "failed",
                       "rolled_back")  # fmt: skip


class NotificationConfig(Model):
    """Who hears about which promotions: a Slack incoming webhook or a generic JSON webhook
    (HMAC-signed). URLs that are secrets (Slack's are) come from an environment variable."""

    name: Name
    kind: Literal["slack", "webhook"]
    url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = None
    url_env: str | None = None
    secret_env: str | None = None  # generic webhooks: HMAC-SHA256 key for X-Portal-Signature-256
    events: list[Literal["*", "requested", "awaiting_approval", "approved", "merged", "deployed", "verified", "failed",
                         "rolled_back"]] = ["*"]  # fmt: skip
    applications: list[str] | None = None  # unset: every application
    stages: list[str] | None = None  # unset: every stage

    @model_validator(mode="after")
    def _one_url(self) -> NotificationConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self

    def wants(self, event: str, applications: list[str], stage: str) -> bool:
        return (
            ("*" in self.events or event in self.events)
            and (self.stages is None or stage in self.stages)
            and (self.applications is None or bool(set(applications) & set(self.applications)))
        )


class CatalogFile(Model):
    repositories: Annotated[list[RepositoryConfig], Field(min_length=1)]
    stages: Annotated[list[StageConfig], Field(min_length=1)]
    applications: ApplicationsSection = ApplicationsSection()
    admins: list[str] = []  # groups whose members may do anything, e.g. override a freeze
    notifications: list[NotificationConfig] = []
