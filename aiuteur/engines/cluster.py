"""Heavy engines on a Ray cluster: Ray Serve replicas behind the same engine Protocols.

With a cluster address (`AIUTEUR_RAY_ADDRESS`, else the profile's `[cluster] address`), the
image, matting and video engines (and text, if the profile lists it) run as Ray Serve
deployments: one application per engine kind and model spec, its replicas placed by Ray (one GPU
each on a GPU profile). The app calls them through deployment handles wrapped in
`RemoteEngine`, which looks like any local engine to the stages, so takes, the store and crash
safety do not change: the app stays the one writer.

    [cluster]
    address = "auto"              # or "ray://head:10001", or "127.0.0.1:6379"
    kinds = ["image", "matting", "video"]
    replicas = 2                  # per kind; default: one per GPU on a GPU profile, else 1
    max_replicas = 4              # set to let Ray scale between `replicas` and this
    item_timeout_s = 900          # one image or clip; past it the item is cancelled and fails
    fallback = "local"            # or "refuse": when the cluster cannot be reached

Without an address nothing here runs and Ray is never imported. Faults: a request whose replica
died is sent once more (Serve routes it to a live replica), then fails with a reason; an item
that takes longer than `item_timeout_s` is cancelled and fails; a cluster that cannot be reached
falls back to running on this machine (or refuses, with `fallback = "refuse"`), said in one line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiuteur.engines.base import EngineError
from aiuteur.engines.profiles import Profile

log = logging.getLogger(__name__)

DEFAULT_KINDS = ("image", "matting", "video")
REMOTE_METHODS = frozenset({"generate", "render", "cutout", "describe", "embed"})
APP_PREFIX = "aiuteur"


@dataclass(frozen=True)
class ClusterSettings:
    """Where the cluster is and how the app uses it (from the environment and the profile)."""

    address: str
    kinds: tuple[str, ...] = DEFAULT_KINDS
    replicas: int | None = None
    max_replicas: int | None = None
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    item_timeout_s: float = 900.0
    connect_timeout_s: float = 60.0
    fallback: str = "local"
    namespace: str = "aiuteur"

    def replica_count(self) -> int:
        return max(1, int(self.replicas or 1))

    def jobs_at_once(self) -> int:
        """How many jobs of one engine kind the cluster runs at once: its replicas (the most, when it scales)."""
        return self.max_replicas or self.replica_count()


def settings_for(profile: Profile) -> ClusterSettings | None:
    """The cluster settings of `profile`, or None when no address is set (everything in-process).

    Raises:
        EngineError: a setting has a value that cannot be used (said in one sentence).
    """
    table = dict(profile.tables.get("cluster", {}))
    address = os.environ.get("AIUTEUR_RAY_ADDRESS", "").strip() or str(table.get("address", "")).strip()
    if not address or address.lower() in ("none", "off", "local"):
        return None
    kinds = tuple(str(k) for k in table.get("kinds", DEFAULT_KINDS))
    env_replicas = os.environ.get("AIUTEUR_RAY_REPLICAS", "").strip()
    try:
        replicas = int(env_replicas) if env_replicas else (int(table["replicas"]) if "replicas" in table else None)
        max_replicas = int(table["max_replicas"]) if "max_replicas" in table else None
        timeout = float(os.environ.get("AIUTEUR_RAY_ITEM_TIMEOUT_S", "") or table.get("item_timeout_s", 900))
        connect = float(table.get("connect_timeout_s", 60))
        gpus = float(table.get("gpus_per_replica", 1.0 if profile.needs_gpu else 0.0))
        cpus = float(os.environ.get("AIUTEUR_RAY_CPUS_PER_REPLICA", "") or table.get("cpus_per_replica", 1.0))
    except (TypeError, ValueError) as e:
        raise EngineError(f"Profile '{profile.name}': a [cluster] number cannot be read ({e}).") from e
    if replicas is not None and replicas < 1:
        raise EngineError("The number of cluster replicas must be 1 or more.")
    if timeout <= 0:
        raise EngineError("The cluster's item timeout must be above 0 seconds.")
    fallback = os.environ.get("AIUTEUR_RAY_FALLBACK", "").strip() or str(table.get("fallback", "local"))
    if fallback not in ("local", "refuse"):
        raise EngineError(f"[cluster] fallback is {fallback!r}; use 'local' or 'refuse'.")
    return ClusterSettings(address=address, kinds=kinds, replicas=replicas, max_replicas=max_replicas,
                           gpus_per_replica=gpus, cpus_per_replica=cpus, item_timeout_s=timeout,
                           connect_timeout_s=connect, fallback=fallback)


def model_jobs_at_once() -> int:
    """Model jobs that may run at once: 1 on one machine; with a Ray cluster, its replicas per kind."""
    from aiuteur.engines.profiles import PROFILES_DIR, active_profile

    if not os.environ.get("AIUTEUR_RAY_ADDRESS") and not any(
            "[cluster]" in p.read_text(encoding="utf-8") for p in PROFILES_DIR.glob("*.toml")):
        return 1  # no cluster anywhere: skip choosing the profile here (it probes the machine)
    try:
        profile = active_profile().profile
        settings = settings_for(profile)
    except Exception:  # no profile can be chosen: the first model job will say why
        return 1
    return settings.jobs_at_once() if settings else 1


def app_name(profile: Profile, kind: str) -> str:
    """One Serve application per engine kind and model spec (a new spec gets new replicas)."""
    from aiuteur.engines.registry import canonical_spec

    digest = hashlib.sha256(canonical_spec(profile.spec(kind)).encode()).hexdigest()[:10]
    return f"{APP_PREFIX}-{profile.name}-{kind}-{digest}"


# -- the replica (runs on the cluster) ----------------------------------------------------------------


class EngineReplica:
    """One engine loaded on a cluster worker; `call` runs one of its model methods.

    A clip is rendered to a temporary file on the worker and its bytes are returned, so the app
    can store it wherever the worker runs.
    """

    def __init__(self, kind: str, spec: dict[str, Any], models_dir: str, tiny: bool) -> None:
        from aiuteur.engines.registry import CACHE, ensure_tiny

        where = Path(os.environ.get("AIUTEUR_MODELS", "") or models_dir)
        if tiny or str(spec.get("model", "")).startswith("tiny/"):
            ensure_tiny(kind, where, spec)
        self.kind = kind
        self.engine = CACHE.get(kind, spec, where)

    def describe(self) -> dict[str, Any]:
        return {"model_id": str(getattr(self.engine, "model_id", "")),
                "backend": str(getattr(self.engine, "backend", "")),
                "pid": os.getpid(), "host": socket.gethostname()}

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method not in REMOTE_METHODS:
            raise EngineError(f"{method} is not a model call a cluster replica runs.")
        kwargs.pop("progress", None)
        if method == "render":
            start, end, prompt, out_path = args[:4]
            with tempfile.TemporaryDirectory(prefix="aiuteur-replica-") as tmp:
                out = Path(tmp) / Path(str(out_path)).name
                written = self.engine.render(start, end, prompt, out, *args[4:], **kwargs)
                return Path(written).read_bytes()
        return getattr(self.engine, method)(*args, **kwargs)


# -- the app side ---------------------------------------------------------------------------------------


class RemoteEngine:
    """A cluster deployment that looks like a local engine (same methods, same errors).

    When the cluster goes away mid-session (an item fails twice or times out, and the replicas
    then do not answer a short check), the engine says so in one line and, with `fallback =
    "local"`, runs that item and every later one on this machine (one at a time) through
    `local`, the loader of the in-process engine.
    """

    remote = True

    def __init__(self, handle: Any, kind: str, info: dict[str, Any], settings: ClusterSettings,
                 local: Callable[[], Any] | None = None) -> None:
        self._handle = handle
        self.kind = kind
        self.model_id = str(info.get("model_id", ""))
        self.backend = str(info.get("backend", ""))
        self.settings = settings
        self.lost = ""  # why the cluster is gone (empty while it answers)
        self._local_loader = local
        self._local: Any = None
        self._local_lock = threading.Lock()  # in-process models run one call at a time
        self._inflight: set[Any] = set()
        self._lock = threading.Lock()

    @property
    def parallelism(self) -> int:
        """Items of this kind that may run at once: the cluster's replicas, 1 once it is lost."""
        return 1 if self.lost else self.settings.jobs_at_once()

    def __getattr__(self, name: str) -> Any:
        if name in REMOTE_METHODS:
            return lambda *args, **kwargs: self._call(name, args, kwargs)
        raise AttributeError(name)

    def _still_there(self) -> str:
        """Empty when a replica answers a short check; else why not."""
        probe_s = max(1.0, min(30.0, self.settings.connect_timeout_s, self.settings.item_timeout_s))
        try:
            self._handle.describe.remote().result(timeout_s=probe_s)
        except Exception as e:
            return f"no {self.kind} replica answered within {probe_s:.0f} s ({type(e).__name__})"
        return ""

    def _lose(self, why: str) -> None:
        with self._lock:
            if self.lost:
                return
            self.lost = why
        if self.settings.fallback == "local" and self._local_loader is not None:
            line = f"Cluster lost ({why}); running {self.kind} on this machine instead."
        else:
            line = f"Cluster lost ({why}); {self.kind} items fail until it is back and the app restarts."
        log.warning(line)
        _say(line)

    def _run_local(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.settings.fallback != "local" or self._local_loader is None:
            raise EngineError(f"The Ray cluster is gone ({self.lost}); start it again, or set "
                              "AIUTEUR_RAY_FALLBACK=local to run on this machine.")
        with self._local_lock:
            if self._local is None:
                self._local = self._local_loader()
            return getattr(self._local, method)(*args, **kwargs)

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.lost:
            return self._run_local(method, args, kwargs)
        try:
            return self._call_remote(method, args, kwargs)
        except _ClusterFault as fault:
            gone = self._still_there()
            if not gone:
                raise EngineError(str(fault)) from fault.__cause__
            self._lose(gone)
            return self._run_local(method, args, kwargs)

    def _call_remote(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import ray.exceptions as rex
        from ray.serve.exceptions import RayServeException

        faults = (rex.RayError, RayServeException, ConnectionError, RuntimeError)
        kwargs = {k: v for k, v in kwargs.items() if k != "progress"}
        timeout = self.settings.item_timeout_s
        last: BaseException | None = None
        for attempt in (1, 2):  # a request whose replica died is sent once more, to a live replica
            try:
                response = self._handle.call.remote(method, args, kwargs)
            except faults as e:
                last = e
                continue
            with self._lock:
                self._inflight.add(response)
            try:
                result = response.result(timeout_s=timeout)
            except TimeoutError as e:
                response.cancel()
                raise _ClusterFault(
                    f"The cluster did not finish one {self.kind} item within {timeout:.0f} s; it was cancelled."
                ) from e
            except rex.RayTaskError as e:  # the engine itself failed on the replica: the same cause here
                cause = e.as_instanceof_cause()
                raise cause from None
            except (rex.TaskCancelledError, _cancelled_error()) as e:
                raise EngineError(f"The {self.kind} item was cancelled on the cluster.") from e
            except faults as e:
                last = e
                log.warning("cluster %s replica failed on attempt %d (%s: %s)", self.kind, attempt,
                            type(e).__name__, str(e)[:200])
                continue
            finally:
                with self._lock:
                    self._inflight.discard(response)
            if method == "render":
                out = Path(str(args[3]))
                out.write_bytes(result)
                return out
            return result
        raise _ClusterFault(
            f"A {self.kind} replica on the cluster failed twice on this item "
            f"({type(last).__name__}: {str(last)[:160]})."
        ) from last

    def cancel_all(self) -> int:
        """Cancel every request still queued or running on the cluster (Stop); returns how many."""
        with self._lock:
            pending = list(self._inflight)
        for response in pending:
            try:
                response.cancel()
            except Exception:
                log.debug("cancelling a cluster request failed", exc_info=True)
        return len(pending)


class _ClusterFault(EngineError):
    """The cluster (not the engine) failed an item: a replica died twice, or it ran past its timeout."""


def _cancelled_error() -> type[BaseException]:
    try:
        from ray.serve.exceptions import RequestCancelledError

        return RequestCancelledError
    except Exception:  # an older Serve without it
        return _Never


class _Never(Exception):
    pass


# -- connecting and deploying ------------------------------------------------------------------------


_REMOTES: dict[str, RemoteEngine] = {}
_STATE_LOCK = threading.Lock()
_status: dict[str, str] = {}


def status_line() -> str:
    """One line for the doctor and the header: where heavy work runs now."""
    return _status.get("line", "in-process (no cluster address set)")


def _say(line: str) -> None:
    _status["line"] = line


#: How long this process waits for a lost head node before Ray ends it (Ray's own default is 60 s,
#: after which it terminates the driver: the whole app). A week: the app outlives the cluster and
#: runs its items itself (RemoteEngine); set the variable to change it.
GCS_RECONNECT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"
GCS_RECONNECT_S = 7 * 24 * 3600


def connect(settings: ClusterSettings) -> None:
    """Connect this process to the cluster (once), within `connect_timeout_s`.

    Raises:
        EngineError: the cluster cannot be reached in time (one sentence with the reason).
    """
    os.environ.setdefault(GCS_RECONNECT_ENV, str(GCS_RECONNECT_S))  # read by Ray when it connects
    import ray

    if ray.is_initialized():
        return
    error: list[BaseException] = []

    def attempt() -> None:
        try:
            ray.init(address=settings.address, namespace=settings.namespace, ignore_reinit_error=True,
                     logging_level=logging.ERROR, log_to_driver=False)
        except BaseException as e:  # reported to the caller below
            error.append(e)

    worker = threading.Thread(target=attempt, name="ray-connect", daemon=True)
    worker.start()
    worker.join(settings.connect_timeout_s)
    if worker.is_alive():
        raise EngineError(f"The Ray cluster at {settings.address} did not answer within "
                          f"{settings.connect_timeout_s:.0f} s.")
    if error:
        raise EngineError(f"The Ray cluster at {settings.address} cannot be reached "
                          f"({type(error[0]).__name__}: {str(error[0]).splitlines()[0][:160]}).")


def deploy(profile: Profile, kind: str, models_dir: Path, settings: ClusterSettings) -> Any:
    """Deploy (or update) the replicas of one engine kind; returns the application's handle."""
    from ray import serve

    serve.start(proxy_location="Disabled")
    options: dict[str, Any] = {"num_cpus": settings.cpus_per_replica}
    if settings.gpus_per_replica:
        options["num_gpus"] = settings.gpus_per_replica
    env = {k: v for k, v in os.environ.items() if k.startswith(("AIUTEUR_", "HF_", "TRANSFORMERS_"))}
    if env:
        options["runtime_env"] = {"env_vars": env}
    deployment_options: dict[str, Any] = {
        "name": kind, "ray_actor_options": options, "max_ongoing_requests": 1,
        "health_check_period_s": 2.0, "health_check_timeout_s": 60.0,
    }
    if settings.max_replicas and settings.max_replicas > settings.replica_count():
        deployment_options["autoscaling_config"] = {
            "min_replicas": settings.replica_count(), "max_replicas": settings.max_replicas,
            "target_ongoing_requests": 1,
        }
    else:
        deployment_options["num_replicas"] = settings.replica_count()
    deployment = serve.deployment(**deployment_options)(EngineReplica)
    app = deployment.bind(kind, profile.spec(kind), str(models_dir), profile.name == "tiny")
    return serve.run(app, name=app_name(profile, kind), route_prefix=None)


def _handle(profile: Profile, kind: str, models_dir: Path, settings: ClusterSettings) -> Any:
    from ray import serve

    name = app_name(profile, kind)
    try:
        handle = serve.get_app_handle(name)
    except Exception:
        log.info("deploying %s on the cluster", name)
        handle = deploy(profile, kind, models_dir, settings)
    return handle


def remote_engine(profile: Profile, kind: str, models_dir: Path,
                  local: Callable[[], Any] | None = None) -> RemoteEngine | None:
    """The cluster's engine of `kind`, or None when it runs in this process.

    None when no cluster is set, the kind is not one the cluster runs, or the cluster cannot be
    reached and `fallback` is "local" (said in one line in the log and `status_line()`).

    Raises:
        EngineError: the cluster cannot be reached and `fallback` is "refuse".
    """
    settings = settings_for(profile)
    if settings is None or kind not in settings.kinds:
        return None
    name = app_name(profile, kind)
    with _STATE_LOCK:
        cached = _REMOTES.get(name)
        if cached is not None:
            return cached
        try:
            connect(settings)
            handle = _handle(profile, kind, models_dir, settings)
            info = handle.describe.remote().result(timeout_s=settings.item_timeout_s)
        except Exception as e:
            reason = str(e) if isinstance(e, EngineError) else f"{type(e).__name__}: {str(e)[:160]}"
            if settings.fallback == "refuse":
                raise EngineError(f"{reason} Start the cluster, or set AIUTEUR_RAY_FALLBACK=local to run "
                                  "on this machine.") from e
            line = f"Cluster unavailable ({reason}); running {kind} on this machine instead."
            log.warning(line)
            _say(line)
            return None
        engine = RemoteEngine(handle, kind, info, settings, local=local)
        _REMOTES[name] = engine
        _say(f"Ray cluster at {settings.address}: {', '.join(settings.kinds)} on {settings.replica_count()} "
             f"replica(s) each")
        return engine


def deploy_all(profile: Profile, models_dir: Path, *, report: Callable[[str], None] = print) -> list[str]:
    """Deploy every kind the profile runs on the cluster (the `workers` command); returns app names."""
    settings = settings_for(profile)
    if settings is None:
        raise EngineError("No cluster address: set AIUTEUR_RAY_ADDRESS (or [cluster] address in the profile).")
    connect(settings)
    names = []
    for kind in settings.kinds:
        if kind not in profile.tables:
            continue
        handle = deploy(profile, kind, models_dir, settings)
        info = handle.describe.remote().result(timeout_s=settings.item_timeout_s)
        report(f"{kind}: {info.get('backend')} {info.get('model_id')} on {settings.replica_count()} replica(s)")
        names.append(app_name(profile, kind))
    return names


def forget() -> None:
    """Drop the cached handles (tests, or after the cluster went away)."""
    with _STATE_LOCK:
        _REMOTES.clear()
        _status.clear()


__all__ = [
    "ClusterSettings", "EngineReplica", "RemoteEngine", "app_name", "connect", "deploy", "deploy_all",
    "forget", "remote_engine", "settings_for", "status_line",
]
