"""The engine registry: one place that turns a profile into engines, loads each model once, and
counts every model call.

    engines = Engines(profile, data_home())
    text = engines.text(purpose="treatment")      # built on first use, shared across stages
    take = text.generate(messages, Treatment, seed=0)
    engines.calls                                  # Counter({"treatment": 1}) -> the CLI's model_calls

Engines are built lazily from `FACTORIES` (("kind", "backend") -> "module:Class"); every class
offers `from_spec(spec, models_dir)`. Built engines live in a process-wide cache keyed by kind,
canonical spec and models folder, so two stages (or two `Engines`) asking for the same model get
the same instance. With `AIUTEUR_MEMORY_BUDGET_GB` set, the least recently used engines are
dropped when the estimated total (each engine's `memory_bytes`) would exceed it. Exceptions from
an engine (out of memory, timeouts, anything) come out as `EngineError` with a readable reason.
Nothing is imported or loaded at import time.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiuteur.engines.base import EngineError, StoppedError, raise_if_stopped, stop_requested
from aiuteur.engines.profiles import Profile
from aiuteur.settings import DataHome

log = logging.getLogger(__name__)

FACTORIES: dict[tuple[str, str], str] = {
    ("text", "transformers"): "aiuteur.engines.text_transformers:TransformersText",
    ("text", "llama.cpp"): "aiuteur.engines.text_llamacpp:LlamaCppText",
    ("text", "openai"): "aiuteur.engines.text_openai:OpenAIText",
    ("image", "diffusers"): "aiuteur.engines.image_diffusers:DiffusersImage",
    ("image", "diffusers-edit"): "aiuteur.engines.image_edit:DiffusersEditImage",
    ("matting", "rembg"): "aiuteur.engines.matting_rembg:RembgMatting",
    ("vision", "none"): "aiuteur.engines.vision:NoVision",
    ("vision", "transformers"): "aiuteur.engines.vision:TransformersVision",
    ("video", "animatic"): "aiuteur.engines.video:AnimaticOnly",
    ("video", "diffusers-ltx"): "aiuteur.engines.video:DiffusersVideo",
    ("video", "diffusers-wan"): "aiuteur.engines.video:DiffusersVideo",
    ("video", "diffusers-ltx2"): "aiuteur.engines.video:DiffusersVideo",
    ("embedding", "efficientnet-lite0"): "aiuteur.engines.embedding:EfficientNetEmbedding",
    ("voice", "tone"): "aiuteur.engines.voice:ToneVoice",
    ("voice", "piper"): "aiuteur.engines.voice:PiperVoice",
    ("voice", "kokoro"): "aiuteur.engines.voice:KokoroVoice",
    ("voice", "openai"): "aiuteur.engines.voice:OpenAISpeech",
}

#: Methods that are model calls: each one counts once for the proxy's purpose.
COUNTED_METHODS = frozenset({"generate", "stream", "render", "describe", "cutout", "embed", "speak"})


# -- the process-wide cache ----------------------------------------------------------------------


@dataclass
class _Entry:
    engine: Any
    loaded_at: float
    seconds: float


class EngineCache:
    """Built engines keyed by (kind, canonical spec, models folder), least recently used first."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self.loads: Counter[str] = Counter()  # "kind:backend" -> times a model was loaded

    def get(self, kind: str, spec: dict[str, Any], models_dir: Path) -> Any:
        key = (kind, canonical_spec(spec), str(models_dir))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.engine
            engine, seconds = _build(kind, spec, models_dir)
            self.loads[f"{kind}:{spec.get('backend')}"] += 1
            self._entries[key] = _Entry(engine, time.time(), seconds)
            self._evict(keep=key)
            return engine

    def _evict(self, keep: tuple[str, str, str]) -> None:
        budget = memory_budget_bytes()
        if budget is None:
            return
        while self.total_bytes() > budget and len(self._entries) > 1:
            key = next(k for k in self._entries if k != keep)
            entry = self._entries.pop(key)
            log.info("memory budget: unloading %s (%s)", key[0], getattr(entry.engine, "model_id", "?"))
            _release(entry.engine)

    def total_bytes(self) -> int:
        return sum(int(getattr(e.engine, "memory_bytes", 0) or 0) for e in self._entries.values())

    def clear(self) -> None:
        """Unload every engine (tests, or before switching profile)."""
        with self._lock:
            while self._entries:
                _, entry = self._entries.popitem(last=False)
                _release(entry.engine)
            self.loads.clear()

    def __len__(self) -> int:
        return len(self._entries)


CACHE = EngineCache()


def canonical_spec(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)


def memory_budget_bytes() -> int | None:
    """`AIUTEUR_MEMORY_BUDGET_GB` in bytes, or None (no limit) when unset."""
    raw = os.environ.get("AIUTEUR_MEMORY_BUDGET_GB", "").strip()
    if not raw:
        return None
    try:
        return int(float(raw) * (1 << 30))
    except ValueError as e:
        raise EngineError(f"AIUTEUR_MEMORY_BUDGET_GB={raw!r} is not a number of gigabytes.") from e


def engine_class(kind: str, backend: str) -> Any:
    """The class registered for (kind, backend), imported now."""
    target = FACTORIES.get((kind, backend))
    if target is None:
        known = ", ".join(sorted(b for k, b in FACTORIES if k == kind))
        raise EngineError(f"No {kind} engine called '{backend}'; known {kind} backends: {known}.")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise EngineError(f"The {kind} engine '{backend}' cannot be imported ({e}).") from e
    return getattr(module, class_name)


def _build(kind: str, spec: dict[str, Any], models_dir: Path) -> tuple[Any, float]:
    cls = engine_class(kind, str(spec.get("backend")))
    start = time.perf_counter()
    try:
        engine = cls.from_spec(dict(spec), models_dir)
    except Exception as e:
        raise readable_engine_error(e, f"loading the {kind} model") from e
    seconds = time.perf_counter() - start
    log.info("loaded %s engine %s in %.1f s", kind, getattr(engine, "model_id", spec.get("backend")), seconds)
    return engine, seconds


def _release(engine: Any) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.exception("closing an engine failed")
    del engine
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def readable_engine_error(e: BaseException, doing: str) -> EngineError:
    """Turn any exception from a model into an `EngineError` a person can read."""
    if isinstance(e, EngineError):
        return e
    name = type(e).__name__
    if (
        isinstance(e, MemoryError)
        or name in ("OutOfMemoryError", "OutOfMemoryException")
        or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower())
    ):
        return EngineError(
            f"Out of memory while {doing}. Try a smaller size or fewer references, close other "
            "programs, or choose a lighter profile (AIUTEUR_PROFILE=lite or offline)."
        )
    if isinstance(e, TimeoutError) or "timeout" in name.lower():
        return EngineError(f"Timed out while {doing} ({e or name}).")
    return EngineError(f"{doing[:1].upper()}{doing[1:]} failed: {name}: {e}")


# -- tiny models build themselves -----------------------------------------------------------------

_TINY_BUILDERS: dict[str, tuple[str, str]] = {
    "text": ("tiny_text", "build"),
    "image": ("tiny_image", "build_images"),
    "video": ("tiny_image", "build_video"),
}


def ensure_tiny(kind: str, models_dir: Path, spec: dict[str, Any] | None = None) -> None:
    """Build the tiny random-weight model of `kind` if it is missing (seconds; idempotent).

    A spec naming one of the per-family tiny models (`tiny/qwen-image-edit`, `tiny/ltx2`…)
    builds just that one; otherwise the kind's default set is built.
    """
    target = _TINY_BUILDERS.get(kind)
    if target is None:
        return
    from filelock import FileLock

    from aiuteur.engines.prepare import load_builder

    models_dir.mkdir(parents=True, exist_ok=True)
    model = str((spec or {}).get("model", ""))
    with FileLock(str(models_dir / ".tiny-build.lock"), timeout=600):
        module = load_builder(target[0])
        families = getattr(module, "FAMILY_BUILDERS", {})
        name = model.removeprefix("tiny/")
        if model.startswith("tiny/") and name in families:
            module.build_family(models_dir, name)  # type: ignore[attr-defined]
            return
        getattr(module, target[1])(models_dir)


# -- counting proxies ----------------------------------------------------------------------------


class CountedEngine:
    """Wraps an engine: each model call adds 1 to `calls[purpose]`; errors become `EngineError`."""

    def __init__(self, engine: Any, purpose: str, calls: Counter[str], kind: str,
                 loader: Callable[[], Any] | None = None) -> None:
        self._engine = engine
        self._loader = loader
        self._purpose = purpose
        self._calls = calls
        self._kind = kind

    @property
    def engine(self) -> Any:
        """The wrapped engine (for code that needs its components); loaded on first use."""
        if self._engine is None and self._loader is not None:
            self._engine = self._loader()
        return self._engine

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self.engine, name)
        if name not in COUNTED_METHODS or not callable(value):
            return value
        doing = f"{self._kind} for {self._purpose}" if self._purpose else self._kind

        def counted(*args: Any, **kwargs: Any) -> Any:
            raise_if_stopped(f"generating {doing}")  # a stopped job makes no further model call
            self._calls[self._purpose] += 1
            try:
                result = value(*args, **kwargs)
            except Exception as e:
                if stop_requested() and not isinstance(e, StoppedError):  # interrupted mid-call
                    raise StoppedError(f"Stopped while generating {doing}: you pressed Stop or left the page; "
                                       "what was made before is kept.") from e
                raise readable_engine_error(e, f"generating {doing}") from e
            if name == "stream":
                return _guarded(result, f"streaming {doing}")
            return result

        return counted

    def __repr__(self) -> str:
        return f"CountedEngine({self._engine!r}, purpose={self._purpose!r})"


def _guarded(pieces: Iterator[Any], doing: str) -> Iterator[Any]:
    """Streamed pieces, with errors in words; a stopped job stops between two pieces."""
    try:
        for piece in pieces:
            raise_if_stopped(doing)
            yield piece
    except StoppedError:
        close = getattr(pieces, "close", None)
        if callable(close):
            close()  # let the engine end its generation (and its thread) now
        raise
    except Exception as e:
        raise readable_engine_error(e, doing) from e


class Engines:
    """The engines of one profile, built on first use and shared process-wide.

    `calls` counts model calls per purpose; `loads` (on the process-wide cache) counts model loads.
    """

    @classmethod
    def for_home(cls, home: DataHome) -> Engines:
        """The engines of the active profile (AIUTEUR_PROFILE, else the machine's) for a data folder:
        what the app, the CLI and the runner all build when no engines are given."""
        from aiuteur.engines.profiles import active_profile

        return cls(active_profile(models_dir=home.models).profile, home)

    def __init__(self, profile: Profile, home: DataHome, *, cache: EngineCache | None = None) -> None:
        self.profile = profile
        self.home = home
        self.cache = cache if cache is not None else CACHE
        self.calls: Counter[str] = Counter()

    @property
    def models_dir(self) -> Path:
        return self.home.models

    def get(self, kind: str, purpose: str = "") -> CountedEngine:
        """The engine of `kind` ("text", "image", …) wrapped to count calls under `purpose`.

        Nothing loads until the engine is first used, so a stage that turns out not to need a
        model (importing a screenplay, say) never loads one.
        """
        spec = self.profile.spec(kind)

        def local() -> Any:
            if self.profile.name == "tiny" or str(spec.get("model", "")).startswith("tiny/"):
                ensure_tiny(kind, self.models_dir, spec)
            return self.cache.get(kind, spec, self.models_dir)

        def load() -> Any:
            if self.profile.tables.get("cluster") or os.environ.get("AIUTEUR_RAY_ADDRESS"):
                from aiuteur.engines.cluster import remote_engine  # Ray is imported only with a cluster

                remote = remote_engine(self.profile, kind, self.models_dir, local=local)
                if remote is not None:
                    return remote
            return local()

        return CountedEngine(None, purpose or kind, self.calls, kind, loader=load)

    def text(self, purpose: str = "text") -> Any:
        """The text engine (a `TextEngine`)."""
        return self.get("text", purpose)

    def image(self, purpose: str = "image") -> Any:
        """The image engine (an `ImageEngine`)."""
        return self.get("image", purpose)

    def matting(self, purpose: str = "matting") -> Any:
        """The matting engine (a `MattingEngine`)."""
        return self.get("matting", purpose)

    def vision(self, purpose: str = "vision") -> Any:
        """The vision engine (a `VisionEngine`)."""
        return self.get("vision", purpose)

    def video(self, purpose: str = "video") -> Any:
        """The video engine (a `VideoEngine`)."""
        return self.get("video", purpose)

    def embedding(self, purpose: str = "embedding") -> Any:
        """The embedding engine (an `EmbeddingEngine`)."""
        return self.get("embedding", purpose)

    def voice(self, purpose: str = "voice") -> Any:
        """The voice engine (a `VoiceEngine`); the tone test voice when the profile has no [voice] table."""
        if "voice" not in self.profile.tables:
            spec: dict[str, Any] = {"backend": "tone"}
            return CountedEngine(None, purpose, self.calls, "voice",
                                 loader=lambda: self.cache.get("voice", spec, self.models_dir))
        return self.get("voice", purpose)

    def parallelism(self, kind: str) -> int:
        """How many items of `kind` may run at once: the cluster's replicas, else 1 (in-process)."""
        engine = self.get(kind).engine
        return max(1, int(getattr(engine, "parallelism", 1) or 1))

    def cancel_all(self) -> int:
        """Cancel the cluster requests still queued or running (Stop); returns how many."""
        if "aiuteur.engines.cluster" not in sys.modules:
            return 0
        from aiuteur.engines.cluster import _REMOTES

        return sum(remote.cancel_all() for remote in list(_REMOTES.values()))

    def model_calls(self) -> dict[str, int]:
        """Calls per purpose, for the CLI's `model_calls`."""
        return dict(self.calls)
