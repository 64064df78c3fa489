"""The minimal-diff writer: only the version token changes, whatever the file looks like."""

import textwrap

import pytest

from promotions.catalogue.schema import HelmReleaseChart, HelmValues, Image, KustomizeImage, YamlPath
from promotions.gitops.yaml.edit import EditError, version_set


def edit(spec, text: str | bytes, version: str, app: str = "web"):
    content = text if isinstance(text, bytes) else textwrap.dedent(text).encode()
    return version_set(content, path="f.yaml", locator=spec.bind(app=app, stage="production"), version=version)


def changed_lines(result) -> list[tuple[bytes, bytes]]:
    before, after = result.before.splitlines(keepends=True), result.after.splitlines(keepends=True)
    assert len(before) == len(after)
    return [(b, a) for b, a in zip(before, after, strict=True) if b != a]


KUSTOMIZE = KustomizeImage(kind="kustomize-image", image="ghcr.io/acme/{app}")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    newTag: 1.4.2\n", "    newTag: 1.5.0\n"),
        ('    newTag: "1.4.2"\n', '    newTag: "1.5.0"\n'),
        ("    newTag: '1.4.2'   # pinned by release\n", "    newTag: '1.5.0'   # pinned by release\n"),
        ("    newTag:    1.4.2 # spacing kept\n", "    newTag:    1.5.0 # spacing kept\n"),
    ],
)
def test_only_the_version_token_changes_whatever_its_quoting(line, expected):
    text = "# web in production\nimages:\n  - name: ghcr.io/acme/web\n" + line + "  - name: other\n    newTag: 1.4.2\n"
    result = edit(KUSTOMIZE, text, "1.5.0")
    assert changed_lines(result) == [(line.encode(), expected.encode())]
    assert (result.old_version, result.new_version, result.line) == ("1.4.2", "1.5.0", 4)


def test_crlf_line_endings_are_kept():
    text = b"images:\r\n  - name: ghcr.io/acme/web\r\n    newTag: 1.4.2 # note\r\nreplicas: []\r\n"
    result = edit(KUSTOMIZE, text, "1.5.0")
    assert result.after == text.replace(b"1.4.2", b"1.5.0")


def test_a_byte_order_mark_and_unicode_comments_are_kept():
    text = "\ufeff# déploiement ünïcode\nimage:\n  tag: 2.0.0\n".encode()
    assert edit(HelmValues(kind="helm-values"), text, "2.1.0").after == text.replace(b"2.0.0", b"2.1.0")


def test_flow_style_and_anchors_are_kept():
    text = """\
        defaults: &defaults {pullPolicy: Always, tag: 3.1.0}
        image: {repository: ghcr.io/acme/web, tag: 3.1.0}
        copy: *defaults
        """
    result = edit(HelmValues(kind="helm-values", key="image.tag"), text, "3.2.0")
    assert changed_lines(result) == [
        (b"image: {repository: ghcr.io/acme/web, tag: 3.1.0}\n", b"image: {repository: ghcr.io/acme/web, tag: 3.2.0}\n")
    ]


def test_flow_sequences_in_kustomizations_are_edited_in_place():
    text = "images: [{name: ghcr.io/acme/api, newTag: 1.0.0}, {name: ghcr.io/acme/web, newTag: 1.0.0}]\n"
    result = edit(KUSTOMIZE, text, "1.1.0")
    assert (
        result.after == b"images: [{name: ghcr.io/acme/api, newTag: 1.0.0}, {name: ghcr.io/acme/web, newTag: 1.1.0}]\n"
    )


def test_only_the_right_document_and_container_change():
    text = """\
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{port: 80}]
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
                - name: envoy
                  image: envoyproxy/envoy:v1.31.2
                - name: web
                  image: registry.acme.internal:5000/acme/web:1.4.2   # app
        """
    result = edit(Image(kind="image"), text, "1.5.0")
    assert changed_lines(result) == [
        (
            b"          image: registry.acme.internal:5000/acme/web:1.4.2   # app\n",
            b"          image: registry.acme.internal:5000/acme/web:1.5.0   # app\n",
        )
    ]


def test_a_digest_pinned_to_the_old_tag_is_dropped():
    text = (
        'kind: Pod\napiVersion: v1\nmetadata: {name: web}\nspec:\n  containers:\n    - name: web\n      image: "ghcr.io/acme/web:1.4.2@sha256:'
        + "a" * 64
        + '"\n'
    )
    result = edit(Image(kind="image"), text, "1.5.0")
    assert changed_lines(result) == [
        (
            b'      image: "ghcr.io/acme/web:1.4.2@sha256:' + b"a" * 64 + b'"\n',
            b'      image: "ghcr.io/acme/web:1.5.0"\n',
        )
    ]


@pytest.mark.parametrize(
    ("old", "new", "written"),
    [
        ("19.0.1", ">=6.0.0 <7.0.0", '">=6.0.0 <7.0.0"'),  # `>` starts a block scalar: quote
        ("1.4.2", "1.10", '"1.10"'),  # a plain 1.10 would be the float 1.1
        ("1.4.2", "true", '"true"'),
        ("1.4.2", "1.5.0-rc.1+build.7", "1.5.0-rc.1+build.7"),
        ("1.9", "1.10", "1.10"),  # already a plain number: the author's choice is kept
        ("v1", "v2 # not a comment", '"v2 # not a comment"'),
    ],
)
def test_the_new_value_is_quoted_when_yaml_needs_it(old, new, written):
    text = f"spec:\n  chart:\n    spec:\n      version: {old}\n"
    result = edit(YamlPath(kind="yaml-path", path="spec.chart.spec.version"), text, new)
    assert result.after == f"spec:\n  chart:\n    spec:\n      version: {written}\n".encode()


def test_single_quotes_inside_single_quoted_values_are_doubled():
    result = edit(HelmValues(kind="helm-values"), "image:\n  tag: 'a'\n", "it's")
    assert result.after == b"image:\n  tag: 'it''s'\n"


def test_a_helmrelease_range_is_replaced_in_its_own_quotes():
    text = """\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: web}
        spec:
          chart:
            spec: {chart: web, version: ">=6.0.0 <7.0.0"}
        """
    result = edit(HelmReleaseChart(kind="helmrelease-chart"), text, "7.0.1")
    assert b'version: "7.0.1"}' in result.after
    assert len(changed_lines(result)) == 1


def test_an_unchanged_version_is_not_a_change():
    assert not edit(KUSTOMIZE, "images:\n  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n", "1.0.0").changed


def test_the_diff_is_a_unified_diff_of_one_line():
    result = edit(KUSTOMIZE, "images:\n  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n", "1.1.0")
    assert result.diff() == (
        "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,3 +1,3 @@\n images:\n   - name: ghcr.io/acme/web\n"
        "-    newTag: 1.0.0\n+    newTag: 1.1.0\n"
    )


@pytest.mark.parametrize(
    ("spec", "text", "message"),
    [
        (KUSTOMIZE, "images: [oops\n", "f.yaml:1: the file is not valid YAML"),
        (
            KUSTOMIZE,
            "images:\n  - name: ghcr.io/acme/api\n    newTag: 1\n",
            "f.yaml:2: no images entry named ghcr.io/acme/web",
        ),
        (HelmValues(kind="helm-values"), "image:\n  tag: |\n    1.0.0\n", "f.yaml:2: the version is a block scalar"),
        (
            KUSTOMIZE,
            "images:\n  - name: ghcr.io/acme/web\n    digest: sha256:abc\n",
            "f.yaml:3: images[name=ghcr.io/acme/web] pins a digest",
        ),
        (HelmValues(kind="helm-values"), b"image:\n  tag: 1.0\n  note: caf\xe9\n", "f.yaml: not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_changed_safely_is_refused_with_its_name(spec, text, message):
    with pytest.raises(EditError) as refused:
        edit(spec, text, "2.0.0")
    assert str(refused.value).startswith(message)


def test_an_invalid_kubernetes_object_is_refused():
    # The change itself breaks the Deployment: a replica count that is not a number.
    text = """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: "web:1.0.0"}]
        """
    with pytest.raises(
        EditError, match=r"f.yaml: Deployment web is not valid: spec.replicas: 'two' is not of type 'integer'"
    ):
        edit(YamlPath(kind="yaml-path", path="spec.replicas"), text, "two")
