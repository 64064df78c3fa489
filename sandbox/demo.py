"""The demo: a local GitOps repository with 3 stages and 8 applications in every common
layout, a believable history, its catalogue, and three users.

Each stage has its GitOps operator (simulated by `manage.py demo_clusters`): Flux polling the
repository every minute in dev, Flux with a webhook Receiver in staging, Argo CD with its webhook
in production. The newest commits give each kind of operator state something to show: a release
to dev that dev's Flux has not fetched yet when the clusters start, and a release to dev whose
overlay lists a file that does not parse, so dev's Flux fails to build it and keeps the old version.
In production, billing's pods crash-loop (`CRASH_LOOPING`): all of them but one, a Degraded cell.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.demo_githost import repository_block
from sandbox.gitrepo import Author, RepoBuilder
from sandbox.receivers import ReceiverStandIn

STAGES = ("dev", "staging", "production")
# (stage, application) whose pods crash-loop when the demo's clusters start (all but one: its payment
# provider's sandbox went away), so that the dashboard shows what Degraded looks like: 1/3 ready.
CRASH_LOOPING = (("production", "billing"),)
USERS = {  # username: (password, group, role shown in the README)
    "alice": ("alice-demo-pw", "developers", "developer"),
    "bob": ("bob-demo-pw", "release-managers", "release manager"),
    "carol": ("carol-demo-pw", "viewers", "viewer"),
    "admin": ("admin-demo-pw", "platform-admins", "administrator: Django admin, freeze overrides"),
}
AUTHORS = [
    Author("Alice Martin", "alice@acme.example"),
    Author("Bob Okafor", "bob@acme.example"),
    Author("Dave Chen", "dave@acme.example"),
    Author("Erin Novak", "erin@acme.example"),
    Author("release-bot", "release-bot@acme.example"),
]

CATALOGUE = """\
# GitOps Portal catalogue for the demo repository (written by `manage.py demo`).
repositories:
{repository}# Each stage's cluster is a virtual cluster of the Kubernetes stand-in that `make run`
# starts (python manage.py demo_clusters), which writes this kubeconfig, with the stage's
# GitOps operator simulated. The receivers' URLs and secrets are in receivers.env beside
# this file, which `make run` loads into every process.
stages:
  - name: dev
    cluster: {{kubeconfig: kubeconfig, context: dev, namespace: "{{app}}", timeout: 2}}
    operator: {{kind: flux}}  # no receiver: Flux finds a change at its next poll (every minute)
    promotion: {{mode: commit, soak_seconds: 10, requesters: [developers, release-managers]}}
  - name: staging
    cluster: {{kubeconfig: kubeconfig, context: staging, namespace: "{{app}}", timeout: 2}}
    operator:  # Flux, asked to sync as soon as a change lands through its Receiver
      kind: flux
      receiver: {{url_env: DEMO_STAGING_RECEIVER_URL, secret_env: DEMO_STAGING_RECEIVER_SECRET}}
    promotion: {{mode: commit, soak_seconds: 10, requesters: [developers, release-managers]}}
  - name: production
    cluster: {{kubeconfig: kubeconfig, context: production, namespace: "{{app}}", timeout: 2}}
    operator:  # Argo CD, told about each merge through its webhook
      kind: argocd
      receiver: {{url_env: DEMO_PRODUCTION_WEBHOOK_URL, secret_env: DEMO_PRODUCTION_WEBHOOK_SECRET}}
    promotion:
      mode: pull_request
      requesters: [developers, release-managers]
      approvers: [release-managers]
      approvals: 1
      rollback_approvals: 1
      soak_seconds: 30
      freeze:
        - {{reason: "year-end change freeze", start: 2026-12-23T00:00:00Z, end: 2027-01-04T00:00:00Z}}
# Members of these groups may do anything, including overriding a freeze with a reason.
admins: [platform-admins]
applications:
  defaults:
    repository: platform
    path: "{{stage}}/{{app}}/kustomization.yaml"
    version: {{kind: kustomize-image, image: "ghcr.io/acme/{{app}}"}}
    live: {{selector: "app.kubernetes.io/name={{app}}"}}
  # Every folder <stage>/<app>/kustomization.yaml is an application (web, api, checkout).
  discover: "{{stage}}/{{app}}/kustomization.yaml"
  items:
    - name: gateway            # one kustomize overlay per stage, several images in it
      path: "env/{{stage}}/kustomization.yaml"
    - name: billing            # Helm values, one folder per stage inside the app
      path: "apps/billing/{{stage}}/values.yaml"
      version: {{kind: helm-values, key: image.tag}}
    - name: cert-manager       # Flux HelmRelease patch per stage; the chart version may be a range
      path: "apps/{{stage}}/cert-manager-values.yaml"
      version: {{kind: helmrelease-chart}}
    - name: search             # plain Deployment with a sidecar, image from a registry with a port
      path: "apps/search/{{stage}}/deployment.yaml"
      version: {{kind: image, container: search}}
    - name: notifications      # a HelmRelease with inline values: a generic path
      path: "apps/{{stage}}/notifications.yaml"
      version: {{kind: yaml-path, path: spec.values.image.tag}}
"""


def kustomization(app: str, stage: str, version: str, replicas: int, extra: tuple[str, ...] = ()) -> str:
    resources = "".join(f"\n  - {resource}" for resource in extra)
    return f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {app}-{stage}
resources:
  - ../../base/{app}{resources}
images:
  - name: ghcr.io/acme/{app}
    newTag: "{version}"
replicas:
  - name: {app}
    count: {replicas}
"""


def gateway_overlay(stage: str, version: str, replicas: int) -> str:
    return f"""# Edge gateway overlay for {stage}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base/gateway
images:
  - name: docker.io/library/nginx
    newTag: 1.27.2-alpine
  - name: ghcr.io/acme/gateway
    newTag: {version}
replicas:
  - name: gateway
    count: {replicas}
"""


def billing_values(stage: str, version: str, replicas: int) -> str:
    return f"""# Billing service: Helm values for {stage}
replicaCount: {replicas}
image:
  repository: ghcr.io/acme/billing
  tag: "{version}"
  pullPolicy: IfNotPresent
resources:
  requests: {{cpu: 100m, memory: 256Mi}}
"""


def cert_manager_release(stage: str, version: str, replicas: int) -> str:
    return f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cert-manager
  namespace: cert-manager
spec:
  interval: 30m
  chart:
    spec:
      chart: cert-manager
      version: "{version}"
      sourceRef:
        kind: HelmRepository
        name: jetstack
  values:
    installCRDs: true
    replicaCount: {replicas}
"""


def search_deployment(stage: str, version: str, replicas: int) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: search
  labels: {{app.kubernetes.io/name: search}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app.kubernetes.io/name: search}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: search}}
    spec:
      containers:
        - name: envoy
          image: docker.io/envoyproxy/envoy:v1.31.2
        - name: search
          image: registry.acme.internal:5000/acme/search:{version}
          ports: [{{containerPort: 9200}}]
---
apiVersion: v1
kind: Service
metadata:
  name: search
spec:
  selector: {{app.kubernetes.io/name: search}}
  ports: [{{port: 80, targetPort: 9200}}]
"""


def notifications_release(stage: str, version: str, replicas: int) -> str:
    return f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: notifications
  namespace: notifications-{stage}
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/notifications
      sourceRef: {{kind: GitRepository, name: platform}}
  values:
    replicaCount: {replicas}
    image:
      repository: ghcr.io/acme/notifications
      tag: {version}
"""


@dataclass(frozen=True)
class DemoApp:
    name: str
    versions: tuple[str, ...]
    render: Callable[[str, str, int], str]  # (stage, version, replicas) -> file text
    path: str  # with {stage}
    stages: tuple[str, ...] = STAGES


def _discovered(app: str) -> Callable[[str, str, int], str]:
    return lambda stage, version, replicas: kustomization(app, stage, version, replicas)


APPS = [
    DemoApp(
        "web",
        ("1.2.0", "1.3.0", "1.3.1", "1.4.0", "1.4.2"),
        _discovered("web"),
        "{stage}/web/kustomization.yaml",
    ),
    DemoApp("api", ("2.7.0", "2.8.0", "2.8.1", "2.9.0"), _discovered("api"), "{stage}/api/kustomization.yaml"),
    DemoApp(
        "checkout",
        ("0.1.0", "0.2.0", "0.3.0"),
        _discovered("checkout"),
        "{stage}/checkout/kustomization.yaml",
        ("dev", "staging"),
    ),
    DemoApp("gateway", ("3.0.1", "3.1.0", "3.2.0"), gateway_overlay, "env/{stage}/kustomization.yaml"),
    DemoApp(
        "billing",
        ("5.11.0", "5.12.0", "5.12.3", "5.13.0"),
        billing_values,
        "apps/billing/{stage}/values.yaml",
    ),
    DemoApp(
        "cert-manager",
        ("v1.14.4", "v1.14.5", "v1.15.3"),
        cert_manager_release,
        "apps/{stage}/cert-manager-values.yaml",
    ),
    DemoApp("search", ("8.12.0", "8.13.1", "8.14.0"), search_deployment, "apps/search/{stage}/deployment.yaml"),
    DemoApp(
        "notifications",
        ("1.0.4", "1.1.0", "1.2.0", "1.2.1"),
        notifications_release,
        "apps/{stage}/notifications.yaml",
    ),
]
# Shipped with checkout 0.4.0 in dev, over-indented on its last line: kustomize cannot parse it.
BROKEN_FLAGS = """# Feature flags for checkout in dev
apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout-feature-flags
data:
  express-checkout: "true"
  gift-cards: "false"
    saved-carts: "true"
"""
BASE = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  labels: {{app.kubernetes.io/name: {app}}}\n"


def demo_build(*, data_dir: Path, reset: bool = False, now: datetime | None = None, receivers_port: int = 8002,
               environ: Mapping[str, str] | None = None) -> Path:  # fmt: skip
    """Create the demo repository, its catalogue and its receivers' settings (`receivers.env`)
    under `data_dir/demo` (idempotent).

    Returns the catalogue path. An existing repository is kept as it is unless `reset`.
    """
    root = data_dir / "demo"
    if reset and root.exists():
        shutil.rmtree(root)
    builder = RepoBuilder(root / "platform.git")
    if builder.head() is None:
        when = now or datetime.now(UTC)
        _recent(builder, when, _history(builder, when))
    config = root / "gitops-portal.yaml"
    repository = repository_block(os.environ if environ is None else environ, builder.url)  # DEMO_GIT_HOST
    config.write_text(CATALOGUE.format(repository=repository))
    receivers_env_write(root / RECEIVERS_ENV, port=receivers_port)
    return config


RECEIVERS_ENV = "receivers.env"


def receivers_env_write(path: Path, *, port: int) -> Path:
    """The demo operators' webhook endpoints, served by `manage.py demo_clusters` (staging's Flux
    Receiver on `port`, production's Argo CD webhook on `port + 1`) with secrets made for this demo;
    `make run` loads the file into every process. Kept when it exists, like the repository."""
    if not path.exists():
        flux_secret, argo_secret = secrets.token_hex(16), secrets.token_hex(16)
        flux_path = ReceiverStandIn(flux_secret=flux_secret).flux_path
        path.write_text(
            "# Written by `manage.py demo`: the demo operators' webhooks (served by `manage.py demo_clusters`).\n"
            f"DEMO_STAGING_RECEIVER_URL=http://127.0.0.1:{port}{flux_path}\n"
            f"DEMO_STAGING_RECEIVER_SECRET={flux_secret}\n"
            f"DEMO_PRODUCTION_WEBHOOK_URL=http://127.0.0.1:{port + 1}/api/webhook\n"
            f"DEMO_PRODUCTION_WEBHOOK_SECRET={argo_secret}\n"
        )
    return path


def receivers_env_read(path: Path) -> dict[str, str]:
    """The variables `receivers_env_write` wrote (KEY=value lines; comments skipped)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _history(builder: RepoBuilder, now: datetime) -> dict[tuple[str, str], tuple[str, int]]:
    rng = random.Random(20261124)
    start = now - timedelta(days=70)
    state = {(app.name, stage): (app.versions[0], 2) for app in APPS for stage in app.stages}
    first = {f"base/{app.name}/deployment.yaml": BASE.format(app=app.name) for app in APPS}
    first |= {_path(app, stage): _render(app, stage, *state[app.name, stage]) for app in APPS for stage in app.stages}
    builder.commit(first, "Bootstrap the platform repository", author=AUTHORS[1], date=start)
    for when, app, stage, version, message, author in sorted(_events(rng, start, now), key=lambda e: e[0]):
        current, replicas = state[app.name, stage]
        state[app.name, stage] = (version, replicas) if version else (current, replicas + 1)
        files = {_path(app, stage): _render(app, stage, *state[app.name, stage])}
        builder.commit(files, message, author=author, date=when)
    return state


def _recent(builder: RepoBuilder, now: datetime, state: dict[tuple[str, str], tuple[str, int]]) -> None:
    """The newest commits: checkout 0.4.0 to dev with a broken feature-flags file (dev's Flux fails
    to build it), then web 1.5.0 to dev minutes ago (dev's Flux has not polled since, at first)."""
    replicas = state["checkout", "dev"][1]
    broken = {
        "dev/checkout/kustomization.yaml": kustomization("checkout", "dev", "0.4.0", replicas, ("feature-flags.yaml",)),
        "dev/checkout/feature-flags.yaml": BROKEN_FLAGS,
    }
    builder.commit(broken, "Release checkout 0.4.0 to dev", author=AUTHORS[4], date=now - timedelta(minutes=25))
    web = kustomization("web", "dev", "1.5.0", state["web", "dev"][1])
    builder.commit({"dev/web/kustomization.yaml": web}, "Release web 1.5.0 to dev", author=AUTHORS[4],
                   date=now - timedelta(minutes=4))  # fmt: skip


def _path(app: DemoApp, stage: str) -> str:
    return app.path.format(stage=stage)


def _render(app: DemoApp, stage: str, version: str, replicas: int) -> str:
    return app.render(stage, version, replicas)


def _events(rng: random.Random, start: datetime, now: datetime) -> list[tuple]:
    """Releases flowing dev -> staging -> production, plus scaling changes that are not releases."""
    events: list[tuple] = []
    for app in APPS:
        step = (now - start) / (len(app.versions) + 0.5)
        for n, version in enumerate(app.versions[1:], start=1):
            newest = n == len(app.versions) - 1
            released = now - timedelta(days=rng.uniform(0.3, 6)) if newest else start + step * n
            # The newest release has not gone everywhere yet: the backlog the dashboard shows.
            reach = rng.choice((1, 2, 2, 3)) if newest else len(app.stages)
            delay = timedelta()
            for stage in app.stages[:reach]:
                when = released + delay
                if when > now - timedelta(minutes=30):
                    break
                verb, author = ("Release", AUTHORS[4]) if stage == "dev" else ("Promote", rng.choice(AUTHORS[:4]))
                events.append((when, app, stage, version, f"{verb} {app.name} {version} to {stage}", author))
                delay += timedelta(days=rng.uniform(0.5, 4))
        stage = rng.choice(app.stages)
        when = start + (now - start) * rng.uniform(0.2, 0.95)
        events.append((when, app, stage, None, f"Scale {app.name} up in {stage}", rng.choice(AUTHORS[:4])))
    return events
