"""How long one GPU call may take, and how long each GPU entry point asks for (ZeroGPU).

On a ZeroGPU Space every GPU entry point runs under `spaces.GPU(duration=...)`: the Space
attaches a GPU for that many seconds and stops the call when they run out. Each entry point
(a keyframe, a video segment) therefore declares its duration from timings: first what this
process measured for the same model (`Timings`), then the profile's figure (`seconds_per_image`,
`seconds_per_frame`: put there from `bench/gpu.py`), then a rough table by family. The per-call
limit is `AIUTEUR_GPU_CALL_LIMIT_S` when set, else 300 s on a Space (ZeroGPU's reported
ceiling) and none elsewhere; a clip that would run past it is split into segments that fit, or
refused before it starts (`aiuteur.engines.video`), and stage 11 says which.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

ZEROGPU_LIMIT_S = 300.0
#: Asked-for seconds are this much above the estimate (the estimate is a mean; a call that
#: runs out of its duration is killed), and never under MIN_DURATION_S.
MARGIN = 1.3
MIN_DURATION_S = 10.0


def on_zerogpu(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs on a ZeroGPU Space."""
    e = os.environ if env is None else env
    return bool(e.get("SPACES_ZERO_GPU") or e.get("ZEROGPU_V2"))


def call_limit_s(env: Mapping[str, str] | None = None) -> float | None:
    """The longest one GPU call may last here: AIUTEUR_GPU_CALL_LIMIT_S, else 300 s on ZeroGPU, else None."""
    e = os.environ if env is None else env
    raw = e.get("AIUTEUR_GPU_CALL_LIMIT_S", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = 0.0
        if value > 0:
            return value
        log.warning("AIUTEUR_GPU_CALL_LIMIT_S=%r is not a positive number of seconds; ignored", raw)
    return ZEROGPU_LIMIT_S if on_zerogpu(e) else None


def duration_for(estimate_s: float, limit_s: float | None = None) -> int:
    """Seconds to ask ZeroGPU for: the estimate with a margin, at least MIN_DURATION_S, at most the limit."""
    limit = call_limit_s() if limit_s is None else limit_s
    asked = max(MIN_DURATION_S, estimate_s * MARGIN)
    return int(min(asked, limit) if limit else asked)


class Timings:
    """Seconds per unit (per image, per frame) measured in this process, by model: a running mean."""

    def __init__(self) -> None:
        self._sums: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def add(self, model_id: str, units: float, seconds: float) -> None:
        if units <= 0 or seconds <= 0:
            return
        with self._lock:
            s, u = self._sums.get(model_id, (0.0, 0.0))
            self._sums[model_id] = (s + seconds, u + units)

    def per_unit(self, model_id: str) -> float | None:
        with self._lock:
            s, u = self._sums.get(model_id, (0.0, 0.0))
        return s / u if u else None


TIMINGS = Timings()

#: Rough GPU seconds per keyframe at 1024² on one H100/H200-class GPU, per family at the steps the
#: profiles use, when nothing was measured (not measured here: no GPU was lent; see docs/benchmarks.md).
FALLBACK_SECONDS_PER_IMAGE: dict[str, float] = {
    "qwen-image-edit": 30.0,  # 20B MMDiT, 40 steps with true CFG
    "flux2-klein": 3.0,  # 4B, 4 steps
    "sdxl": 6.0,  # 30 steps + IP-Adapter
    "sd15": 3.0,
}


def image_seconds(model_id: str, family: str, width: int, height: int, steps: int,
                  profile_figure: float | None = None) -> float:
    """Estimated GPU seconds of one keyframe: measured here, else the profile's figure, else the table.

    Figures are per image at 1024² and the profile's steps; they scale with pixels.
    """
    measured = TIMINGS.per_unit(f"image:{model_id}")
    scale = (width * height) / (1024 * 1024)
    if measured is not None:
        return measured * scale
    if model_id.startswith("tiny/"):
        return 1.0
    base = profile_figure if profile_figure is not None else FALLBACK_SECONDS_PER_IMAGE.get(family, 30.0)
    return base * scale


def gpu_entry(duration: Callable[..., float]) -> Callable[[F], F]:
    """Mark a GPU entry point: `spaces.GPU(duration=...)` where `spaces` is installed, else unchanged.

    `duration` takes the same arguments as the function and returns the seconds to ask for;
    off ZeroGPU `spaces.GPU` does nothing, so the function runs as is.
    """

    def decorate(fn: F) -> F:
        try:
            import spaces
        except ImportError:  # pragma: no cover - spaces is a declared dependency
            return fn
        wrapped: F = spaces.GPU(duration=duration)(fn)
        return wrapped

    return decorate
