"""What every diffusers engine does the same way: find the weights, load a pipeline, report its
steps, stop it on time and say what went wrong in words.

`DiffusersImage` (SD families), `DiffusersEditImage` (multi-reference edit families) and
`DiffusersVideo` (LTX, LTX-2, Wan) load their pipelines through `load_pipeline` and call them
through `run_pipeline`, so the local-files-only rule, CPU offload, the progress callback, the
time limit and the readable errors are written once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiuteur.engines.base import EngineError, ProgressFn, StoppedError, stop_requested

if TYPE_CHECKING:
    import torch


def resolve_model(value: str, models_dir: Path) -> str:
    """A profile's model value as `from_pretrained` takes it.

    An absolute path is used as is; a path relative to `models_dir` when that folder exists;
    anything else is a Hugging Face Hub id, loaded from the local cache only.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    local = models_dir / value
    if local.exists():
        return str(local)
    return value


def pick_device(device: str) -> str:
    """'auto' means cuda when a GPU is visible, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str, device: str) -> torch.dtype:
    """'auto' means float16 on cuda and float32 elsewhere."""
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


def readable_error(exc: BaseException, what: str) -> EngineError:
    """Turn an exception from torch/diffusers into an EngineError a person can act on."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if name == "OutOfMemoryError" or "out of memory" in text.lower():
        return EngineError(
            f"Out of GPU memory while {what}. Try a smaller size, fewer steps or fewer references, "
            "or a profile with a smaller model."
        )
    if isinstance(exc, OSError):
        return EngineError(f"Could not load the weights for {what}: {text}")
    return EngineError(f"{what[0].upper()}{what[1:]} failed ({name}): {text}")


def load_pipeline(cls_name: str, source: str, *, what: str, device: str, dtype: torch.dtype,
                  offload: bool = False, prepare: Callable[[Any], None] | None = None, **kwargs: Any) -> Any:
    """`diffusers.<cls_name>.from_pretrained(source)` from local files only, ready to call.

    `prepare(pipe)` runs before the pipeline moves (LoRA, adapters); then CPU offload when asked
    for on a GPU, else the move to `device`; the pipeline's own progress bar is turned off
    (progress goes through `run_pipeline`'s callback). Any failure is an EngineError naming
    `what` ("the video model 'x' (/models/x)").
    """
    import diffusers

    try:
        pipe = getattr(diffusers, cls_name).from_pretrained(source, dtype=dtype, local_files_only=True, **kwargs)
        if prepare is not None:
            prepare(pipe)
        if offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
    except EngineError:
        raise
    except Exception as exc:
        raise readable_error(exc, what) from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def weight_bytes(modules: Iterable[Any]) -> int:
    """Bytes held by the parameters of `modules` (each shared parameter counted once)."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        for p in module.parameters() if hasattr(module, "parameters") else []:
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel() * p.element_size()
    return total


class StepReporter:
    """A diffusers step callback: reports progress and interrupts on timeout or when the job is
    stopped (Stop pressed, caller gone): the pipeline then ends after the current step."""

    def __init__(self, progress: ProgressFn | None, timeout_s: float | None) -> None:
        self.progress = progress
        self.deadline = time.monotonic() + timeout_s if timeout_s else None
        self.timed_out = False
        self.stopped = False

    def raise_if_stopped(self, doing: str) -> None:
        """After the pipeline returned: a stopped job's half-denoised result is not an image."""
        if self.stopped:
            raise StoppedError(f"Stopped while {doing}: you pressed Stop or left the page; what was made "
                               "before is kept.")

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        total = max(int(getattr(pipe, "num_timesteps", 0) or 0), step + 1)
        if self.progress is not None:
            self.progress((step + 1) / total, f"denoising step {step + 1} of {total}")
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            pipe._interrupt = True
        if stop_requested():
            self.stopped = True
            pipe._interrupt = True
        return kwargs


def run_pipeline(pipe: Any, kwargs: dict[str, Any], *, progress: ProgressFn | None, timeout_s: float | None,
                 what: str, stopped: str) -> Any:
    """`pipe(**kwargs)` with step progress and the profile's time limit.

    A failure is an EngineError about `what` ("making a 512×512 image"); a call that ran past
    `timeout_s` is interrupted and raises "`stopped` stopped after N s (the profile's time limit)".
    """
    reporter = StepReporter(progress, timeout_s)
    try:
        output = pipe(**kwargs, callback_on_step_end=reporter)
    except EngineError:
        raise
    except Exception as exc:
        raise readable_error(exc, what) from exc
    reporter.raise_if_stopped(what)
    if reporter.timed_out:
        raise EngineError(f"{stopped} stopped after {timeout_s:g} s (the profile's time limit); "
                          "try fewer steps or a smaller size.")
    return output
