"""Version locators: where, inside a stage file, an application's version lives.

A locator is bound to one application and stage (templates such as `{app}` already
rendered) and finds the version in the file's YAML documents. Five kinds, matching the
catalogue's `version.kind`: kustomize-image, helm-values, helmrelease-chart, image,
yaml-path. Failures raise `LocateError` with a sentence naming what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from yaml.nodes import Node, ScalarNode, SequenceNode

from promotions.gitops.yaml.nodes import (
    PathMiss,
    Step,
    get,
    get_path,
    kind_of,
    line_of,
    parse_path,
    path_text,
    scalar,
    walk,
)


def _same(version: str) -> str:
    return version


@dataclass(frozen=True)
class Found:
    """A located version, the 1-based line it sits on, and (for writing) the scalar node
    holding it plus how a new version becomes that node's new value."""

    version: str
    line: int
    node: ScalarNode | None = field(default=None, compare=False, repr=False)
    rewrite: Callable[[str], str] = field(default=_same, compare=False, repr=False)


class LocateError(LookupError):
    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


@dataclass(frozen=True)
class ImageRef:
    """`registry:5000/org/app:1.2.3@sha256:…` split into its parts."""

    repository: str
    tag: str | None
    digest: str | None

    @property
    def version(self) -> str:
        return self.tag or self.digest or "latest"


def parse_image(ref: str) -> ImageRef:
    name, _, digest = ref.strip().partition("@")
    colon, slash = name.rfind(":"), name.rfind("/")
    # A colon before the last slash belongs to a registry port, not a tag.
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :] or None, digest or None)
    return ImageRef(name, None, digest or None)


def _version_from(node: Node | None, what: str) -> Found:
    if node is None:
        raise LocateError(f"{what} not found")
    value = scalar(node)
    if value is None:
        kind = "empty" if isinstance(node, ScalarNode) else "not a plain value"
        raise LocateError(f"{what} is {kind}", line_of(node))
    if value == "":
        raise LocateError(f"{what} is an empty string", line_of(node))
    assert isinstance(node, ScalarNode)
    return Found(value, line_of(node), node)


def _first_path_match(docs: list[Node], steps: tuple[Step, ...]) -> Found:
    if not docs:
        raise LocateError(f"expected {path_text(steps)}, but the file has no YAML documents")
    first_miss: PathMiss | None = None
    for doc in docs:
        try:
            node = walk(doc, steps)
        except PathMiss as miss:
            first_miss = first_miss or miss
            continue
        return _version_from(node, path_text(steps))
    raise LocateError(f"expected {path_text(steps)}: {first_miss}")


def _digest_only(name: str) -> Callable[[str], str]:
    def rewrite(version: str) -> str:
        if not version.startswith("sha256:"):
            raise LocateError(f"images[name={name}] pins a digest; promote a digest (sha256:…) or add a newTag")
        return version

    return rewrite


@dataclass(frozen=True)
class KustomizeImageLocator:
    """`images[name=<image>].newTag` of a kustomization (digest when there is no tag)."""

    image: str | None

    @property
    def key(self) -> str:
        return f"kustomize-image|{self.image}"

    def describe(self) -> str:
        return f"images[name={self.image or '*'}].newTag"

    def locate(self, docs: list[Node]) -> Found:
        images = next((n for d in docs if isinstance(n := get(d, "images"), SequenceNode)), None)
        if images is None:
            overrides = [item for d in docs for item in _argocd_images(d)]
            if overrides:
                return self._override(overrides)
            raise LocateError(f"expected {self.describe()}, but the file has no 'images' list")
        entry = self._entry(images)
        tag = get(entry, "newTag")
        if tag is None and get(entry, "digest") is not None:
            found = _version_from(get(entry, "digest"), f"images[name={self._name(entry)}].digest")
            return Found(found.version, found.line, found.node, _digest_only(self._name(entry)))
        return _version_from(tag, f"images[name={self._name(entry)}].newTag")

    def _entry(self, images: SequenceNode) -> Node:
        names = [scalar(get(item, "name")) for item in images.value]
        if self.image is None:
            if len(images.value) == 1:
                return images.value[0]
            raise LocateError(
                f"{len(images.value)} entries in 'images' ({', '.join(map(str, names))}); "
                "set version.image to choose one",
                line_of(images),
            )
        for item, name in zip(images.value, names, strict=True):
            if name == self.image:
                return item
        raise LocateError(
            f"no images entry named {self.image} (found: {', '.join(map(str, names)) or 'none'})",
            line_of(images),
        )

    @staticmethod
    def _name(entry: Node) -> str:
        return scalar(get(entry, "name")) or "?"

    def _override(self, entries: list[ScalarNode]) -> Found:
        """An Argo CD kustomize image override (`[name=]new-name[:tag][@digest]`, a string)."""
        parsed = [(node, *_override_parts(node.value)) for node in entries]
        names = [name for _node, name, _prefix, _ref in parsed]
        if self.image is None and len(parsed) > 1:
            raise LocateError(f"{len(parsed)} kustomize image overrides ({', '.join(names)}); set version.image to "
                              "choose one", line_of(entries[0]))  # fmt: skip
        for node, name, prefix, ref in parsed:
            if self.image is None or name == self.image:
                if ref.tag is None and ref.digest is None:
                    raise LocateError(f"the kustomize image override {node.value} sets no tag", line_of(node))
                return Found(ref.version, line_of(node), node, _tagged(prefix))
        raise LocateError(f"no kustomize image override for {self.image} (found: {', '.join(names)})",
                          line_of(entries[0]))  # fmt: skip


def _argocd_images(doc: Node) -> list[ScalarNode]:
    """The `kustomize.images` strings of an Argo CD Application (`spec.source`, each of
    `spec.sources`) or of an `.argocd-source-<app>.yaml` parameter file (top-level `kustomize`)."""
    sources = [doc, get_path(doc, "spec", "source")]
    listed = get_path(doc, "spec", "sources")
    if isinstance(listed, SequenceNode):
        sources += listed.value
    found = []
    for source in sources:
        images = get_path(source, "kustomize", "images") if source is not None else None
        if isinstance(images, SequenceNode):
            found += [item for item in images.value if isinstance(item, ScalarNode) and item.value]
    return found


def _tagged(prefix: str) -> Callable[[str], str]:
    return lambda version: f"{prefix}:{version}"


def _override_parts(value: str) -> tuple[str, str, ImageRef]:
    """`old=new:tag` → ("old", "old=new", ref of new:tag); `name:tag` → ("name", "name", ref)."""
    old, sep, new = value.partition("=")
    ref = parse_image(new if sep else value)
    name = old if sep else ref.repository
    return name, f"{old}={ref.repository}" if sep else ref.repository, ref


KUSTOMIZE_REFERENCES = ("resources", "bases", "components")


@dataclass(frozen=True)
class KustomizeReferencesLocator:
    """What a kustomization builds on: its `resources`, `bases` and `components` entries, as
    "entry<TAB>line" lines in the found version (so results cache like any other locator's)."""

    @property
    def key(self) -> str:
        return "kustomize-references"

    def describe(self) -> str:
        return "resources, bases and components"

    def locate(self, docs: list[Node]) -> Found:
        entries = [
            f"{value}\t{line_of(item)}"
            for doc in docs[:1]
            for name in KUSTOMIZE_REFERENCES
            if isinstance(listed := get(doc, name), SequenceNode)
            for item in listed.value
            if (value := scalar(item))
        ]
        if not entries:
            raise LocateError("the kustomization lists no resources, bases or components")
        return Found("\n".join(entries), line_of(docs[0]))


def references(found: str) -> list[tuple[str, int]]:
    """The (entry, line) pairs a `KustomizeReferencesLocator` found."""
    return [(entry, int(line)) for entry, _, line in (item.rpartition("\t") for item in found.split("\n"))]


@dataclass(frozen=True)
class WorkloadImageLocator:
    """The tag of `image` wherever a workload's container runs it (a kustomize base's manifest)."""

    image: str

    @property
    def key(self) -> str:
        return f"workload-image|{self.image}"

    def describe(self) -> str:
        return f"a container with image {self.image}"

    def locate(self, docs: list[Node]) -> Found:
        locator = ImageLocator(container="")
        for doc in docs:
            for container in ImageLocator._containers(doc):
                value = scalar(get(container, "image"))
                if value and parse_image(value).repository == self.image:
                    return locator._image(get(container, "image"))
        raise LocateError(f"no container with image {self.image}")


@dataclass(frozen=True)
class PathLocator:
    """A value at a path (`helm-values` key or generic `yaml-path`), first document that has it."""

    kind: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.path}"

    def describe(self) -> str:
        return self.path

    def locate(self, docs: list[Node]) -> Found:
        return _first_path_match(docs, parse_path(self.path))


@dataclass(frozen=True)
class HelmReleaseChartLocator:
    """`spec.chart.spec.version` of a Flux HelmRelease (chosen by name when several)."""

    name: str | None
    app: str

    @property
    def key(self) -> str:
        return f"helmrelease-chart|{self.name}|{self.app}"

    def describe(self) -> str:
        return f"HelmRelease {self.name or self.app} spec.chart.spec.version"

    def locate(self, docs: list[Node]) -> Found:
        releases = [d for d in docs if kind_of(d) == "HelmRelease"]
        if not releases:
            raise LocateError("expected a HelmRelease document (kind: HelmRelease), found none")
        release = self._choose(releases)
        name = scalar(get_path(release, "metadata", "name")) or "?"
        node = get_path(release, "spec", "chart", "spec", "version")
        if node is None:
            raise LocateError(f"HelmRelease {name} has no spec.chart.spec.version", line_of(release))
        return _version_from(node, f"HelmRelease {name} spec.chart.spec.version")

    def _choose(self, releases: list[Node]) -> Node:
        names = [scalar(get_path(r, "metadata", "name")) for r in releases]
        wanted = self.name or (None if len(releases) == 1 else self.app)
        if wanted is None:
            return releases[0]
        for release, name in zip(releases, names, strict=True):
            if name == wanted:
                return release
        raise LocateError(f"no HelmRelease named {wanted} (found: {', '.join(map(str, names))})")


_POD_SPEC_PATHS = (
    ("spec", "template", "spec"),
    ("spec", "jobTemplate", "spec", "template", "spec"),
    ("spec",),
)


@dataclass(frozen=True)
class ImageLocator:
    """The image tag of a named container in any workload (Deployment, StatefulSet, CronJob, …),
    in a kustomize patch of one (strategic merge: a partial workload; JSON6902: a list of
    operations), or of the only container when none has the name (as the live selector does)."""

    container: str
    workload_kind: str | None = None
    workload_name: str | None = None

    @property
    def key(self) -> str:
        return f"image|{self.container}|{self.workload_kind}|{self.workload_name}"

    def describe(self) -> str:
        return f"the image of container {self.container}"

    def locate(self, docs: list[Node]) -> Found:
        seen: list[str] = []
        only: list[Node] = []  # the regular containers, for the fallback to the only one
        patches: list[tuple[str, ScalarNode]] = []  # JSON6902 image operations: (container index, value)
        for doc in docs:
            if isinstance(doc, SequenceNode):
                named, images = _json_patch_containers(doc)
                if (container := named.get(self.container)) is not None:
                    return self._version(container)
                seen += list(named)
                patches += images
                continue
            if not self._wanted(doc):
                continue
            for container in self._containers(doc):
                name = scalar(get(container, "name"))
                seen.append(name or "?")
                if name == self.container:
                    return self._version(container)
            only += self._containers(doc, init=False)
        if len(only) == 1 and not patches:
            return self._version(only[0])
        if len(patches) == 1 and not only:
            return self._image(patches[0][1])
        raise LocateError(f"no container named {self.container}{self._scope()}{self._found(seen, patches)}")

    @staticmethod
    def _found(seen: list[str], patches: list[tuple[str, ScalarNode]]) -> str:
        if patches:
            listed = ", ".join(f"{index} (line {line_of(node)})" for index, node in patches)
            hint = "name the container in a patch that replaces it whole"
            return f" (found JSON patches of the images of containers {listed}; {hint})"
        return f" (found containers: {', '.join(seen)})" if seen else " (found no workload with containers)"

    def _wanted(self, doc: Node) -> bool:
        if self.workload_kind and kind_of(doc) != self.workload_kind:
            return False
        return not self.workload_name or scalar(get_path(doc, "metadata", "name")) == self.workload_name

    @staticmethod
    def _containers(doc: Node, *, init: bool = True) -> list[Node]:
        for path in _POD_SPEC_PATHS:
            pod = get_path(doc, *path)
            lists = [get(pod, key) for key in (("containers", "initContainers") if init else ("containers",))]
            items = [c for lst in lists if isinstance(lst, SequenceNode) for c in lst.value]
            if items:
                return items
        return []

    def _version(self, container: Node) -> Found:
        return self._image(get(container, "image"))

    def _image(self, node: Node | None) -> Found:
        image = _version_from(node, f"container {self.container} image")
        repository = parse_image(image.version).repository
        # A digest pins the old tag's content: it is dropped when the tag changes.
        return Found(parse_image(image.version).version, image.line, image.node, lambda v: f"{repository}:{v}")

    def _scope(self) -> str:
        if not (self.workload_kind or self.workload_name):
            return ""
        return f" in {self.workload_kind or 'workload'} {self.workload_name or ''}".rstrip()


_JSON_PATCH_CONTAINER = re.compile(
    r"(?:/spec/template/spec|/spec/jobTemplate/spec/template/spec|/spec)/(?:containers|initContainers)/(\d+|-)(/image)?"
)


def _json_patch_containers(doc: SequenceNode) -> tuple[dict[str, Node], list[tuple[str, ScalarNode]]]:
    """A JSON6902 patch's `add`/`replace` operations on containers: whole containers by name,
    and image values by container index (a patch names containers only by position)."""
    named: dict[str, Node] = {}
    images: list[tuple[str, ScalarNode]] = []
    for op in doc.value:
        if scalar(get(op, "op")) not in ("add", "replace"):
            continue
        match = _JSON_PATCH_CONTAINER.fullmatch(scalar(get(op, "path")) or "")
        value = get(op, "value")
        if match is None or value is None:
            continue
        if match[2] and isinstance(value, ScalarNode):
            images.append((match[1], value))
        elif not match[2] and (name := scalar(get(value, "name"))) is not None:
            named.setdefault(name, value)
    return named, images


Locator = KustomizeImageLocator | PathLocator | HelmReleaseChartLocator | ImageLocator


# -- what a version may look like, per locator kind -------------------------------------------

_OCI_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_SEMVER = re.compile(r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")
_CHART_RANGE = re.compile(r"[0-9A-Za-z.*^~<>=!|, +-]{1,255}")  # constraints as Flux and Helm take them
_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+:@/~=-]{0,254}")
OCI_RULE = "an OCI image tag: letters, digits, _ . -, at most 128 characters, not starting with . or -"
CHART_RULE = "a chart version: SemVer (1.2.3, 1.2.3-rc.1) or a version range (>=1.2.0 <2.0.0, ~1.2, 1.x)"
TOKEN_RULE = "one token of letters, digits and _ . + : @ / ~ = - (no spaces, quotes or brackets), at most 255"


def version_problem(locator: Locator, version: str) -> str | None:
    """Why `version` cannot be written where `locator` points (None when it can): a Kubernetes
    image tag must be a valid OCI tag, a chart version SemVer or a range, anything else one token."""
    if isinstance(locator, ImageLocator | KustomizeImageLocator):
        ok = _OCI_TAG.fullmatch(version) or (isinstance(locator, KustomizeImageLocator) and _DIGEST.fullmatch(version))
        return None if ok else f"version {version!r} is not {OCI_RULE}"
    if isinstance(locator, HelmReleaseChartLocator):
        ranged = _CHART_RANGE.fullmatch(version) and (any(c.isdigit() for c in version) or version in "*xX")
        return None if _SEMVER.fullmatch(version) or ranged else f"version {version!r} is not {CHART_RULE}"
    return None if _TOKEN.fullmatch(version) else f"version {version!r} is not {TOKEN_RULE}"
