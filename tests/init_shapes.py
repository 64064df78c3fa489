"""GitOps repositories in the shapes teams lay them out, with what `catalogue init` must infer from
each: the stages in order with their upstreams, and the version every (application, stage) cell
shows. Used by `tests/test_catalogue_init.py`; the YAML carries the noise real files have
(sidecars, generators, patches that change something else than the image)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    """A repository (`files`, committed in one commit) and what the inferred catalogue must say."""

    id: str  # pytest id
    files: dict[str, str]  # path -> file text
    stages: list[str]  # stage names in the order init must list them
    upstream: dict[str, list[str]]  # every stage -> its upstream stages ([] for the first)
    cells: dict[tuple[str, str], str]  # (application, stage) -> version the matrix must show
    # (app, stage) -> the file the version is read from, where it matters (layered, inherited)
    paths: dict[tuple[str, str], str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # app -> a path its comment must name
    unresolved: list[str] = field(default_factory=list)  # in the closing "not inferred" section
    absent: list[tuple[str, str]] = field(default_factory=list)  # (app, stage) pairs that are no cell


def dedent(text: str) -> str:
    return textwrap.dedent(text)


def cells_of(versions: dict[str, dict[str, str]]) -> dict[tuple[str, str], str]:
    """{(app, stage): tag} from {app: {stage: tag}}."""
    return {(app, stage): tag for app, tags in versions.items() for stage, tag in tags.items()}


def chain(*stages: str) -> dict[str, list[str]]:
    """Upstreams of stages promoted one after the other."""
    return {stage: list(stages[i - 1 : i]) for i, stage in enumerate(stages)}


# -- Kubernetes manifests --------------------------------------------------------------------

ENVOY = """\
- name: envoy
  image: envoyproxy/envoy:v1.30.2
  args: ["-c", "/etc/envoy/envoy.yaml", "--log-level", "warn"]
  ports:
    - name: admin
      containerPort: 9901
  volumeMounts:
    - name: envoy-config
      mountPath: /etc/envoy
"""
OAUTH2_PROXY = """\
- name: oauth2-proxy
  image: quay.io/oauth2-proxy/oauth2-proxy:v7.6.0
  args:
    - --provider=oidc
    - --upstream=http://127.0.0.1:8080
    - --http-address=0.0.0.0:4180
  envFrom:
    - secretRef:
        name: oauth2-proxy
"""
CLOUD_SQL_PROXY = """\
- name: cloud-sql-proxy
  image: gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11.4
  args: ["--structured-logs", "--port=5432", "acme-prod:europe-west1:notifications"]
  securityContext:
    runAsNonRoot: true
"""
STATSD_EXPORTER = """\
- name: statsd-exporter
  image: prom/statsd-exporter:v0.26.1
  ports:
    - name: metrics
      containerPort: 9102
"""


def container(name: str, image: str, port: int = 8080) -> str:
    return dedent(f"""\
        - name: {name}
          image: {image}
          ports:
            - name: http
              containerPort: {port}
          envFrom:
            - configMapRef:
                name: {name}-config
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{memory: 256Mi}}
        """)


def deployment(app: str, image: str, *, sidecar: str = "", first: bool = False, replicas: int = 2) -> str:
    """A Deployment running `image` in the container named `app`, with a `sidecar` after it (before
    it when `first`)."""
    containers = [container(app, image)]
    if sidecar:
        containers.insert(0 if first else 1, sidecar)
    head = dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {app}
          labels:
            app.kubernetes.io/name: {app}
            app.kubernetes.io/component: server
        spec:
          replicas: {replicas}
          revisionHistoryLimit: 5
          selector:
            matchLabels:
              app.kubernetes.io/name: {app}
          template:
            metadata:
              labels:
                app.kubernetes.io/name: {app}
              annotations:
                prometheus.io/scrape: "true"
                prometheus.io/port: "8080"
            spec:
              serviceAccountName: {app}
              securityContext:
                runAsNonRoot: true
                seccompProfile: {{type: RuntimeDefault}}
              containers:
        """)
    return head + textwrap.indent("".join(containers), " " * 8)


def service(app: str) -> str:
    return dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata:
          name: {app}
          labels:
            app.kubernetes.io/name: {app}
        spec:
          type: ClusterIP
          selector:
            app.kubernetes.io/name: {app}
          ports:
            - name: http
              port: 80
              targetPort: http
        """)


def hpa(app: str) -> str:
    return dedent(f"""\
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata:
          name: {app}
        spec:
          scaleTargetRef:
            apiVersion: apps/v1
            kind: Deployment
            name: {app}
          minReplicas: 2
          maxReplicas: 10
          metrics:
            - type: Resource
              resource:
                name: cpu
                target: {{type: Utilization, averageUtilization: 70}}
        """)


# -- kustomize -------------------------------------------------------------------------------


def kustomization(*resources: str, images: dict[str, str] | None = None, namespace: str = "", extra: str = "") -> str:
    """A kustomization.yaml over `resources`, setting `images` ({image: newTag}), then `extra` YAML."""
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization"]
    lines += [f"namespace: {namespace}"] if namespace else []
    lines += ["resources:", *(f"  - {r}" for r in resources)]
    if images:
        lines += ["images:"]
        lines += [f"  - name: {name}\n    newTag: {tag}" for name, tag in images.items()]
    return "\n".join(lines) + "\n" + dedent(extra)


def generator(app: str) -> str:
    return f"""\
configMapGenerator:
  - name: {app}-config
    literals:
      - LOG_FORMAT=json
      - OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector.observability:4317
"""


def replicas(app: str, count: int) -> str:
    return f"replicas:\n  - name: {app}\n    count: {count}\n"


def log_level(app: str, level: str) -> str:
    return (
        f"configMapGenerator:\n  - name: {app}-config\n    behavior: merge\n    literals:\n      - LOG_LEVEL={level}\n"
    )


def min_replicas(app: str, count: int) -> str:
    """A JSON6902 patch of the HorizontalPodAutoscaler, inline."""
    return dedent(f"""\
        patches:
          - target:
              kind: HorizontalPodAutoscaler
              name: {app}
            patch: |-
              - op: replace
                path: /spec/minReplicas
                value: {count}
        """)


def kustomize_base(
    folder: str, app: str, image: str, *, sidecar: str = "", first: bool = False, images: dict[str, str] | None = None
) -> dict[str, str]:
    """A base: the Deployment (running `image`), a Service, a ConfigMap generator, and `images`."""
    return {
        f"{folder}/deployment.yaml": deployment(app, image, sidecar=sidecar, first=first),
        f"{folder}/service.yaml": service(app),
        f"{folder}/kustomization.yaml": kustomization(
            "deployment.yaml", "service.yaml", images=images, extra=generator(app)
        ),
    }


# -- Helm ------------------------------------------------------------------------------------

CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "APP.fullname" . }}
  labels:
    {{- include "APP.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "APP.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "APP.selectorLabels" . | nindent 8 }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ TAG | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
"""
CHART_HELPERS = """\
{{- define "APP.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "APP.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "APP.labels" -}}
{{ include "APP.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
"""


def chart(folder: str, app: str, *, tag: str, version: str, app_version: str) -> dict[str, str]:
    """A chart's Chart.yaml and templates; `tag` is the values expression the image tag comes from."""
    chart_yaml = dedent(f"""\
        apiVersion: v2
        name: {app}
        description: The {app} service
        type: application
        version: {version}
        appVersion: "{app_version}"
        maintainers:
          - name: platform-team
            email: platform@acme.example
        """)
    return {
        f"{folder}/Chart.yaml": chart_yaml,
        f"{folder}/.helmignore": ".git/\n*.swp\n*.bak\n",
        f"{folder}/templates/_helpers.tpl": CHART_HELPERS.replace("APP", app),
        f"{folder}/templates/deployment.yaml": CHART_DEPLOYMENT.replace("APP", app).replace("TAG", tag),
        f"{folder}/templates/service.yaml": dedent(f"""\
            apiVersion: v1
            kind: Service
            metadata:
              name: {{{{ include "{app}.fullname" . }}}}
            spec:
              ports:
                - port: {{{{ .Values.service.port }}}}
                  targetPort: http
              selector:
                {{{{- include "{app}.selectorLabels" . | nindent 4 }}}}
            """),
    }


def image_values(app: str, tag: str, *, replicas: int = 2) -> str:
    """A chart's values.yaml with `image.tag`."""
    return dedent(f"""\
        # Default values for {app}; each environment's file overrides some of them.
        replicaCount: {replicas}
        image:
          repository: ghcr.io/acme/{app}
          pullPolicy: IfNotPresent
          tag: "{tag}"
        service:
          port: 8080
        autoscaling:
          enabled: false
        resources:
          requests: {{cpu: 100m, memory: 192Mi}}
          limits: {{memory: 384Mi}}
        metrics:
          exporter:
            image:
              repository: quay.io/prometheus/statsd-exporter
              tag: v0.26.1
        """)


# -- Argo CD ---------------------------------------------------------------------------------

GITOPS_URL = "https://github.com/acme/platform-gitops.git"


def application(name: str, *, project: str, source: str, namespace: str, cluster: str) -> str:
    """An Argo CD Application; `source` is the YAML of its `source:` (or `sources:`) key."""
    head = dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata:
          name: {name}
          namespace: argocd
          finalizers:
            - resources-finalizer.argocd.argoproj.io
        spec:
          project: {project}
        """)
    tail = dedent(f"""\
        destination:
          name: {cluster}
          namespace: {namespace}
        syncPolicy:
          automated:
            prune: true
            selfHeal: true
          syncOptions:
            - CreateNamespace=true
            - ServerSideApply=true
        """)
    return head + textwrap.indent(dedent(source) + tail, "  ")


# == 1. kustomize overlays per application ====================================================


def overlays_per_app() -> Shape:
    """apps/<app>/base + apps/<app>/overlays/<env>; inventory's production overlay inherits the base
    kustomization's tag, notifications' dev overlay the base manifest's; notifications is not in
    production yet."""
    files = {
        "README.md": "# shop\n\nEach service: `apps/<service>/base` and one overlay per environment.\n",
        **kustomize_base("apps/checkout/base", "checkout", "ghcr.io/acme/checkout:2.0.0", sidecar=ENVOY, first=True),
        "apps/checkout/base/hpa.yaml": hpa("checkout"),
        **kustomize_base(
            "apps/inventory/base", "inventory", "ghcr.io/acme/inventory", images={"ghcr.io/acme/inventory": "3.1.0"}
        ),
        **kustomize_base(
            "apps/notifications/base", "notifications", "ghcr.io/acme/notifications:0.9.0", sidecar=CLOUD_SQL_PROXY
        ),
    }
    files["apps/checkout/base/kustomization.yaml"] = kustomization(
        "deployment.yaml", "service.yaml", "hpa.yaml", extra=generator("checkout")
    )
    for env, tag, envoy in (
        ("dev", "2.4.0", "v1.31.0"),
        ("staging", "2.3.1", "v1.30.2"),
        ("production", "2.3.0", "v1.30.2"),
    ):
        extra = replicas("checkout", 1) if env == "dev" else min_replicas("checkout", 4 if env == "production" else 2)
        files[f"apps/checkout/overlays/{env}/kustomization.yaml"] = kustomization(
            "../../base",
            namespace=f"shop-{env}",
            images={"envoyproxy/envoy": envoy, "ghcr.io/acme/checkout": tag},
            extra=extra,
        )
    for env, tag in (("dev", "3.2.0"), ("staging", "3.1.2")):
        files[f"apps/inventory/overlays/{env}/kustomization.yaml"] = kustomization(
            "../../base",
            namespace=f"shop-{env}",
            images={"ghcr.io/acme/inventory": tag},
            extra=log_level("inventory", "debug"),
        )
    files["apps/inventory/overlays/production/kustomization.yaml"] = kustomization(
        "../../base", namespace="shop-production", extra=replicas("inventory", 3) + log_level("inventory", "warn")
    )
    files["apps/notifications/overlays/dev/kustomization.yaml"] = (
        "# dev runs whatever the base says: CI bumps the tag there on every merge\n"
        + kustomization("../../base", namespace="shop-dev", extra=log_level("notifications", "debug"))
    )
    files["apps/notifications/overlays/staging/kustomization.yaml"] = kustomization(
        "../../base", namespace="shop-staging", images={"ghcr.io/acme/notifications": "0.8.2"}
    )
    return Shape(
        id="kustomize-overlays-per-app",
        files=files,
        stages=["dev", "staging", "production"],
        upstream=chain("dev", "staging", "production"),
        cells=cells_of(
            {
                "checkout": {"dev": "2.4.0", "staging": "2.3.1", "production": "2.3.0"},
                "inventory": {"dev": "3.2.0", "staging": "3.1.2", "production": "3.1.0"},
                "notifications": {"dev": "0.9.0", "staging": "0.8.2"},
            }
        ),
        paths={
            ("checkout", "staging"): "apps/checkout/overlays/staging/kustomization.yaml",
            ("inventory", "production"): "apps/inventory/base/kustomization.yaml",
            ("notifications", "dev"): "apps/notifications/base/deployment.yaml",
        },
        sources={"checkout": "apps/checkout", "notifications": "apps/notifications"},
        absent=[("notifications", "production")],
    )


# == 2. global stage folders: <env>/<app>/ ====================================================


def api_manifests(tag: str) -> str:
    """The api in one file: its ConfigMap, Service and Deployment (migrations as an init container,
    an OpenTelemetry collector beside it)."""
    return dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: api-config
        data:
          DATABASE_POOL_SIZE: "20"
          FEATURE_FLAGS: "new-pricing,bulk-export"
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: api
        spec:
          selector: {{app.kubernetes.io/name: api}}
          ports:
            - {{name: http, port: 80, targetPort: 8080}}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api
        spec:
          replicas: 3
          selector:
            matchLabels: {{app.kubernetes.io/name: api}}
          template:
            metadata:
              labels: {{app.kubernetes.io/name: api}}
            spec:
              initContainers:
                - name: migrate
                  image: ghcr.io/acme/api-migrations:{tag}
                  args: ["upgrade", "head"]
              containers:
                - name: otel-collector
                  image: otel/opentelemetry-collector-contrib:0.98.0
                  args: ["--config=/conf/collector.yaml"]
                - name: api
                  image: ghcr.io/acme/api:{tag}
                  envFrom:
                    - configMapRef: {{name: api-config}}
                  ports:
                    - {{name: http, containerPort: 8080}}
        """)


def ingress(app: str, host: str) -> str:
    return dedent(f"""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: {app}
          annotations:
            cert-manager.io/cluster-issuer: letsencrypt
        spec:
          ingressClassName: nginx
          tls:
            - hosts: [{host}]
              secretName: {app}-tls
          rules:
            - host: {host}
              http:
                paths:
                  - path: /
                    pathType: Prefix
                    backend:
                      service: {{name: {app}, port: {{name: http}}}}
        """)


CI_WORKFLOW = """\
name: validate
on: [pull_request]
jobs:
  kubeconform:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: kubeconform -strict -summary development qa production
"""


def stage_folders_plain() -> Shape:
    """<env>/<app>/ folders of plain manifests, as an Argo CD directory app applies them; web's
    sidecar comes first; api's Deployment shares a file with its Service and ConfigMap; the worker
    skips qa."""
    files = {
        "README.md": "Plain manifests, one folder per environment.\n",
        ".github/workflows/validate.yaml": CI_WORKFLOW,
    }
    versions = {
        "development": {"web": "1.12.0", "api": "0.31.0", "worker": "3.0.0-rc.2"},
        "qa": {"web": "1.11.0", "api": "0.30.2"},
        "production": {"web": "1.10.4", "api": "0.30.1", "worker": "2.9.3"},
    }
    for env, tags in versions.items():
        host = "shop.acme.example" if env == "production" else f"{env}.shop.acme.example"
        files[f"{env}/web/deployment.yaml"] = deployment(
            "web", f"ghcr.io/acme/web:{tags['web']}", sidecar=OAUTH2_PROXY, first=True
        )
        files[f"{env}/web/service.yaml"] = service("web")
        files[f"{env}/web/ingress.yaml"] = ingress("web", host)
        files[f"{env}/api/api.yaml"] = api_manifests(tags["api"])
        if "worker" in tags:
            files[f"{env}/worker/deployment.yaml"] = deployment(
                "worker", f"ghcr.io/acme/worker:{tags['worker']}", replicas=1
            )
    return Shape(
        id="stage-folders-plain-manifests",
        files=files,
        stages=["development", "qa", "production"],
        upstream=chain("development", "qa", "production"),
        cells={(app, env): tag for env, tags in versions.items() for app, tag in tags.items()},
        paths={("api", "qa"): "qa/api/api.yaml", ("web", "production"): "production/web/deployment.yaml"},
        absent=[("worker", "qa")],
    )


LOG_SHIPPER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: any
spec:
  template:
    spec:
      containers:
        - name: fluent-bit
          image: cr.fluentbit.io/fluent/fluent-bit:3.0.7
          volumeMounts:
            - {name: varlog, mountPath: /var/log/app}
      volumes:
        - {name: varlog, emptyDir: {}}
"""


def stage_folders_kustomize() -> Shape:
    """<env>/<app>/kustomization.yaml over base/<app>, with a shared component; int and qa are both
    test environments (so prod takes from either); invoices' int overlay inherits the base tag;
    search is only in dev."""
    files = {
        "components/log-shipper/kustomization.yaml": dedent("""\
            apiVersion: kustomize.config.k8s.io/v1alpha1
            kind: Component
            patches:
              - path: fluent-bit.yaml
                target:
                  kind: Deployment
            """),
        "components/log-shipper/fluent-bit.yaml": LOG_SHIPPER,
    }
    bases = {"orders": "5.0.0", "invoices": "1.6.0", "search": "0.1.0"}
    for app, tag in bases.items():
        files |= kustomize_base(f"base/{app}", app, f"ghcr.io/acme/{app}:{tag}")
    versions: dict[str, dict[str, str | None]] = {  # None: the overlay sets no tag
        "dev": {"orders": "5.3.0", "invoices": "1.8.0", "search": "0.1.0"},
        "int": {"orders": "5.2.0", "invoices": None},
        "qa": {"orders": "5.1.1", "invoices": "1.7.2"},
        "prod": {"orders": "5.1.0", "invoices": "1.7.0"},
    }
    for env, tags in versions.items():
        for app, pinned in tags.items():
            images = {f"ghcr.io/acme/{app}": pinned} if pinned else None
            extra = "components:\n  - ../../components/log-shipper\n" + (replicas(app, 3) if env == "prod" else "")
            files[f"{env}/{app}/kustomization.yaml"] = kustomization(
                f"../../base/{app}", namespace=app, images=images, extra=extra
            )
    return Shape(
        id="stage-folders-kustomize",
        files=files,
        stages=["dev", "int", "qa", "prod"],
        upstream={"dev": [], "int": ["dev"], "qa": ["dev"], "prod": ["int", "qa"]},
        cells={(app, env): tag or bases[app] for env, tags in versions.items() for app, tag in tags.items()},
        paths={("invoices", "int"): "base/invoices/deployment.yaml", ("orders", "qa"): "qa/orders/kustomization.yaml"},
        absent=[("search", "int"), ("search", "qa"), ("search", "prod")],
    )


# == 3. one application: base/ and a folder per stage =========================================

KARGO = """\
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: guestbook
  namespace: guestbook
spec:
  subscriptions:
    - image:
        repoURL: ghcr.io/acme/guestbook
        semverConstraint: ^0.0.0
        discoveryLimit: 5
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: uat
  namespace: guestbook
spec:
  requestedFreight:
    - origin: {kind: Warehouse, name: guestbook}
      sources:
        stages: [test]
  promotionTemplate:
    spec:
      steps:
        - uses: git-clone
          config:
            repoURL: https://github.com/acme/guestbook-gitops.git
            checkout:
              - {branch: main, path: ./src}
        - uses: kustomize-set-image
          config:
            path: ./src/env/uat
            images:
              - image: ghcr.io/acme/guestbook
"""


def kargo_single_app() -> Shape:
    """base/ and env/<stage>/ for one application (its Deployment's name), as Kargo promotes it."""
    files = kustomize_base("base", "guestbook", "ghcr.io/acme/guestbook:0.0.1")
    files["kargo/pipeline.yaml"] = KARGO
    for env, tag in (("test", "0.0.4"), ("uat", "0.0.3"), ("prod", "0.0.2")):
        files[f"env/{env}/kustomization.yaml"] = kustomization(
            "../../base",
            namespace=f"guestbook-{env}",
            images={"ghcr.io/acme/guestbook": tag},
            extra=replicas("guestbook", 3) if env == "prod" else "",
        )
    return Shape(
        id="kargo-single-app",
        files=files,
        stages=["test", "uat", "prod"],
        upstream=chain("test", "uat", "prod"),
        cells={("guestbook", "test"): "0.0.4", ("guestbook", "uat"): "0.0.3", ("guestbook", "prod"): "0.0.2"},
        paths={("guestbook", "uat"): "env/uat/kustomization.yaml"},
    )


def invoicing_patch(tag: str | None, count: int) -> str:
    """A strategic-merge patch of the Deployment: replicas, resources and (when `tag`) the image."""
    image = f"  image: ghcr.io/acme/invoicing:{tag}\n" if tag else ""
    container = f"- name: invoicing\n{image}  resources:\n    limits: {{memory: 1Gi}}\n"
    head = dedent(f"""\
        # merged over base/deployment.yaml
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: invoicing
        spec:
          replicas: {count}
          template:
            spec:
              containers:
        """)
    return head + textwrap.indent(container, "      ")


def envs_strategic_merge() -> Shape:
    """base/ and envs/<env>/ for one application, each env patching the Deployment; production's
    patch scales it without naming an image, so production runs the base's tag."""
    files = kustomize_base("base", "invoicing", "ghcr.io/acme/invoicing:5.0.3", sidecar=STATSD_EXPORTER)
    files["base/pdb.yaml"] = dedent("""\
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata:
          name: invoicing
        spec:
          minAvailable: 1
          selector:
            matchLabels: {app.kubernetes.io/name: invoicing}
        """)
    files["base/kustomization.yaml"] = kustomization(
        "deployment.yaml", "service.yaml", "pdb.yaml", extra=generator("invoicing")
    )
    patches = {
        "qa": "patchesStrategicMerge:\n- deployment-patch.yaml\n",
        "staging": "patches:\n- path: deployment-patch.yaml\n",
    }
    for env, tag, count in (("qa", "5.2.0", 1), ("staging", "5.1.0", 2), ("production", None, 4)):
        files[f"envs/{env}/kustomization.yaml"] = kustomization(
            "../../base", namespace="invoicing", extra=patches.get(env, patches["staging"])
        )
        files[f"envs/{env}/deployment-patch.yaml"] = invoicing_patch(tag, count)
    return Shape(
        id="envs-strategic-merge",
        files=files,
        stages=["qa", "staging", "production"],
        upstream=chain("qa", "staging", "production"),
        cells={("invoicing", "qa"): "5.2.0", ("invoicing", "staging"): "5.1.0", ("invoicing", "production"): "5.0.3"},
        paths={
            ("invoicing", "qa"): "envs/qa/deployment-patch.yaml",
            ("invoicing", "production"): "base/deployment.yaml",
        },
    )


# == 4. a Helm chart per application, values per environment ==================================


def helm_values_per_env() -> Shape:
    """charts/<app>/ with values-<env>.yaml (image.tag; dev's file sets no tag, so dev runs
    values.yaml's), <env>-values.yaml (imageVersion) and values/<env>.yaml (tag; no prod yet)."""
    files = {
        **chart("charts/storefront", "storefront", tag=".Values.image.tag", version="0.4.2", app_version="2.6.0"),
        "charts/storefront/values.yaml": image_values("storefront", "2.8.0"),
        "charts/storefront/values-dev.yaml": "replicaCount: 1\ningress:\n  host: dev.shop.acme.example\ndebug: true\n",
        "charts/storefront/values-staging.yaml": 'image:\n  tag: "2.7.1"\ningress:\n  host: staging.shop.acme.example\n',
        "charts/storefront/values-prod.yaml": dedent("""\
            replicaCount: 6
            image:
              tag: "2.7.0"
            ingress:
              host: shop.acme.example
            autoscaling:
              enabled: true
              minReplicas: 6
            """),
        **chart("charts/pricing", "pricing", tag=".Values.imageVersion", version="1.1.0", app_version="1.3.0"),
        "charts/pricing/values.yaml": dedent("""\
            replicaCount: 2
            image:
              repository: ghcr.io/acme/pricing
              pullPolicy: IfNotPresent
            imageVersion: 1.4.0
            service:
              port: 8080
            autoscaling:
              enabled: false
            """),
        **chart("charts/recommender", "recommender", tag=".Values.tag", version="0.2.0", app_version="0.8.0"),
        "charts/recommender/values.yaml": dedent("""\
            image:
              repository: ghcr.io/acme/recommender
              pullPolicy: Always
            tag: 0.9.0
            model:
              bucket: gs://acme-models/recommender
            service:
              port: 8080
            autoscaling:
              enabled: false
            """),
    }
    for env, tag in (("dev", "1.6.0"), ("staging", "1.5.0"), ("prod", "1.4.2")):
        files[f"charts/pricing/{env}-values.yaml"] = (
            f"imageVersion: {tag}\nfeatureFlags:\n  dynamicDiscounts: {str(env == 'dev').lower()}\n"
        )
    for env, tag in (("dev", "0.12.0"), ("staging", "0.11.0")):
        files[f"charts/recommender/values/{env}.yaml"] = f"tag: {tag}\nmodel:\n  version: {env}-latest\n"
    return Shape(
        id="helm-values-per-env",
        files=files,
        stages=["dev", "staging", "prod"],
        upstream=chain("dev", "staging", "prod"),
        cells=cells_of(
            {
                "storefront": {"dev": "2.8.0", "staging": "2.7.1", "prod": "2.7.0"},
                "pricing": {"dev": "1.6.0", "staging": "1.5.0", "prod": "1.4.2"},
                "recommender": {"dev": "0.12.0", "staging": "0.11.0"},
            }
        ),
        paths={
            ("storefront", "dev"): "charts/storefront/values.yaml",
            ("storefront", "prod"): "charts/storefront/values-prod.yaml",
            ("pricing", "staging"): "charts/pricing/staging-values.yaml",
            ("recommender", "dev"): "charts/recommender/values/dev.yaml",
        },
        sources={"storefront": "charts/storefront", "pricing": "charts/pricing", "recommender": "charts/recommender"},
        absent=[("recommender", "prod")],
    )


# == 5. Argo CD: an Application per application and environment ===============================


def ledger_source(env: str) -> str:
    return dedent(f"""\
        source:
          repoURL: {GITOPS_URL}
          targetRevision: main
          path: charts/ledger
          helm:
            releaseName: ledger
            valueFiles:
              - values.yaml
              - values-{env}.yaml
        """)


def accounts_sources(env: str) -> str:
    """Multi-source: the shared service chart from the Helm repository, values from this one."""
    return dedent(f"""\
        sources:
          - repoURL: https://charts.acme.example/stable
            chart: acme-service
            targetRevision: 2.7.0
            helm:
              releaseName: accounts
              valueFiles:
                - $values/services/accounts/values.yaml
                - $values/environments/{env}/accounts.yaml
          - repoURL: {GITOPS_URL}
            targetRevision: main
            ref: values
        """)


def argocd_applications() -> Shape:
    """argocd/<app>-<env>.yaml: ledger's chart in this repository with layered valueFiles (staging
    sets no tag), accounts' shared remote chart with `$values` files (not in dev); an app of apps;
    grafana comes from another repository, which init cannot read."""
    files = {
        "argocd/root.yaml": application(
            "root",
            project="default",
            namespace="argocd",
            cluster="in-cluster",
            source=f"source:\n  repoURL: {GITOPS_URL}\n  targetRevision: main\n  path: argocd\n"
            "  directory:\n    exclude: root.yaml\n",
        ),
        "argocd/grafana-prod.yaml": application(
            "grafana-prod",
            project="observability",
            namespace="grafana",
            cluster="prod",
            source="source:\n  repoURL: https://github.com/acme/observability.git\n  targetRevision: main\n"
            "  path: grafana/overlays/prod\n",
        ),
        **chart("charts/ledger", "ledger", tag=".Values.image.tag", version="3.0.0", app_version="3.0.0"),
        "charts/ledger/values.yaml": image_values("ledger", "3.0.0"),
        "charts/ledger/values-dev.yaml": 'image:\n  tag: "3.2.0"\nreplicaCount: 1\n',
        "charts/ledger/values-staging.yaml": "# staging follows the chart's default tag\nreplicaCount: 2\n",
        "charts/ledger/values-prod.yaml": 'image:\n  tag: "3.0.1"\nreplicaCount: 4\n',
        "services/accounts/values.yaml": image_values("accounts", "8.4.0"),
        "environments/staging/accounts.yaml": "image:\n  tag: 8.5.0\ningress:\n  host: accounts.staging.acme.example\n",
        "environments/prod/accounts.yaml": "image:\n  tag: 8.4.1\ningress:\n  host: accounts.acme.example\nreplicaCount: 3\n",
    }
    for env in ("dev", "staging", "prod"):
        files[f"argocd/ledger-{env}.yaml"] = application(
            f"ledger-{env}", project="finance", source=ledger_source(env), namespace="ledger", cluster=env
        )
    for env in ("staging", "prod"):
        files[f"argocd/accounts-{env}.yaml"] = application(
            f"accounts-{env}", project="finance", source=accounts_sources(env), namespace="accounts", cluster=env
        )
    return Shape(
        id="argocd-application-per-env",
        files=files,
        stages=["dev", "staging", "prod"],
        upstream=chain("dev", "staging", "prod"),
        cells=cells_of(
            {
                "ledger": {"dev": "3.2.0", "staging": "3.0.0", "prod": "3.0.1"},
                "accounts": {"staging": "8.5.0", "prod": "8.4.1"},
            }
        ),
        paths={
            ("ledger", "staging"): "charts/ledger/values.yaml",
            ("ledger", "prod"): "charts/ledger/values-prod.yaml",
            ("accounts", "prod"): "environments/prod/accounts.yaml",
        },
        unresolved=["argocd/grafana-prod.yaml"],
        absent=[("accounts", "dev")],
    )


# == 6. Argo CD ApplicationSets ===============================================================

SHOP_APPSET = f"""\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shop
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - matrix:
        generators:
          - git:
              repoURL: {GITOPS_URL}
              revision: HEAD
              directories:
                - path: apps/*
          # the order releases go through; the US region takes them before the EU one
          - list:
              elements:
                - {{env: dev, cluster: dev-eks}}
                - {{env: staging, cluster: staging-eks}}
                - {{env: prod-us, cluster: prod-us-east-1}}
                - {{env: prod-eu, cluster: prod-eu-west-1}}
  template:
    metadata:
      name: '{{{{.path.basename}}}}-{{{{.env}}}}'
      labels:
        env: '{{{{.env}}}}'
    spec:
      project: shop
      source:
        repoURL: {GITOPS_URL}
        targetRevision: HEAD
        path: '{{{{.path.path}}}}/envs/{{{{.env}}}}'
      destination:
        name: '{{{{.cluster}}}}'
        namespace: '{{{{.path.basename}}}}'
      syncPolicy:
        automated: {{prune: true, selfHeal: true}}
"""


def appset_matrix_list() -> Shape:
    """An ApplicationSet whose matrix crosses a git directory generator (apps/*) with a list of
    environments: the list's order is the stages' (prod-us before prod-eu), both prods after staging."""
    files = {"argocd/shop.yaml": SHOP_APPSET}
    versions = {
        "cart": {"dev": "1.9.0", "staging": "1.8.0", "prod-us": "1.7.3", "prod-eu": "1.7.2"},
        "profile": {"dev": "4.0.0-beta.3", "staging": "3.9.1", "prod-us": "3.9.0", "prod-eu": "3.8.5"},
        "gateway": {"dev": "0.22.0", "staging": "0.21.4", "prod-us": "0.21.1", "prod-eu": "0.21.0"},
    }
    for app, tags in versions.items():
        files |= kustomize_base(f"apps/{app}/base", app, f"ghcr.io/acme/{app}:0.0.0")
        for env, tag in tags.items():
            region = f"  - REGION={env.removeprefix('prod-')}\n" if env.startswith("prod") else ""
            files[f"apps/{app}/envs/{env}/kustomization.yaml"] = kustomization(
                "../../base", images={f"ghcr.io/acme/{app}": tag}, extra=log_level(app, "info") + region
            )
    return Shape(
        id="argocd-appset-matrix-list",
        files=files,
        stages=["dev", "staging", "prod-us", "prod-eu"],
        upstream={"dev": [], "staging": ["dev"], "prod-us": ["staging"], "prod-eu": ["staging"]},
        cells=cells_of(versions),
        paths={("profile", "prod-eu"): "apps/profile/envs/prod-eu/kustomization.yaml"},
        sources={"cart": "argocd/shop.yaml"},
    )


WORKLOADS_APPSET = f"""\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: workloads
  namespace: argocd
spec:
  goTemplate: true
  generators:
    - matrix:
        generators:
          - git:
              repoURL: {GITOPS_URL}
              revision: HEAD
              files:
                - path: clusters/*/config.json
          - git:
              repoURL: {GITOPS_URL}
              revision: HEAD
              pathParamPrefix: workload
              directories:
                - path: workloads/*
  template:
    metadata:
      name: '{{{{.workload.path.basename}}}}-{{{{.env}}}}'
    spec:
      project: logistics
      source:
        repoURL: {GITOPS_URL}
        targetRevision: HEAD
        path: '{{{{.workload.path.path}}}}/overlays/{{{{.env}}}}'
      destination:
        server: '{{{{.cluster.server}}}}'
        namespace: '{{{{.workload.path.basename}}}}'
"""


def appset_git_files() -> Shape:
    """An ApplicationSet over clusters/*/config.json (each naming its env) and workloads/*."""
    files = {"argocd/workloads.yaml": WORKLOADS_APPSET}
    for env, server in (("dev", "dev.k8s"), ("qa", "qa.k8s"), ("production", "k8s")):
        files[f"clusters/{env}/config.json"] = (
            f'{{\n  "env": "{env}",\n  "cluster": {{\n    "name": "{env}-eu-west-1",\n'
            f'    "server": "https://{server}.acme.example"\n  }},\n  "monitoring": true\n}}\n'
        )
    versions = {
        "shipping": {"dev": "2.2.0", "qa": "2.1.0", "production": "2.0.5"},
        "tracking": {"dev": "1.1.0", "qa": "1.0.1", "production": "1.0.0"},
    }
    for app, tags in versions.items():
        files |= kustomize_base(f"workloads/{app}/base", app, f"ghcr.io/acme/{app}:0.1.0", sidecar=ENVOY)
        for env, tag in tags.items():
            files[f"workloads/{app}/overlays/{env}/kustomization.yaml"] = kustomization(
                "../../base",
                namespace=app,
                images={f"ghcr.io/acme/{app}": tag},
                extra=replicas(app, 1 if env == "dev" else 3),
            )
    return Shape(
        id="argocd-appset-git-files",
        files=files,
        stages=["dev", "qa", "production"],
        upstream=chain("dev", "qa", "production"),
        cells=cells_of(versions),
        sources={"shipping": "argocd/workloads.yaml"},
    )


# == 7. Flux: clusters/<env> → apps/<env> patching apps/base HelmReleases ======================


def flux_cluster(env: str) -> dict[str, str]:
    """clusters/<env>/: Flux's own sync, then the infrastructure and the apps Kustomizations."""
    sync = dedent(f"""\
        # This manifest was generated by flux. DO NOT EDIT.
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 1m0s
          ref:
            branch: main
          secretRef:
            name: flux-system
          url: ssh://git@github.com/acme/fleet-infra
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 10m0s
          path: ./clusters/{env}
          prune: true
          sourceRef:
            kind: GitRepository
            name: flux-system
        """)
    layers = dedent(f"""\
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: infra-configs
          namespace: flux-system
        spec:
          interval: 1h
          path: ./infrastructure/configs
          prune: true
          sourceRef:
            kind: GitRepository
            name: flux-system
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: apps
          namespace: flux-system
        spec:
          interval: 10m
          dependsOn:
            - name: infra-configs
          path: ./apps/{env}
          prune: true
          wait: true
          timeout: 5m
          sourceRef:
            kind: GitRepository
            name: flux-system
          postBuild:
            substitute:
              cluster_env: {env}
        """)
    return {
        f"clusters/{env}/flux-system/gotk-sync.yaml": sync,
        f"clusters/{env}/flux-system/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - gotk-sync.yaml\n",
        f"clusters/{env}/apps.yaml": layers,
    }


def helm_release(app: str, *, chart: str, version: str, repository: str, values: str) -> str:
    head = dedent(f"""\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: {app}
          namespace: {app}
        spec:
          interval: 10m
          releaseName: {app}
          chart:
            spec:
              chart: {chart}
              version: {version}
              sourceRef:
                kind: HelmRepository
                name: {repository}
                namespace: flux-system
              interval: 1h
          install:
            remediation:
              retries: 3
          upgrade:
            remediation:
              retries: 3
          values:
        """)
    return head + textwrap.indent(dedent(values), "    ")


def release_patch(app: str, body: str) -> str:
    """A patch of the HelmRelease `app`, from apps/<env>/."""
    head = f"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {app}\n  namespace: {app}\nspec:\n"
    return head + textwrap.indent(dedent(body), "  ")


def helm_repository(name: str, url: str) -> str:
    return dedent(f"""\
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata:
          name: {name}
          namespace: flux-system
        spec:
          type: oci
          interval: 1h
          url: {url}
        """)


def flux_base(app: str, release: str, *, repository: str = "") -> dict[str, str]:
    folder = f"apps/base/{app}"
    files = {
        f"{folder}/namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n",
        f"{folder}/release.yaml": release,
        f"{folder}/kustomization.yaml": kustomization(
            "namespace.yaml", *(["repository.yaml"] if repository else []), "release.yaml", namespace=app
        ),
    }
    return files | ({f"{folder}/repository.yaml": repository} if repository else {})


def flux_env(env: str, apps: list[str], patched: dict[str, str]) -> dict[str, str]:
    """apps/<env>/: the bases it runs, each patched by `patched` (app -> patch file's text)."""
    patches = "patches:\n" + "".join(
        f"  - path: {app}-values.yaml\n    target:\n      kind: HelmRelease\n      name: {app}\n" for app in patched
    )
    files = {f"apps/{env}/kustomization.yaml": kustomization(*(f"../base/{app}" for app in apps), extra=patches)}
    return files | {f"apps/{env}/{app}-values.yaml": release_patch(app, body) for app, body in patched.items()}


def flux_helm_releases() -> Shape:
    """Flux: clusters/<env>/ syncs apps/<env>/, which patches the HelmReleases of apps/base/<app>.
    frontend's and backend's values carry the image tag (production's backend patch only scales
    it); redis pins only its chart version (production pins an older one); dev has no redis."""
    frontend = helm_release(
        "frontend",
        chart="frontend",
        version="1.3.0",
        repository="acme-charts",
        values="""\
        replicaCount: 2
        image:
          repository: ghcr.io/acme/frontend
          tag: 4.1.0
        ingress:
          enabled: true
          className: nginx
        metrics:
          serviceMonitor:
            enabled: true
        """,
    )
    backend = helm_release(
        "backend",
        chart="backend",
        version="2.0.0",
        repository="acme-charts",
        values="""\
        image:
          repository: ghcr.io/acme/backend
          tag: 7.0.1
        database:
          existingSecret: backend-db
        """,
    )
    redis = helm_release(
        "redis",
        chart="redis",
        version="19.6.4",
        repository="bitnami",
        values="""\
        architecture: standalone
        auth:
          existingSecret: redis-auth
        master:
          persistence:
            size: 8Gi
        """,
    )
    files = {
        "infrastructure/configs/kustomization.yaml": kustomization("cluster-issuers.yaml"),
        "infrastructure/configs/cluster-issuers.yaml": dedent("""\
            apiVersion: cert-manager.io/v1
            kind: ClusterIssuer
            metadata:
              name: letsencrypt
            spec:
              acme:
                server: https://acme-v02.api.letsencrypt.org/directory
                privateKeySecretRef:
                  name: letsencrypt-account
                solvers:
                  - http01:
                      ingress:
                        ingressClassName: nginx
            """),
        **flux_base("frontend", frontend, repository=helm_repository("acme-charts", "oci://ghcr.io/acme/charts")),
        **flux_base("backend", backend),
        **flux_base("redis", redis, repository=helm_repository("bitnami", "oci://registry-1.docker.io/bitnamicharts")),
        **flux_env(
            "dev",
            ["frontend", "backend"],
            {
                "frontend": "values:\n  replicaCount: 1\n  image:\n    tag: 4.3.0\n",
                "backend": "values:\n  image:\n    tag: 7.2.0\n  logLevel: debug\n",
            },
        ),
        **flux_env(
            "staging",
            ["frontend", "backend", "redis"],
            {
                "frontend": "values:\n  image:\n    tag: 4.2.0\n",
                "backend": "values:\n  image:\n    tag: 7.1.0\n",
                "redis": "values:\n  master:\n    persistence:\n      size: 16Gi\n",
            },
        ),
        **flux_env(
            "production",
            ["frontend", "backend", "redis"],
            {
                "frontend": "values:\n  replicaCount: 4\n  image:\n    tag: 4.1.2\n",
                "backend": "# scaled only: production runs the base's tag\nvalues:\n  replicaCount: 4\n",
                "redis": "chart:\n  spec:\n    version: 19.5.5\nvalues:\n  architecture: replication\n",
            },
        ),
    }
    for env in ("dev", "staging", "production"):
        files |= flux_cluster(env)
    return Shape(
        id="flux-helmreleases",
        files=files,
        stages=["dev", "staging", "production"],
        upstream=chain("dev", "staging", "production"),
        cells=cells_of(
            {
                "frontend": {"dev": "4.3.0", "staging": "4.2.0", "production": "4.1.2"},
                "backend": {"dev": "7.2.0", "staging": "7.1.0", "production": "7.0.1"},
                "redis": {"staging": "19.6.4", "production": "19.5.5"},
            }
        ),
        paths={
            ("frontend", "staging"): "apps/staging/frontend-values.yaml",
            ("backend", "production"): "apps/base/backend/release.yaml",
            ("redis", "staging"): "apps/base/redis/release.yaml",
            ("redis", "production"): "apps/production/redis-values.yaml",
        },
        sources={"frontend": "apps/base/frontend", "redis": "apps/base/redis"},
        absent=[("redis", "dev")],
    )


# == 8. Argo CD: remote Helm charts, one Application per environment ==========================

REMOTE_CHARTS = {
    "cert-manager": (
        "https://charts.jetstack.io",
        "cert-manager",
        "crds:\n  enabled: true\nprometheus:\n  servicemonitor:\n    enabled: true\n",
    ),
    "external-dns": (
        "https://kubernetes-sigs.github.io/external-dns",
        "external-dns",
        "provider:\n  name: aws\npolicy: upsert-only\n",
    ),
    "kube-prometheus-stack": (
        "https://prometheus-community.github.io/helm-charts",
        "kube-prometheus-stack",
        "prometheus:\n  prometheusSpec:\n    retention: 15d\n",
    ),
}


def remote_chart_source(app: str, revision: str) -> str:
    repo_url, chart_name, values = REMOTE_CHARTS[app]
    head = f"source:\n  repoURL: {repo_url}\n  chart: {chart_name}\n  targetRevision: {revision}\n"
    return head + f"  helm:\n    releaseName: {app}\n    values: |\n" + textwrap.indent(values, "      ")


def argocd_remote_charts() -> Shape:
    """applications/<env>-<app>.yaml: third-party charts from their Helm repositories, the version
    being the Application's targetRevision; external-dns is not in dev."""
    versions = {
        "cert-manager": {"dev": "v1.15.1", "preprod": "v1.14.7", "prod": "v1.14.5"},
        "external-dns": {"preprod": "1.14.5", "prod": "1.14.4"},
        "kube-prometheus-stack": {"dev": "61.3.0", "preprod": "60.5.0", "prod": "58.7.2"},
    }
    files = {
        f"applications/{env}-{app}.yaml": application(
            f"{env}-{app}",
            project="platform",
            source=remote_chart_source(app, revision),
            namespace="monitoring" if app == "kube-prometheus-stack" else app,
            cluster=f"{env}-cluster",
        )
        for app, revisions in versions.items()
        for env, revision in revisions.items()
    }
    return Shape(
        id="argocd-remote-charts",
        files=files,
        stages=["dev", "preprod", "prod"],
        upstream=chain("dev", "preprod", "prod"),
        cells=cells_of(versions),
        paths={("cert-manager", "prod"): "applications/prod-cert-manager.yaml"},
        absent=[("external-dns", "dev")],
    )


# == 9. fan-out: two production regions after staging, no generator to say so =================


def fan_out_regions() -> Shape:
    """apps/<app>/overlays/<env> for dev, staging, prod-eu and prod-us (web is not in the US yet)."""
    versions = {
        "api": {"dev": "3.4.0", "staging": "3.3.0", "prod-eu": "3.2.1", "prod-us": "3.2.0"},
        "web": {"dev": "6.1.0", "staging": "6.0.2", "prod-eu": "6.0.0"},
    }
    files: dict[str, str] = {}
    for app, tags in versions.items():
        files |= kustomize_base(f"apps/{app}/base", app, f"ghcr.io/acme/{app}:1.0.0", sidecar=ENVOY)
        for env, tag in tags.items():
            region = "eu-west-1" if env == "prod-eu" else "us-east-1"
            extra = (
                replicas(app, 4) + f"commonAnnotations:\n  acme.example/region: {region}\n"
                if env.startswith("prod")
                else ""
            )
            files[f"apps/{app}/overlays/{env}/kustomization.yaml"] = kustomization(
                "../../base",
                namespace=app,
                images={f"ghcr.io/acme/{app}": tag, "envoyproxy/envoy": "v1.30.2"},
                extra=extra,
            )
    return Shape(
        id="fan-out-regions",
        files=files,
        stages=["dev", "staging", "prod-eu", "prod-us"],
        upstream={"dev": [], "staging": ["dev"], "prod-eu": ["staging"], "prod-us": ["staging"]},
        cells=cells_of(versions),
        absent=[("web", "prod-us")],
    )


def fan_out_helm_regions() -> Shape:
    """Long stage names: charts/search/values-<env>.yaml and an umbrella chart charts/keycloak/
    (key keycloak.image.tag) with env/<env>/values.yaml; qa feeds both production regions."""
    envs = ("development", "qa", "production-eu-west", "production-us-east")
    search = dict(zip(envs, ("2.3.0", "2.2.0", "2.1.1", "2.1.0"), strict=True))
    keycloak = dict(zip(envs, ("25.0.1", "24.0.5", "24.0.4", "24.0.3"), strict=True))
    files = {
        **chart("charts/search", "search", tag=".Values.image.tag", version="2.0.0", app_version="2.0.0"),
        "charts/search/values.yaml": image_values("search", "2.0.0"),
        "charts/keycloak/Chart.yaml": dedent("""\
            apiVersion: v2
            name: keycloak
            description: Keycloak, configured for acme
            version: 1.8.0
            dependencies:
              - name: keycloak
                version: 21.4.1
                repository: oci://registry-1.docker.io/bitnamicharts
            """),
        "charts/keycloak/values.yaml": dedent("""\
            keycloak:
              image:
                registry: docker.io
                repository: bitnami/keycloak
                tag: 24.0.2
              auth:
                existingSecret: keycloak-admin
              postgresql:
                enabled: false
              externalDatabase:
                host: keycloak-db.acme.internal
            """),
    }
    for env in envs:
        files[f"charts/search/values-{env}.yaml"] = (
            f'image:\n  tag: "{search[env]}"\nopensearch:\n  shards: {3 if env.startswith("production") else 1}\n'
        )
        files[f"charts/keycloak/env/{env}/values.yaml"] = (
            f"keycloak:\n  image:\n    tag: {keycloak[env]}\n  replicaCount: 2\n"
        )
    return Shape(
        id="fan-out-helm-regions",
        files=files,
        stages=list(envs),
        upstream={"development": [], "qa": ["development"], "production-eu-west": ["qa"], "production-us-east": ["qa"]},
        cells={("search", e): v for e, v in search.items()} | {("keycloak", e): v for e, v in keycloak.items()},
        paths={("keycloak", "qa"): "charts/keycloak/env/qa/values.yaml"},
        sources={"keycloak": "charts/keycloak"},
    )


# == 14. Argo CD kustomize image overrides =====================================================


def argocd_image_overrides() -> Shape:
    """Overlays deployed by one Application per app and env; production's checkout Application pins
    its image with `kustomize.images` (Argo CD builds that over the overlay's own `images:`), and
    Argo CD Image Updater writes cart's staging tag back to `.argocd-source-cart-staging.yaml`."""
    files: dict[str, str] = {
        **kustomize_base("apps/checkout/base", "checkout", "ghcr.io/acme/checkout:2.0.0", sidecar=ENVOY),
        **kustomize_base("apps/cart/base", "cart", "ghcr.io/acme/cart:1.0.0"),
    }
    overlay = {
        "checkout": {"staging": "2.4.0", "production": "2.3.0"},
        "cart": {"staging": "1.1.0", "production": "1.0.4"},
    }
    for app, tags in overlay.items():
        for env, tag in tags.items():
            files[f"apps/{app}/overlays/{env}/kustomization.yaml"] = kustomization(
                "../../base", namespace=f"shop-{env}", images={f"ghcr.io/acme/{app}": tag}
            )
            kustomize = ""
            if (app, env) == ("checkout", "production"):
                kustomize = "  kustomize:\n    images:\n      - ghcr.io/acme/checkout:2.2.9  # held back: INC-2231\n"
            files[f"argocd/{app}-{env}.yaml"] = application(
                f"{app}-{env}",
                project="shop",
                source="source:\n  repoURL: https://github.com/acme/shop-gitops.git\n  targetRevision: main\n"
                f"  path: apps/{app}/overlays/{env}\n{kustomize}",
                namespace=f"shop-{env}",
                cluster=env,
            )
    files["apps/cart/overlays/staging/.argocd-source-cart-staging.yaml"] = (
        "kustomize:\n  images:\n  - ghcr.io/acme/cart:1.2.0-rc.1\n"
    )
    return Shape(
        id="argocd-kustomize-image-overrides",
        files=files,
        stages=["staging", "production"],
        upstream=chain("staging", "production"),
        cells=cells_of(
            {
                "checkout": {"staging": "2.4.0", "production": "2.2.9"},
                "cart": {"staging": "1.2.0-rc.1", "production": "1.0.4"},
            }
        ),
        paths={
            ("checkout", "production"): "argocd/checkout-production.yaml",
            ("cart", "staging"): "apps/cart/overlays/staging/.argocd-source-cart-staging.yaml",
        },
    )


SHAPES: list[Shape] = [
    overlays_per_app(),
    stage_folders_plain(),
    stage_folders_kustomize(),
    kargo_single_app(),
    envs_strategic_merge(),
    helm_values_per_env(),
    argocd_applications(),
    appset_matrix_list(),
    appset_git_files(),
    flux_helm_releases(),
    argocd_remote_charts(),
    fan_out_regions(),
    fan_out_helm_regions(),
    argocd_image_overrides(),
]
