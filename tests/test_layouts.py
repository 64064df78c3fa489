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
from promotions.workflow.request import PromotionError, promotion_request
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


# -- layered Helm values: `-f values.yaml -f values-production.yaml` --------------------------

BASE_VALUES = """\
    # Default values for guestbook.
    replicaCount: 1
    image:
      repository: ghcr.io/acme/guestbook
      tag: 0.2.0
      pullPolicy: IfNotPresent
    service:
      type: ClusterIP
      port: 80
    """
PRODUCTION_VALUES = """\
    replicaCount: 3
    service:
      type: LoadBalancer   # public
    """
LAYERED = """\
      items:
        - name: guestbook
          path: helm-guestbook/values.yaml
          version: {kind: helm-values, key: image.tag}
          overrides:
            staging: {path: [helm-guestbook/values.yaml, helm-guestbook/values-staging.yaml]}
            production: {path: [helm-guestbook/values.yaml, helm-guestbook/values-production.yaml]}
"""


@pytest.fixture
def layered(repo, write_catalog, db):
    """Argo CD style Helm values: one shared file, one per stage; only staging sets a tag."""
    repo.commit(
        {
            "helm-guestbook/values.yaml": dedent(BASE_VALUES),
            "helm-guestbook/values-staging.yaml": "image:\n  tag: 0.3.0\n",
            "helm-guestbook/values-production.yaml": dedent(PRODUCTION_VALUES),
        },
        "guestbook chart values",
        author=BOB,
        date=at(0),
    )
    return write_catalog(catalogue("unused", "{kind: helm-values}", stages="staging, production", items=LAYERED),
                         url=repo.url)  # fmt: skip


def test_a_stage_reads_the_version_from_the_last_layered_file_that_sets_it(layered, repo):
    cells = read(layered)
    production, staging = cells[("guestbook", "production")], cells[("guestbook", "staging")]
    assert (production["version"], production["path"], production["line"]) == ("0.2.0", "helm-guestbook/values.yaml", 5)
    assert (staging["version"], staging["path"], staging["line"]) == ("0.3.0", "helm-guestbook/values-staging.yaml", 2)
    assert (production["subject"], production["error"]) == ("guestbook chart values", None)


def test_promoting_a_layered_stage_adds_the_key_to_its_own_file_only(layered, repo, alice):
    base = repo.read("helm-guestbook/values.yaml")
    promotion = promote(layered, "staging", "production", app="guestbook", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_files(repo) == ["helm-guestbook/values-production.yaml"]
    assert changed_lines(repo) == ["+image:", "+  tag: 0.3.0"]  # only inserted lines
    assert repo.read("helm-guestbook/values-production.yaml") == dedent(PRODUCTION_VALUES) + "image:\n  tag: 0.3.0\n"
    assert repo.read("helm-guestbook/values.yaml") == base
    item = promotion.items.get()
    assert (item.path, item.from_version, item.to_version) == (
        "helm-guestbook/values-production.yaml",
        "0.2.0",
        "0.3.0",
    )
    production = read(layered)[("guestbook", "production")]
    assert (production["version"], production["path"]) == ("0.3.0", "helm-guestbook/values-production.yaml")


def test_the_next_promotion_edits_the_added_key_in_place(layered, repo, alice):
    promote(layered, "staging", "production", app="guestbook", user=alice)
    repo.commit({"helm-guestbook/values-staging.yaml": "image:\n  tag: 0.4.0\n"}, "guestbook 0.4.0 to staging")
    promotion = promote(layered, "staging", "production", app="guestbook", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_lines(repo) == ["-  tag: 0.3.0", "+  tag: 0.4.0"]


def test_a_layered_stage_already_at_the_inherited_version_is_a_noop(layered, repo, alice):
    repo.commit({"helm-guestbook/values-staging.yaml": "image:\n  tag: 0.2.0\n"}, "staging back to 0.2.0")
    before = repo.head()
    promotion = promote(layered, "staging", "production", app="guestbook", user=alice)
    assert promotion.state == State.NOOP, promotion.error
    assert repo.head() == before


def test_a_version_changed_in_the_shared_file_shows_where_it_is_inherited(layered, repo):
    values = dedent(BASE_VALUES).replace("tag: 0.2.0", "tag: 0.2.1")
    repo.commit({"helm-guestbook/values.yaml": values}, "guestbook 0.2.1 everywhere", date=at(1))
    production = read(layered)[("guestbook", "production")]
    assert (production["version"], production["subject"]) == ("0.2.1", "guestbook 0.2.1 everywhere")
    from promotions.matrix.history import application_history_get

    history = application_history_get(catalog=catalog_load(layered), name="guestbook", repository="platform",
                                      commit=repo.head())  # fmt: skip
    assert [(e.version, e.subject) for e in history["production"]] == [
        ("0.2.1", "guestbook 0.2.1 everywhere"),
        ("0.2.0", "guestbook chart values"),
    ]
    assert [(e.version, e.subject) for e in history["staging"]] == [("0.3.0", "guestbook chart values")]


def test_a_stage_whose_own_file_is_missing_has_no_file_to_promote_into(layered, repo, alice):
    repo.commit({"helm-guestbook/values-production.yaml": None}, "production values removed")
    assert read(layered)[("guestbook", "production")]["path"] is None
    with pytest.raises(PromotionError, match="guestbook is not in production: there is no file to promote into"):
        promote(layered, "staging", "production", app="guestbook", user=alice)


@pytest.mark.parametrize(
    ("layers", "indent", "expected"),
    [
        # the key's mapping exists: one line, at its indentation
        (
            "image:\n    pullPolicy: Always  # debug\nreplicaCount: 3\n",
            4,
            "image:\n    pullPolicy: Always  # debug\n    tag: 1.10\nreplicaCount: 3\n",
        ),
        # nothing of it exists: mappings created at the file's own indentation step, at the end
        ("service:\n    type: LoadBalancer\n", 4, "service:\n    type: LoadBalancer\nimage:\n    tag: 1.10\n"),
        # an empty file, and one whose last line has no newline
        ("", 2, "image:\n  tag: 1.10\n"),
        ("replicaCount: 3", 2, "replicaCount: 3\nimage:\n  tag: 1.10\n"),
        # CRLF files stay CRLF
        ("image:\r\n  repository: x\r\n", 2, "image:\r\n  repository: x\r\n  tag: 1.10\r\n"),
    ],
)
def test_a_missing_key_is_added_with_the_smallest_insertion(layers, indent, expected):
    from promotions.catalogue.schema import HelmValues

    locator = HelmValues(kind="helm-values").bind(app="guestbook", stage="production")
    edit = version_set(layers.encode(), path="v.yaml", locator=locator, version="1.10", inherited="1.9")
    assert edit.after.decode() == expected.replace("tag: 1.10", 'tag: "1.10"')
    assert (edit.old_version, edit.new_version) == ("1.9", "1.10")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "image: ghcr.io/acme/guestbook:0.2.0\n",
            "v.yaml:1: image is not a block mapping, so image.tag cannot be added",
        ),
        ("image: {repository: x}\n", "v.yaml:1: image is not a block mapping"),
        ("image: [oops\n", "v.yaml:1: the file is not valid YAML"),
    ],
)
def test_a_key_that_cannot_be_added_safely_is_refused_naming_the_file(text, message):
    from promotions.catalogue.schema import HelmValues

    locator = HelmValues(kind="helm-values").bind(app="guestbook", stage="production")
    with pytest.raises(EditError) as refused:
        version_set(text.encode(), path="v.yaml", locator=locator, version="1.0.0", inherited="0.9.0")
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("[helm-guestbook/values.yaml, ../shared/values.yaml]", "must stay inside the repository"),
        ("[]", "an empty list of files: give at least one path"),
        ("[values.yaml, '{region}/values.yaml']", "unknown placeholder {region}"),
    ],
)
def test_a_layered_path_is_validated_like_a_single_one(write_catalog, repo, path, message):
    from promotions.errors import ConfigError

    items = f"      items:\n        - name: guestbook\n          overrides: {{production: {{path: {path}}}}}\n"
    written = write_catalog(catalogue("values.yaml", "{kind: helm-values}", items=items), url=repo.url)
    with pytest.raises(ConfigError, match=message):
        catalog_load(written)


def test_defaults_may_layer_files_with_templates(repo, write_catalog, db):
    repo.commit({"charts/shop/values.yaml": "image: {tag: 5.0.0}\n", "charts/shop/values-qa.yaml": "replicaCount: 1\n"},
                "shop chart")  # fmt: skip
    text = catalogue("X", "{kind: helm-values}", stages="qa", items="      items: [{name: shop}]\n")
    layers = '["charts/{app}/values.yaml", "charts/{app}/values-{stage}.yaml"]'
    path = write_catalog(text.replace('"X"', layers), url=repo.url)
    qa = read(path)[("shop", "qa")]
    assert (qa["version"], qa["path"]) == ("5.0.0", "charts/shop/values.yaml")


# -- kustomize overlays inheriting the version from a base -----------------------------------

BASE_KUSTOMIZATION = """\
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    resources:
      - deployment.yaml
      - service.yaml
    images:
      - name: ghcr.io/acme/guestbook
        newTag: 1.2.0
    """
GUESTBOOK = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: guestbook
    spec:
      selector:
        matchLabels: {app: guestbook}
      template:
        metadata:
          labels: {app: guestbook}
        spec:
          containers:
            - name: guestbook
              image: ghcr.io/acme/guestbook:1.1.0
    """
SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: guestbook\nspec:\n  ports: [{port: 80}]\n"
# An overlay with no images of its own: a name prefix and a replica count.
STAGING_OVERLAY = """\
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    namespace: guestbook-staging
    resources:
      - ../../base
    replicas:
      - name: guestbook
        count: 2
    """
OVERLAYS = catalogue(
    "env/{stage}/kustomization.yaml", '{kind: kustomize-image, image: "ghcr.io/acme/guestbook"}',
    stages="test, staging", items="      items: [{name: guestbook}]\n",
)  # fmt: skip


def overlay(tag: str) -> str:
    return dedent(STAGING_OVERLAY) + f"images:\n  - name: ghcr.io/acme/guestbook\n    newTag: {tag}\n"


@pytest.fixture
def overlays(repo, write_catalog, db):
    """Kargo-style: a base pinning the image, `env/test` with its own entry, `env/staging` without."""
    repo.commit(
        {
            "base/kustomization.yaml": dedent(BASE_KUSTOMIZATION),
            "base/deployment.yaml": dedent(GUESTBOOK),
            "base/service.yaml": SERVICE,
            "env/test/kustomization.yaml": overlay("1.3.0"),
            "env/staging/kustomization.yaml": dedent(STAGING_OVERLAY),
        },
        "guestbook base and overlays",
        author=BOB,
        date=at(0),
    )
    return write_catalog(OVERLAYS, url=repo.url)


def test_an_overlay_without_images_reads_the_version_its_base_pins(overlays):
    cells = read(overlays)
    staging, test = cells[("guestbook", "staging")], cells[("guestbook", "test")]
    assert (staging["version"], staging["path"], staging["line"], staging["error"]) == (
        "1.2.0", "base/kustomization.yaml", 8, None
    )  # fmt: skip
    assert staging["subject"] == "guestbook base and overlays"
    assert (test["version"], test["path"]) == ("1.3.0", "env/test/kustomization.yaml")


def test_an_overlay_reads_the_image_of_its_bases_manifest_when_no_kustomization_pins_it(overlays, repo):
    base = dedent(BASE_KUSTOMIZATION).split("images:")[0]
    repo.commit({"base/kustomization.yaml": base}, "base: no images list", date=at(1))
    staging = read(overlays)[("guestbook", "staging")]
    assert (staging["version"], staging["path"], staging["line"]) == ("1.1.0", "base/deployment.yaml", 14)


def test_promoting_into_an_inheriting_overlay_adds_its_own_images_entry(overlays, repo, alice):
    base = {path: repo.read(path) for path in ("base/kustomization.yaml", "base/deployment.yaml")}
    promotion = promote(overlays, "test", "staging", app="guestbook", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_files(repo) == ["env/staging/kustomization.yaml"]
    # what `kustomize edit set image` adds, indented like the file's `resources` list
    assert changed_lines(repo) == ["+images:", "+  - name: ghcr.io/acme/guestbook", "+    newTag: 1.3.0"]
    assert repo.read("env/staging/kustomization.yaml") == overlay("1.3.0")
    assert {path: repo.read(path) for path in base} == base
    item = promotion.items.get()
    assert (item.path, item.from_version) == ("env/staging/kustomization.yaml", "1.2.0")
    staging = read(overlays)[("guestbook", "staging")]
    assert (staging["version"], staging["path"], staging["line"]) == ("1.3.0", "env/staging/kustomization.yaml", 11)


def test_a_rerun_after_the_push_into_an_overlay_finds_its_commit(overlays, repo, alice):
    promotion = promote(overlays, "test", "staging", app="guestbook", user=alice)
    head = repo.head()
    # The worker died after pushing, before recording it: the item still names the base file
    # the request read the version from.
    promotion.items.update(path="base/kustomization.yaml")
    Promotion.objects.filter(pk=promotion.pk).update(state=State.PREPARING, commit="", claimed_at="2000-01-01T00:00Z")
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert (promotion.state, promotion.commit, repo.head()) == (State.COMMITTED, head, head)


def test_the_next_promotion_edits_the_overlays_entry_in_place(overlays, repo, alice):
    promote(overlays, "test", "staging", app="guestbook", user=alice)
    repo.commit({"env/test/kustomization.yaml": overlay("1.4.0")}, "guestbook 1.4.0 to test")
    promotion = promote(overlays, "test", "staging", app="guestbook", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_lines(repo) == ["-    newTag: 1.3.0", "+    newTag: 1.4.0"]


def test_an_overlay_whose_list_has_other_images_gets_an_entry_appended(overlays, repo, alice):
    sidecar = "images:\n- name: envoyproxy/envoy\n  newTag: v1.31.2\n"
    repo.commit({"env/staging/kustomization.yaml": "resources:\n- ../../base\n" + sidecar}, "staging: envoy pinned")
    promotion = promote(overlays, "test", "staging", app="guestbook", user=alice)
    assert promotion.state == State.COMMITTED, promotion.error
    assert changed_lines(repo) == ["+- name: ghcr.io/acme/guestbook", "+  newTag: 1.3.0"]


def test_a_version_changed_in_the_base_shows_in_the_overlay_and_its_history(overlays, repo):
    read(overlays)  # cached: the next read is incremental
    moved = dedent(BASE_KUSTOMIZATION).replace("newTag: 1.2.0", "newTag: 1.2.1")
    repo.commit({"base/kustomization.yaml": moved}, "guestbook 1.2.1 in the base", date=at(2))
    repo.commit({"base/service.yaml": SERVICE.replace("80", "8080")}, "service port", date=at(3))
    staging = read(overlays)[("guestbook", "staging")]
    assert (staging["version"], staging["subject"]) == ("1.2.1", "guestbook 1.2.1 in the base")
    from promotions.matrix.history import application_history_get

    history = application_history_get(catalog=catalog_load(overlays), name="guestbook", repository="platform",
                                      commit=repo.head())  # fmt: skip
    assert [(e.version, e.subject) for e in history["staging"]] == [
        ("1.2.1", "guestbook 1.2.1 in the base"),
        ("1.2.0", "guestbook base and overlays"),
    ]


@pytest.mark.parametrize(
    ("files", "error"),
    [
        (  # a → b → a
            {
                "env/test/kustomization.yaml": "resources:\n- ../../bases/a\n",
                "bases/a/kustomization.yaml": "resources:\n- ../b\n",
                "bases/b/kustomization.yaml": "resources:\n- service.yaml\n- ../a\n",
                "bases/b/service.yaml": SERVICE,
            },
            "bases/b/kustomization.yaml:3: ../a leads back to bases/a/kustomization.yaml: "
            "a cycle (bases/a → bases/b → bases/a)",
        ),
        (
            {"env/test/kustomization.yaml": "resources:\n- ../../base\n- ../../../etc\n"},
            "env/test/kustomization.yaml:3: ../../../etc leaves the repository; a base must be a relative path inside it",
        ),
        (
            {"env/test/kustomization.yaml": "bases:\n- /srv/gitops/base\n"},
            "env/test/kustomization.yaml:2: /srv/gitops/base is an absolute path; a base must be a relative path "
            "inside the repository",
        ),
    ],
)
def test_cycles_and_escapes_are_error_cells_naming_the_file(repo, write_catalog, db, files, error):
    repo.commit(files, "overlay", date=at(0))
    path = write_catalog(OVERLAYS, url=repo.url)
    test = read(path)[("guestbook", "test")]
    assert (test["version"], test["error"]) == (None, error)


def test_a_remote_base_is_not_followed(repo, write_catalog, db):
    remote = "resources:\n- https://github.com/acme/platform//base?ref=v1\n"
    repo.commit({"env/test/kustomization.yaml": remote}, "remote base", date=at(0))
    test = read(write_catalog(OVERLAYS, url=repo.url))[("guestbook", "test")]
    assert test["error"] == (
        "env/test/kustomization.yaml: expected images[name=ghcr.io/acme/guestbook].newTag, "
        "but the file has no 'images' list"
    )


def test_the_preview_of_a_promotion_into_an_inheriting_overlay_names_the_overlay(overlays, repo):
    from promotions.workflow.request import promotion_preview

    catalog = catalog_load(overlays)
    matrix_refresh(catalog=catalog)
    preview = promotion_preview(catalog=catalog, applications=["guestbook"], from_stage="test", to_stage="staging")
    assert [item.path for item in preview.plan.items] == ["env/staging/kustomization.yaml"]
    assert "+++ b/env/staging/kustomization.yaml" in preview.diff
    assert "base/kustomization.yaml" not in preview.diff
