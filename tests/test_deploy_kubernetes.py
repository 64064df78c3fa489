"""deploy/kubernetes: the base and the example overlay are valid Kubernetes objects (strict schemas), and
every pod keeps the rules: non-root, read-only root, resources, no `:latest`, no secret in Git.

With `kustomize` or `kubectl` on the PATH the kustomizations are also built for real. Without either (CI),
the objects are the files each kustomization lists under `resources`, each validated on its own: the
overlay's patches, images and namespace are not applied (its own files are checked as they are)."""

import functools
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.urls import reverse

from promotions.catalogue.loader import catalog_load

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
BASE = KUBE / "base"
OVERLAY = KUBE / "overlays" / "example"
UID = 10001  # deploy/Dockerfile's user
SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSWORD|DATABASE_URL|REDIS_URL|HMAC")


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


MODES = ["files", "kustomize"] if kustomize_command() else ["files"]


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def listed(directory: Path) -> list[dict]:
    """The objects of the files a kustomization lists under `resources`, following directories."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects += listed(path) if path.is_dir() else documents(path)
    return objects


@functools.cache
def rendered(directory: Path, mode: str) -> tuple[dict, ...]:
    if mode == "files":
        return tuple(listed(directory))
    command = [*kustomize_command(), str(directory)]  # type: ignore[misc]
    output = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout
    return tuple(document for document in yaml.safe_load_all(output) if document)


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture(params=[BASE, OVERLAY], ids=["base", "overlay"])
def objects(request, mode) -> tuple[dict, ...]:
    return rendered(request.param, mode)


def of_kind(objects, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects) -> dict[str, dict]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")}


def containers(objects) -> list[dict]:
    return [c for spec in pod_specs(objects).values() for c in spec.get("initContainers", []) + spec["containers"]]


def shell(container: dict) -> str:
    return shlex.join(container["command"]) if container["command"][:2] != ["sh", "-c"] else container["command"][2]


def test_every_object_is_valid_in_strict_mode(objects):
    for document in objects:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_every_manifest_file_is_valid_on_its_own_listed_or_not():
    manifests = [p for p in sorted(KUBE.rglob("*.yaml")) if p.name not in ("kustomization.yaml", "catalogue.yaml")]
    assert {p.name for p in manifests} >= {"secret.example.yaml", "namespace.yaml", "settings.yaml"}
    for path in manifests:
        for document in documents(path):
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_the_base_has_every_piece_at_its_stable_api_version(mode):
    kinds = {(o["kind"], o["apiVersion"], o["metadata"]["name"]) for o in rendered(BASE, mode)}
    assert kinds >= {
        ("Deployment", "apps/v1", "gitops-portal-web"),
        ("Deployment", "apps/v1", "gitops-portal-worker"),
        ("Deployment", "apps/v1", "gitops-portal-beat"),
        ("Job", "batch/v1", "gitops-portal-migrate"),
        ("Service", "v1", "gitops-portal"),
        ("Ingress", "networking.k8s.io/v1", "gitops-portal"),
        ("PodDisruptionBudget", "policy/v1", "gitops-portal-web"),
        ("PodDisruptionBudget", "policy/v1", "gitops-portal-worker"),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "gitops-portal-web"),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "gitops-portal-worker"),
        ("ConfigMap", "v1", "gitops-portal-config"),
    }
    assert {o["kind"] for o in rendered(BASE, mode)} >= {"NetworkPolicy"}


def test_every_pod_runs_as_the_images_non_root_user(objects):
    for name, spec in pod_specs(objects).items():
        pod = spec["securityContext"]
        assert (pod["runAsNonRoot"], pod["runAsUser"], pod["fsGroup"]) == (True, UID, UID), name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f"--uid {UID}" in dockerfile
    assert f"USER {UID}:{UID}" in dockerfile


def test_every_container_is_locked_down(objects):
    for container in containers(objects):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]


def test_every_container_writes_only_to_empty_dirs_at_data_and_tmp(objects):
    for name, spec in pod_specs(objects).items():
        empty = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec.get("initContainers", []) + spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/data"] in empty, (name, container["name"])
            assert mounts["/tmp"] in empty, (name, container["name"])
    assert of_kind(objects, "ConfigMap")["gitops-portal-config"]["data"]["GITOPS_PORTAL_DATA_DIR"] == "/data"


def test_every_container_has_requests_and_limits(objects):
    for container in containers(objects):
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (container["name"], kind)


def test_no_image_is_latest_or_untagged(objects):
    for container in containers(objects):
        image = container["image"]
        assert re.search(r":[\w][\w.-]*$", image.rsplit("/", 1)[-1]), image
        assert not image.endswith(":latest"), image
    tags = [i.get("newTag", "") for i in yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())["images"]]
    assert tags
    assert "latest" not in tags
    assert "" not in tags


def test_secrets_come_from_the_secret_and_never_from_the_manifests(objects):
    assert not of_kind(objects, "Secret")
    for container in containers(objects):
        assert {"secretRef": {"name": "gitops-portal-secrets"}} in container["envFrom"], container["name"]
        for variable in container.get("env", []):
            assert not ("value" in variable and SECRET_NAMES.search(variable["name"])), variable
    for config in of_kind(objects, "ConfigMap").values():
        assert not [key for key in config.get("data", {}) if SECRET_NAMES.search(key)], config["metadata"]["name"]


def test_the_secret_example_holds_placeholders_and_no_kustomization_lists_it():
    example = documents(BASE / "secret.example.yaml")[0]
    assert example["metadata"]["name"] == "gitops-portal-secrets"
    assert set(example["stringData"]) >= {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    for key, value in example["stringData"].items():
        assert "REPLACE-ME" in value or ".example" in value, key
    for kustomization in KUBE.rglob("kustomization.yaml"):
        assert "secret.example" not in str(yaml.safe_load(kustomization.read_text())), kustomization


def test_beat_runs_once_and_is_replaced_never_rolled(objects):
    beat = of_kind(objects, "Deployment")["gitops-portal-beat"]["spec"]
    assert (beat["replicas"], beat["strategy"]) == (1, {"type": "Recreate"})
    assert not [h for h in of_kind(objects, "HorizontalPodAutoscaler").values() if "beat" in str(h["spec"])]


def test_web_is_ready_on_readyz_and_alive_on_healthz(objects):
    (web,) = pod_specs(objects)["gitops-portal-web"]["containers"]
    assert (web["readinessProbe"]["httpGet"]["path"], web["livenessProbe"]["httpGet"]["path"]) == (
        reverse("readyz"),
        reverse("healthz"),
    )
    for probe in (web["readinessProbe"], web["livenessProbe"]):
        assert probe["httpGet"]["port"] == "http"
        assert "httpHeaders" not in probe["httpGet"]  # the portal answers probes before any host check


def test_web_and_worker_start_only_once_the_job_has_migrated(objects):
    job = pod_specs(objects)["gitops-portal-migrate"]
    assert shell(job["containers"][0]) == "python manage.py migrate --noinput"
    for name in ("gitops-portal-web", "gitops-portal-worker"):
        (wait,) = pod_specs(objects)[name]["initContainers"]
        assert "until python manage.py migrate --check" in shell(wait), name


def test_the_pods_run_as_the_read_only_account_of_deploy_rbac(objects):
    rbac = documents(ROOT / "deploy" / "rbac" / "cluster-read.yaml")
    (account,) = [d for d in rbac if d["kind"] == "ServiceAccount"]
    for name, spec in pod_specs(objects).items():
        assert spec["serviceAccountName"] == account["metadata"]["name"], name
        assert spec["automountServiceAccountToken"] is (name == "gitops-portal-worker"), name
    overlay = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert overlay["namespace"] == account["metadata"]["namespace"]


def test_web_and_worker_scale_and_survive_drains_and_beat_does_neither(objects):
    deployments = of_kind(objects, "Deployment")
    budgets = of_kind(objects, "PodDisruptionBudget").values()
    scalers = of_kind(objects, "HorizontalPodAutoscaler").values()
    assert sorted(h["spec"]["scaleTargetRef"]["name"] for h in scalers) == ["gitops-portal-web", "gitops-portal-worker"]
    for name in ("gitops-portal-web", "gitops-portal-worker"):
        assert "replicas" not in deployments[name]["spec"], f"{name}: the autoscaler owns the count"
        pods = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pods.items()], name
    for scaler in scalers:
        assert 2 <= scaler["spec"]["minReplicas"] <= scaler["spec"]["maxReplicas"]


def test_only_the_ingress_controller_reaches_web_and_the_pods_call_only_the_known_ports(objects):
    policies = of_kind(objects, "NetworkPolicy").values()
    portal = {"app.kubernetes.io/name": "gitops-portal"}
    (denied,) = [
        p
        for p in policies
        if p["spec"]["podSelector"]["matchLabels"] == portal and "Ingress" in p["spec"]["policyTypes"]
    ]
    assert not denied["spec"].get("ingress")
    (web_in,) = [p for p in policies if p["spec"].get("ingress")]
    assert web_in["spec"]["podSelector"]["matchLabels"] == portal | {"app.kubernetes.io/component": "web"}
    (rule,) = web_in["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    (out,) = [p for p in policies if p["spec"].get("egress")]
    assert out["spec"]["podSelector"]["matchLabels"] == portal
    ports = {(port["port"], port["protocol"]) for rule in out["spec"]["egress"] for port in rule["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP"), (443, "TCP"), (6443, "TCP"), (22, "TCP")}


def test_every_object_and_pod_carries_the_recommended_labels(objects):
    for document in objects:
        labels = document["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "gitops-portal", document["metadata"]["name"]
        assert labels.get("app.kubernetes.io/part-of") == "gitops-portal", document["metadata"]["name"]
    for document in objects:
        if document["kind"] in ("Deployment", "Job"):
            pods = document["spec"]["template"]["metadata"]["labels"]
            assert pods["app.kubernetes.io/component"] == document["metadata"]["labels"]["app.kubernetes.io/component"]


def test_the_overlay_mounts_its_catalogue_where_GITOPS_PORTAL_CONFIG_points():
    overlay = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    (generated,) = overlay["configMapGenerator"]
    config = Path(documents(OVERLAY / "settings.yaml")[0]["data"]["GITOPS_PORTAL_CONFIG"])
    assert generated["files"] == [config.name]
    assert catalog_load(OVERLAY / config.name).stage_names == ["staging", "production"]
    mounts = [p["patch"] for p in overlay["patches"] if "volumeMounts" in p.get("patch", "")]
    (mount,) = mounts
    assert f"mountPath: {config.parent}," in mount
    assert f"configMap: {{name: {generated['name']}}}" in mount


@pytest.mark.skipif("kustomize" not in MODES, reason="needs kustomize or kubectl")
def test_the_built_overlay_mounts_the_generated_catalogue_in_web_and_worker():
    objects = rendered(OVERLAY, "kustomize")
    (catalogue,) = [name for name in of_kind(objects, "ConfigMap") if name.startswith("gitops-portal-catalogue-")]
    config = of_kind(objects, "ConfigMap")["gitops-portal-config"]["data"]["GITOPS_PORTAL_CONFIG"]
    for name, spec in pod_specs(objects).items():
        mounted = {v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
        assert mounted == ({catalogue} if name in ("gitops-portal-web", "gitops-portal-worker") else set()), name
        if mounted:
            paths = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
            assert str(Path(config).parent) in paths
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"gitops-portal"}


def test_docker_compose_and_the_image_run_what_the_manifests_run():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    specs = pod_specs(rendered(BASE, "files"))

    def manifest(name: str) -> str:
        return shell(specs[f"gitops-portal-{name}"]["containers"][0])

    for name in ("worker", "beat", "migrate"):
        assert compose[name]["command"] == manifest(name), name
    assert " ".join(compose["web"]["command"]) == manifest("web")
    for name in ("web", "worker", "beat"):
        assert compose[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (.*)$", dockerfile, re.MULTILINE)
    assert " ".join(yaml.safe_load(cmd)) == manifest("web")
    assert re.search(r"^HEALTHCHECK .*\n.*urllib.*/healthz", dockerfile, re.MULTILINE)
