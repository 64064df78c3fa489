"""Version locators on real YAML text: every kind, the awkward cases, and precise errors."""

import textwrap

import pytest

from promotions.catalogue.schema import HelmReleaseChart, HelmValues, Image, KustomizeImage, YamlPath
from promotions.gitops.yaml.locators import parse_image
from promotions.gitops.yaml.nodes import PathSyntaxError, parse_path
from promotions.matrix.snapshot import locate_all


def locate(spec, text: str, app: str = "web", stage: str = "staging"):
    locator = spec.bind(app=app, stage=stage)
    return locate_all(textwrap.dedent(text).encode(), [locator])[0]


KUSTOMIZATION = """\
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    images:
      - name: ghcr.io/acme/api
        newTag: 2.0.0
      - name: ghcr.io/acme/web
        newTag: "1.4.2"   # quoted on purpose
    """


def test_it_reads_the_kustomize_image_tag_by_image_name():
    assert locate(KustomizeImage(kind="kustomize-image", image="ghcr.io/acme/{app}"), KUSTOMIZATION) == (
        "1.4.2",
        7,
        None,
    )


def test_it_names_the_images_it_found_when_the_wanted_one_is_missing():
    version, line, problem = locate(KustomizeImage(kind="kustomize-image", image="ghcr.io/acme/db"), KUSTOMIZATION)
    assert version is None
    assert line == 4
    assert problem == "no images entry named ghcr.io/acme/db (found: ghcr.io/acme/api, ghcr.io/acme/web)"


def test_it_takes_the_only_kustomize_image_when_no_name_is_given():
    text = "images:\n  - name: nginx\n    newTag: 1.27.2-alpine\n"
    assert locate(KustomizeImage(kind="kustomize-image"), text) == ("1.27.2-alpine", 3, None)


def test_it_asks_for_a_name_when_several_kustomize_images_and_none_given():
    problem = locate(KustomizeImage(kind="kustomize-image"), KUSTOMIZATION)[2]
    assert "2 entries in 'images'" in problem
    assert "set version.image" in problem


def test_it_reads_a_kustomize_digest_when_there_is_no_tag():
    text = "images:\n  - name: web\n    digest: sha256:" + "a" * 64 + "\n"
    assert locate(KustomizeImage(kind="kustomize-image", image="web"), text)[0] == "sha256:" + "a" * 64


def test_it_reports_a_kustomization_without_images():
    problem = locate(KustomizeImage(kind="kustomize-image", image="web"), "resources: [a.yaml]\n")[2]
    assert problem == "expected images[name=web].newTag, but the file has no 'images' list"


def test_it_reads_helm_values_by_dotted_key_and_keeps_the_exact_text():
    text = """\
        # comment
        image:
          repository: ghcr.io/acme/billing
          tag: 1.10
        """
    # 1.10 would load as the float 1.1; the version is the text as written.
    assert locate(HelmValues(kind="helm-values", key="image.tag"), text) == ("1.10", 4, None)


def test_it_names_the_keys_it_found_when_a_helm_key_is_missing():
    problem = locate(
        HelmValues(kind="helm-values", key="image.tag"), "image:\n  repository: x\n  pullPolicy: Always\n"
    )[2]
    assert problem == "expected image.tag: no key 'tag' under image (keys: repository, pullPolicy)"


def test_it_refuses_an_empty_version():
    version, _line, problem = locate(HelmValues(kind="helm-values", key="image.tag"), "image:\n  tag:\n")
    assert (version, problem) == (None, "image.tag is empty")


def test_it_refuses_a_version_that_is_not_a_plain_value():
    problem = locate(HelmValues(kind="helm-values", key="image"), "image:\n  tag: 1.0.0\n")[2]
    assert problem == "image is not a plain value"


HELMRELEASES = """\
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata: {name: redis}
    spec:
      chart:
        spec: {chart: redis, version: 19.0.1}
    ---
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata:
      name: web
    spec:
      chart:
        spec:
          chart: web
          version: ">=6.0.0 <7.0.0"
    """


def test_it_reads_a_helmrelease_chart_range_choosing_the_release_by_app_name():
    assert locate(HelmReleaseChart(kind="helmrelease-chart"), HELMRELEASES) == (">=6.0.0 <7.0.0", 16, None)


def test_it_reads_a_helmrelease_chosen_by_explicit_name():
    assert locate(HelmReleaseChart(kind="helmrelease-chart", name="redis"), HELMRELEASES)[0] == "19.0.1"


def test_it_reports_a_missing_helmrelease():
    problem = locate(HelmReleaseChart(kind="helmrelease-chart", name="db"), HELMRELEASES)[2]
    assert problem == "no HelmRelease named db (found: redis, web)"
    problem = locate(HelmReleaseChart(kind="helmrelease-chart"), "kind: ConfigMap\n")[2]
    assert problem == "expected a HelmRelease document (kind: HelmRelease), found none"


DEPLOYMENT = """\
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      ports: [{port: 80}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          initContainers:
            - name: migrate
              image: ghcr.io/acme/web-migrations:1.4.2
          containers:
            - name: envoy
              image: envoyproxy/envoy:v1.31.2
            - name: web
              image: registry.acme.internal:5000/acme/web:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    """


def test_it_reads_the_named_containers_tag_past_sidecars_ports_and_digests():
    assert locate(Image(kind="image"), DEPLOYMENT) == ("1.4.2", 21, None)


def test_it_lists_the_containers_it_found_when_the_wanted_one_is_missing():
    problem = locate(Image(kind="image", container="api"), DEPLOYMENT)[2]
    assert problem == "no container named api (found containers: envoy, web, migrate)"


@pytest.mark.parametrize(
    ("kind", "pod_path"),
    [
        ("StatefulSet", "spec:\n  template:\n    spec:\n"),
        ("DaemonSet", "spec:\n  template:\n    spec:\n"),
        ("CronJob", "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"),
        ("Pod", "spec:\n"),
    ],
)
def test_it_reads_images_from_any_workload_kind(kind, pod_path):
    indent = " " * (len(pod_path.splitlines()[-1]) - len(pod_path.splitlines()[-1].lstrip()) + 2)
    text = f"kind: {kind}\n{pod_path}{indent}containers:\n{indent}  - name: web\n{indent}    image: web:9.9.9\n"
    assert locate(Image(kind="image"), text)[0] == "9.9.9"


def test_it_filters_workloads_by_kind_and_name():
    text = DEPLOYMENT.replace("name: web\n    spec:\n      template", "name: web-canary\n    spec:\n      template")
    spec = Image(kind="image", workload={"kind": "Deployment", "name": "{app}"})
    assert "in Deployment web" in locate(spec, text)[2]


@pytest.mark.parametrize(
    ("ref", "repository", "tag", "digest", "version"),
    [
        ("nginx", "nginx", None, None, "latest"),
        ("nginx:1.27", "nginx", "1.27", None, "1.27"),
        ("registry.local:5000/team/app", "registry.local:5000/team/app", None, None, "latest"),
        ("registry.local:5000/team/app:2.0.1", "registry.local:5000/team/app", "2.0.1", None, "2.0.1"),
        ("ghcr.io/acme/web@sha256:abc", "ghcr.io/acme/web", None, "sha256:abc", "sha256:abc"),
        ("localhost:5000/web:1.0@sha256:abc", "localhost:5000/web", "1.0", "sha256:abc", "1.0"),
    ],
)
def test_it_splits_image_references(ref, repository, tag, digest, version):
    image = parse_image(ref)
    assert (image.repository, image.tag, image.digest, image.version) == (repository, tag, digest, version)


def test_it_follows_yaml_paths_with_list_selectors_indexes_and_quoted_keys():
    text = """\
        releases:
          - name: docs
            version: 2024.11.3
          - name: web
            labels: {"app.kubernetes.io/version": "7.1.0"}
            versions: ["6.0.0", "7.0.0"]
        """
    assert (
        locate(YamlPath(kind="yaml-path", path='releases[name={app}].labels["app.kubernetes.io/version"]'), text)[0]
        == "7.1.0"
    )
    assert locate(YamlPath(kind="yaml-path", path="releases[1].versions[1]"), text)[0] == "7.0.0"
    assert locate(YamlPath(kind="yaml-path", path="releases[name=api].version"), text)[2] == (
        "expected releases[name=api].version: no item with name=api in releases (found: docs, web)"
    )


def test_it_follows_yaml_merge_keys_and_anchors():
    text = "base: &base\n  tag: 3.2.1\nstaging:\n  <<: *base\n  replicas: 2\n"
    assert locate(YamlPath(kind="yaml-path", path="staging.tag"), text)[0] == "3.2.1"


def test_it_takes_the_first_document_that_has_the_path():
    text = "kind: ConfigMap\ndata: {}\n---\n---\nspec:\n  values:\n    image: {tag: 5.0.0}\n"
    assert locate(YamlPath(kind="yaml-path", path="spec.values.image.tag"), text) == ("5.0.0", 7, None)


def test_it_reports_invalid_yaml_with_its_line():
    version, line, problem = locate(HelmValues(kind="helm-values"), "image:\n  tag: 1.0.0\n  - broken\n")
    assert version is None
    assert line == 3
    assert problem.startswith("invalid YAML: ")


def test_it_reports_an_empty_file():
    assert locate(HelmValues(kind="helm-values"), "# nothing here\n")[2] == (
        "expected image.tag, but the file has no YAML documents"
    )


@pytest.mark.parametrize("bad", ["", "a..b", "a.", "a[", "a[x]", ".a", "a]b"])
def test_it_refuses_malformed_paths(bad):
    with pytest.raises(PathSyntaxError):
        parse_path(bad)


ARGO_OVERRIDES = """\
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata: {name: web-staging}
    spec:
      sources:
        - repoURL: https://github.com/acme/gitops.git
          path: apps/web/overlays/staging
          kustomize:
            images:
              - "ghcr.io/acme/web:1.4.2"   # held back
              - proxy=envoyproxy/envoy:v1.30.2@sha256:0123
    """


def test_it_reads_and_writes_argo_cd_kustomize_image_overrides():
    from promotions.gitops.yaml.edit import version_set

    text = textwrap.dedent(ARGO_OVERRIDES).encode()
    web = KustomizeImage(kind="kustomize-image", image="ghcr.io/acme/{app}")
    proxy = KustomizeImage(kind="kustomize-image", image="proxy")
    assert locate(web, ARGO_OVERRIDES) == ("1.4.2", 10, None)
    assert locate(proxy, ARGO_OVERRIDES) == ("v1.30.2", 11, None)
    assert locate(KustomizeImage(kind="kustomize-image", image="redis"), ARGO_OVERRIDES)[2] == (
        "no kustomize image override for redis (found: ghcr.io/acme/web, proxy)"
    )
    edited = version_set(text, path="a.yaml", locator=web.bind(app="web", stage="staging"), version="1.5.0").after
    assert edited == text.replace(b"web:1.4.2", b"web:1.5.0")  # the comment and the quotes stay
    edited = version_set(text, path="a.yaml", locator=proxy.bind(app="web", stage="staging"), version="v1.31.0").after
    assert edited == text.replace(b"envoy:v1.30.2@sha256:0123", b"envoy:v1.31.0")  # the old digest goes with its tag
