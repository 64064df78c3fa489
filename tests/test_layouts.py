"""Repositories as teams lay them out: kustomize patches, overlays inheriting from a base,
layered Helm values; read into the matrix and promoted with the smallest change."""

import textwrap

import pytest

from promotions.catalogue.loader import catalog_load
from promotions.catalogue.schema import Image
from promotions.gitops.yaml.edit import EditError, validate, version_set
from promotions.gitops.yaml.locators import LocateError
from promotions.gitops.yaml.nodes import parse_documents
from promotions.matrix.document import matrix_document
from promotions.matrix.refresh import matrix_read_git, matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from tests.builders import BOB, at

State = Promotion.State


def dedent(text: str) -> str:
    return textwrap.dedent(text)


def catalogue(path: str, version: str, *, stages: str = "qa, staging, production", items: str = "") -> str:
    """One repository, commit stages, one application `checkout` (or `items`)."""
    listed = "".join(f"      - {{name: {s}, promotion: {{mode: commit}}}}\n" for s in stages.split(", "))
    return (
        '    repositories:\n      - {name: platform, url: "{url}", branch: main}\n    stages:\n'
        + listed
        + "    applications:\n      defaults:\n"
        + f'        path: "{path}"\n        version: {version}\n'
        + (items or "      items: [{name: checkout}]\n")
    )


def read(catalog_path):
    catalog = catalog_load(catalog_path)
    reads = matrix_read_git(catalog=catalog)
    assert all(r.error is None for r in reads), [r.error for r in reads]
    document = matrix_document(catalog=catalog, reads=reads)
    return {(a["name"], s): c for a in document["applications"] for s, c in a["stages"].items()}


def promote(catalog_path, source: str, target: str, app: str = "checkout", user=None) -> Promotion:
    catalog = catalog_load(catalog_path)
    matrix_refresh(catalog=catalog)
    promotion = promotion_request(
        catalog=catalog, applications=[app], from_stage=source, to_stage=target, requested_by=user
    )
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def changed_lines(repo, ref: str = "HEAD") -> list[str]:
    diff = repo._git("diff", f"{ref}~1", ref).decode()
    return [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def changed_files(repo, ref: str = "HEAD") -> list[str]:
    return repo._git("diff", "--name-only", f"{ref}~1", ref).decode().split()


# -- kustomize patches: partial objects by design ---------------------------------------------

BASE_DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: checkout
    spec:
      replicas: 2
      selector:
        matchLabels: {app: checkout}
      template:
        metadata:
          labels: {app: checkout}
        spec:
          containers:
            - name: checkout
              image: ghcr.io/acme/checkout:1.0.0
              ports: [{containerPort: 8080}]
    """


def version_patch(tag: str) -> str:
    """A strategic-merge patch: a Deployment with nothing but its container's image."""
    return dedent(f"""\
        # the version of checkout in this environment (merged over base/deployment.yml)
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: checkout
        spec:
          template:
            spec:
              containers:
              - name: checkout
                image: ghcr.io/acme/checkout:{tag}
        """)


def env_kustomization(*patches: str, key: str = "patchesStrategicMerge") -> str:
    listed = "".join(f"- {p}\n" for p in patches)
    return (
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\n{key}:\n{listed}"
    )


@pytest.fixture
def envs(repo, write_catalog, db):
    """Folders per environment: a base and, per env, a kustomization patching in the version."""
    files = {"base/deployment.yml": dedent(BASE_DEPLOYMENT), "base/kustomization.yml": "resources:\n- deployment.yml\n"}
    for env, tag in (("qa", "2.4.0"), ("staging", "2.3.0"), ("production", "2.3.0")):
        files[f"envs/{env}/kustomization.yml"] = env_kustomization("version.yml")
        files[f"envs/{env}/version.yml"] = version_patch(tag)
    repo.commit(files, "Environments for checkout", author=BOB, date=at(0))
    return write_catalog(catalogue("envs/{stage}/version.yml", "{kind: image}"), url=repo.url)


def test_it_promotes_a_strategic_merge_patch_with_a_one_token_diff(envs, repo, alice):
    assert read(envs)[("checkout", "qa")]["version"] == "2.4.0"
    promotion = promote(envs, "qa", "staging", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_files(repo) == ["envs/staging/version.yml"]
    assert changed_lines(repo) == [
        "-        image: ghcr.io/acme/checkout:2.3.0",
        "+        image: ghcr.io/acme/checkout:2.4.0",
    ]
    assert read(envs)[("checkout", "staging")]["version"] == "2.4.0"


def json_patch(image: str) -> str:
    return dedent(f"""\
        # patchesJson6902 target: Deployment checkout
        - op: replace
          path: /spec/template/spec/containers/0/image
          value: {image}
        - op: replace
          path: /spec/replicas
          value: 3
        """)


def test_it_reads_and_promotes_a_json6902_patch(repo, write_catalog, db, alice):
    files = {"base/deployment.yml": dedent(BASE_DEPLOYMENT), "base/kustomization.yml": "resources:\n- deployment.yml\n"}
    for env, tag in (("qa", "2.4.0"), ("staging", "2.3.0")):
        files[f"envs/{env}/kustomization.yml"] = dedent("""\
            resources:
            - ../../base
            patchesJson6902:
            - target: {group: apps, version: v1, kind: Deployment, name: checkout}
              path: image-patch.yml
            """)
        files[f"envs/{env}/image-patch.yml"] = json_patch(f"ghcr.io/acme/checkout:{tag}")
    repo.commit(files, "JSON patches per environment", author=BOB, date=at(0))
    path = write_catalog(catalogue("envs/{stage}/image-patch.yml", "{kind: image}", stages="qa, staging"), url=repo.url)
    cells = read(path)
    assert (cells[("checkout", "qa")]["version"], cells[("checkout", "qa")]["line"]) == ("2.4.0", 4)
    promotion = promote(path, "qa", "staging", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_lines(repo) == [
        "-  value: ghcr.io/acme/checkout:2.3.0",
        "+  value: ghcr.io/acme/checkout:2.4.0",
    ]


def test_a_json6902_patch_with_several_images_names_them(repo, write_catalog, db):
    patch = json_patch("ghcr.io/acme/checkout:2.4.0") + dedent("""\
        - op: replace
          path: /spec/template/spec/containers/1/image
          value: envoyproxy/envoy:v1.31.2
        """)
    repo.commit({"envs/qa/image-patch.yml": patch}, "two images", author=BOB, date=at(0))
    path = write_catalog(catalogue("envs/{stage}/image-patch.yml", "{kind: image}", stages="qa"), url=repo.url)
    assert read(path)[("checkout", "qa")]["error"] == (
        "envs/qa/image-patch.yml: no container named checkout (found JSON patches of the images of "
        "containers 0 (line 4), 1 (line 10); name the container in a patch that replaces it whole)"
    )


def test_a_complete_deployment_made_invalid_by_the_change_is_still_refused():
    text = dedent(BASE_DEPLOYMENT).replace("replicas: 2", "replicas: 2  # scaled by the HPA").encode()
    locator = Image(kind="image").bind(app="checkout", stage="qa")
    # A change that breaks it: a tag is written into the container's `ports` list instead.
    broken = text.replace(b"ports: [{containerPort: 8080}]", b"ports: [{containerPort: eighty}]")
    with pytest.raises(EditError, match=r"^f.yml: Deployment checkout is not valid: spec.template.spec.containers.0"):
        validate(broken, path="f.yml", locator=locator, version="1.0.0", before=text)
    assert version_set(text, path="f.yml", locator=locator, version="1.1.0").changed


def test_a_problem_the_file_already_had_never_refuses_it():
    text = dedent(BASE_DEPLOYMENT).replace("replicas: 2", "replicas: two").encode()
    locator = Image(kind="image").bind(app="checkout", stage="qa")
    edit = version_set(text, path="f.yml", locator=locator, version="1.1.0")
    assert edit.after == text.replace(b"checkout:1.0.0", b"checkout:1.1.0")


# -- the image locator falls back to the only container ---------------------------------------


def test_it_reads_the_only_container_when_none_has_the_applications_name():
    text = dedent(BASE_DEPLOYMENT).replace("- name: checkout", "- name: server")
    found = Image(kind="image").bind(app="checkout", stage="qa").locate(parse_documents(text))
    assert (found.version, found.line) == ("1.0.0", 15)
    edit = version_set(text.encode(), path="f.yml", locator=Image(kind="image").bind(app="checkout", stage="qa"),
                       version="1.1.0")  # fmt: skip
    assert edit.after == text.replace("checkout:1.0.0", "checkout:1.1.0").encode()


def test_it_never_guesses_among_several_containers():
    text = dedent(BASE_DEPLOYMENT).replace("- name: checkout", "- name: server")
    text += "        - name: envoy\n          image: envoyproxy/envoy:v1.31.2\n"
    with pytest.raises(LocateError, match=r"^no container named checkout \(found containers: server, envoy\)$"):
        Image(kind="image").bind(app="checkout", stage="qa").locate(parse_documents(text))
