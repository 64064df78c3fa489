"""A GitOps operator, simulated: it makes each cluster run what Git declares, the way Flux or Argo CD
plus the Deployment controller would, slowly enough to be watched.

`desired(cluster)` says what Git declares now: `{(namespace, app): (image_repository, tag)}`.
An app that does not exist yet is created at once, fully rolled out. A changed tag is
noticed, applied `delay` seconds later (the sync interval), then rolled out one replica
per `step` seconds. `fail(cluster, app)` makes the next rollout of that app crash-loop
until `deadline` seconds pass and the Deployment reports ProgressDeadlineExceeded.

With `controllers` (`flux.FluxController`, `flux.ArgoController`, one per cluster) and no
`desired`, each cluster runs what its controller applied: the controller polls Git on its own
interval (ticked on every pass) or syncs at once when `hook(cluster)` is called, as a webhook
receiver makes Flux or Argo CD do; `delay` is then best left at 0.

A Deployment gets `replicas` pods, or with `scale` (`scale(cluster)`: `{(namespace, app): replicas}`)
as many as its manifests declare, followed when that count changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sandbox.kube import builders, rollout
from sandbox.kube.flux import Controller
from sandbox.kube.resources import lookup
from sandbox.kube.standin import KubeStandIn
from sandbox.kube.store import Obj

log = logging.getLogger(__name__)

Desired = Callable[[str], Mapping[tuple[str, str], tuple[str, str]]]
Scale = Callable[[str], Mapping[tuple[str, str], int]]  # cluster -> (namespace, app) -> declared replicas
PROXY_CONTAINER = "proxy"
PROXY_IMAGE = "docker.io/envoyproxy/envoy:v1.31.2"
DEPLOYMENTS = lookup("deployments")


@dataclass
class _Rollout:
    """One app's way to `image`: noticed at `seen`, started at `started`, stepped at `last_step`."""

    image: str
    seen: float
    started: float | None = None
    last_step: float = 0.0
    crashing: bool = False
    done: bool = False


class Operator:
    """Applies `desired` to every cluster of `kube`, in a background thread or one pass at a time."""

    def __init__(
        self,
        kube: KubeStandIn,
        desired: Desired | None = None,
        *,
        controllers: Iterable[Controller] = (),
        delay: float = 0.5,
        step: float = 0.3,
        deadline: float = 1.0,
        replicas: int = 2,
        scale: Scale | None = None,
        proxy_image: str = PROXY_IMAGE,
    ) -> None:
        self.kube = kube
        self.controllers = {controller.cluster: controller for controller in controllers}
        self.desired = desired or self._applied
        self.delay, self.step, self.deadline = delay, step, deadline
        self.replicas, self.scale = replicas, scale
        self.proxy_image = proxy_image
        self.errors: list[str] = []  # what `desired` raised, newest last (the loop keeps going)
        self._rollouts: dict[tuple[str, str, str], _Rollout] = {}
        self._failing: set[tuple[str, str]] = set()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and hook(): the next pass starts at once
        self._hooked: set[str] = set()  # clusters whose controller a webhook asked to sync
        self._hooks_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, poll: float = 0.2) -> Operator:
        """Run a pass now and then every `poll` seconds in a background thread; idempotent."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(poll,), name="kube-operator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background thread (a pass in progress finishes first); idempotent."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Operator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, poll: float) -> None:
        while True:
            try:
                self._pass(immediate=False, settle=False)
            except Exception:  # a bug or a concurrent delete: log it, keep operating like a real controller
                log.exception("operator pass failed")
            self._wake.wait(poll)
            self._wake.clear()
            if self._stop.is_set():
                return

    # -- control -----------------------------------------------------------------------------

    def fail(self, cluster: str, app: str) -> None:
        """Make the next rollout of `app` in `cluster` crash-loop and end in ProgressDeadlineExceeded."""
        with self._lock:
            self._failing.add((cluster, app))

    def hook(self, cluster: str) -> None:
        """A webhook for `cluster`'s controller (as a Receiver annotates Flux's objects): the next pass,
        started at once when the background thread runs, makes it fetch and apply before rolling out."""
        if cluster not in self.controllers:
            raise KeyError(f"no GitOps controller runs in cluster {cluster!r}")
        with self._hooks_lock:
            self._hooked.add(cluster)
        self._wake.set()

    def sync_now(self, *, settle: bool = True) -> None:
        """One synchronous pass that ignores `delay`: with `settle`, every rollout runs to its end (a failing
        one straight to ProgressDeadlineExceeded); without, each rollout in flight moves exactly one step."""
        self._pass(immediate=True, settle=settle)

    # -- one pass --------------------------------------------------------------------------

    def _pass(self, *, immediate: bool, settle: bool) -> None:
        with self._lock:
            now = time.monotonic()
            with self._hooks_lock:
                hooked, self._hooked = self._hooked, set()
            for cluster, controller in self.controllers.items():
                if cluster in hooked:
                    controller.sync_now()
                else:
                    controller.tick(now)
            for cluster in self.kube.clusters:
                counts = self._counts(cluster)
                for (namespace, app), (repository, tag) in sorted(self._wanted(cluster).items()):
                    image, replicas = f"{repository}:{tag}", counts.get((namespace, app))
                    self._reconcile(cluster, namespace, app, image, now, immediate, settle, replicas=replicas)
            for controller in self.controllers.values():
                controller.observe()

    def _applied(self, cluster: str) -> Mapping[tuple[str, str], tuple[str, str]]:
        controller = self.controllers.get(cluster)
        return controller.declared() if controller is not None else {}

    def _wanted(self, cluster: str) -> Mapping[tuple[str, str], tuple[str, str]]:
        try:
            return self.desired(cluster)
        except Exception as error:  # Git unreadable this time: try again next pass, as operators do
            self.errors.append(f"{cluster}: {error!r}")
            log.warning("desired(%r) failed: %r", cluster, error)
            return {}

    def _counts(self, cluster: str) -> Mapping[tuple[str, str], int]:
        """What the manifests declare for each app's replicas (empty without `scale`, or when unreadable)."""
        try:
            return self.scale(cluster) if self.scale is not None else {}
        except Exception as error:  # as for `desired`: keep what runs, try again next pass
            self.errors.append(f"{cluster}: {error!r}")
            log.warning("scale(%r) failed: %r", cluster, error)
            return {}

    def _reconcile(
        self, cluster: str, namespace: str, app: str, image: str, now: float, immediate: bool, settle: bool,
        *, replicas: int | None = None,
    ) -> None:  # fmt: skip
        """Bring one app towards `image` (and `replicas`, when the manifests give a count)."""
        key = (cluster, namespace, app)
        store = self.kube.store
        deployment = store.get(cluster, DEPLOYMENTS, namespace, app)
        if deployment is None:
            self._rollouts.pop(key, None)
            count = self.replicas if replicas is None else replicas
            rollout.create(store, cluster, self._new_deployment(namespace, app, image, count))
            return
        if replicas is not None and deployment["spec"].get("replicas") != replicas:
            deployment = rollout.resize(store, cluster, namespace, app, replicas)
        plan = self._plan(key, rollout.image_of(deployment, app), image, now)
        if plan is None:
            return
        if plan.started is None:
            if not immediate and now - plan.seen < self.delay:
                return
            self._begin(key, plan, now)
            if not immediate:
                return
        self._drive(key, plan, now, immediate, settle)

    def _plan(self, key: tuple[str, str, str], running: str | None, image: str, now: float) -> _Rollout | None:
        """The rollout towards `image` (new when Git changed), or None when there is nothing to do."""
        plan = self._rollouts.get(key)
        if plan is not None and plan.image == image:
            return None if plan.done else plan
        if running == image:
            self._rollouts.pop(key, None)  # Git went back to what runs before the rollout started
            return None
        self._rollouts[key] = _Rollout(image, seen=now)
        return self._rollouts[key]

    def _begin(self, key: tuple[str, str, str], plan: _Rollout, now: float) -> None:
        cluster, namespace, app = key
        plan.crashing = (cluster, app) in self._failing
        self._failing.discard((cluster, app))
        rollout.begin(self.kube.store, cluster, namespace, app, app, plan.image)
        plan.started = plan.last_step = now

    def _drive(self, key: tuple[str, str, str], plan: _Rollout, now: float, immediate: bool, settle: bool) -> None:
        cluster, namespace, app = key
        store = self.kube.store
        while not plan.done:
            if immediate or now - plan.last_step >= self.step:
                finished = rollout.advance(store, cluster, namespace, app, crashing=plan.crashing)
                plan.done, plan.last_step = finished, now
            assert plan.started is not None
            if plan.crashing and ((immediate and settle) or now - plan.started >= self.deadline):
                rollout.time_out(store, cluster, namespace, app)
                plan.done = True
            if not (immediate and settle):
                return

    def _new_deployment(self, namespace: str, app: str, image: str, replicas: int) -> Obj:
        extra = [(PROXY_CONTAINER, self.proxy_image)]
        return builders.deployment(app, namespace, image, container=app, replicas=replicas, extra_containers=extra)
