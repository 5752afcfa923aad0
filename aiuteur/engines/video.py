"""Video engines: a start-frame + end-frame clip from a diffusers pipeline, or the animatic only.

`DiffusersVideo` runs either LTX-Video's condition pipeline (the start frame conditions frame 0
and the end frame the last frame) or Wan's image-to-video pipeline in its first/last-frame form
(`image=` start, `last_image=` end; Wan2.1 FLF2V). Both write an h264 mp4 with exactly the
requested frame count: the pipelines need 8k+1 (LTX) or 4k+1 (Wan) frames, so the engine asks
for the next valid count and trims. The tiny profile runs the same class on `tiny/ltx` or
`tiny/wan` built by `models/tiny_image.py`.

`AnimaticOnly` is the video engine of profiles without a video model: it refuses clearly, and
the animatic (`aiuteur.engines.animatic.write_animatic`) is used instead.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.animatic import encode_frames
from aiuteur.engines.base import EngineError, ProgressFn
from aiuteur.engines.image_diffusers import (
    StepReporter,
    gpu,
    pick_device,
    pick_dtype,
    readable_error,
    resolve_model,
)

log = logging.getLogger(__name__)

_KINDS: dict[str, tuple[str, int]] = {
    # backend -> (pipeline class, frame count granularity: counts are k * n + 1)
    "diffusers-ltx": ("LTXConditionPipeline", 8),
    "diffusers-wan": ("WanImageToVideoPipeline", 4),
}


class DiffusersVideoOptions(BaseModel):
    """The profile's [video] table for a diffusers video pipeline."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["diffusers-ltx", "diffusers-wan"]
    model: str = Field(description="Pipeline folder or hub id (relative to the models folder).")
    steps: int = Field(default=30, ge=1, description="Denoising steps.")
    guidance: float = Field(default=3.0, ge=0, description="Classifier-free guidance scale.")
    max_side: int = Field(default=768, ge=32, description="Longest side of the clip in pixels.")
    negative_prompt: str = Field(default="worst quality, blurry, jittery, distorted")
    device: str = Field(default="auto")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(default="auto")
    offload: bool = Field(default=False, description="Model CPU offload for large models on smaller GPUs.")
    timeout_s: float | None = Field(default=None, gt=0)


def valid_frame_count(n: int, step: int) -> int:
    """The smallest count of the form k*step + 1 that is at least `n`."""
    k = max(1, -(-(n - 1) // step))
    return k * step + 1


class DiffusersVideo:
    """A clip from a start keyframe and an optional end keyframe (LTX condition or Wan FLF2V).

    Components: `pipe`, the diffusers pipeline, loaded on first use and reused.
    """

    def __init__(self, options: DiffusersVideoOptions, models_dir: Path | None = None) -> None:
        self.options = options
        self.models_dir = Path(models_dir) if models_dir is not None else Path.cwd()
        self.backend = options.backend
        self.model_id = options.model
        self.device = pick_device(options.device)
        self.pipe: Any = None
        self._lock = threading.RLock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> DiffusersVideo:
        """Build from a profile table such as {backend="diffusers-ltx", model="tiny/ltx"}."""
        fields = {k: v for k, v in spec.items() if k not in {"label", "note"}}
        return cls(DiffusersVideoOptions.model_validate(fields), models_dir)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the loaded weights (0 before loading)."""
        if self.pipe is None:
            return 0
        return sum(
            p.numel() * p.element_size()
            for c in self.pipe.components.values()
            if hasattr(c, "parameters")
            for p in c.parameters()
        )

    def close(self) -> None:
        """Drop the pipeline so its memory can be freed."""
        self.pipe = None

    def load(self) -> Any:
        """Load the pipeline once; later calls return the same one."""
        with self._lock:
            if self.pipe is None:
                import diffusers

                cls_name, _ = _KINDS[self.options.backend]
                source = resolve_model(self.options.model, self.models_dir)
                dtype = pick_dtype(self.options.dtype, self.device)
                try:
                    pipe = getattr(diffusers, cls_name).from_pretrained(
                        source, dtype=dtype, local_files_only=True
                    )
                    if self.options.offload and self.device.startswith("cuda"):
                        pipe.enable_model_cpu_offload()
                    else:
                        pipe.to(self.device)
                except Exception as exc:
                    raise readable_error(exc, f"the video model {self.options.model!r} ({source})") from exc
                pipe.set_progress_bar_config(disable=True)  # progress goes through the callback
                self.pipe = pipe
                log.info("loaded video model %s on %s", self.options.model, self.device)
            return self.pipe

    def clip_size(self, image: Image.Image) -> tuple[int, int]:
        """(width, height): the start frame's shape within max_side, both sides multiples of 32."""
        scale = min(1.0, self.options.max_side / max(image.size))
        w, h = (max(32, int(side * scale) // 32 * 32) for side in image.size)
        return w, h

    @gpu
    def render(
        self,
        start: Image.Image,
        end: Image.Image | None,
        prompt: str,
        out_path: Path,
        *,
        num_frames: int,
        fps: int,
        seed: int,
        progress: ProgressFn | None = None,
    ) -> Path:
        """Write an mp4 of `num_frames` frames at `fps` that starts on `start` (and ends on `end`)."""
        import torch

        if num_frames < 2:
            raise EngineError(f"A clip needs at least 2 frames; got {num_frames}.")
        if fps <= 0:
            raise EngineError(f"fps must be positive; got {fps}.")
        _, granularity = _KINDS[self.options.backend]
        frames_needed = valid_frame_count(num_frames, granularity)
        w, h = self.clip_size(start)
        first = start.convert("RGB").resize((w, h))
        last = end.convert("RGB").resize((w, h)) if end is not None else None
        opts = self.options
        with self._lock:
            pipe = self.load()
            reporter = StepReporter(progress, opts.timeout_s)
            kwargs: dict[str, Any] = {
                "prompt": prompt,
                "negative_prompt": opts.negative_prompt,
                "height": h,
                "width": w,
                "num_frames": frames_needed,
                "num_inference_steps": opts.steps,
                "guidance_scale": opts.guidance,
                "generator": torch.Generator("cpu").manual_seed(seed),
                "output_type": "pil",
                "callback_on_step_end": reporter,
            }
            if opts.backend == "diffusers-ltx":
                from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

                conditions = [LTXVideoCondition(image=first, frame_index=0)]
                if last is not None:
                    conditions.append(LTXVideoCondition(image=last, frame_index=frames_needed - 1))
                kwargs.update(conditions=conditions, frame_rate=fps)
            else:
                kwargs.update(image=first, last_image=last)
            try:
                frames = pipe(**kwargs).frames[0]
            except Exception as exc:
                raise readable_error(exc, f"rendering a {num_frames}-frame {w}×{h} clip") from exc
        if reporter.timed_out:
            raise EngineError(
                f"Video rendering stopped after {opts.timeout_s:g} s (the profile's time limit)."
            )
        return encode_frames(list(frames)[:num_frames], Path(out_path), fps=fps, size=(w, h))


class AnimaticOnly:
    """The video engine of profiles without a video model: it says so, and points at the animatic."""

    backend = "animatic"
    model_id = "animatic"
    available = False
    reason = (
        "Video clips need a GPU profile with a start+end-frame video model (studio). "
        "This profile makes the animatic from the keyframes instead; it is always available."
    )

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> AnimaticOnly:
        """Build from a profile table {backend="animatic"}."""
        return cls()

    def render(
        self,
        start: Image.Image,
        end: Image.Image | None,
        prompt: str,
        out_path: Path,
        *,
        num_frames: int,
        fps: int,
        seed: int,
        progress: ProgressFn | None = None,
    ) -> Path:
        """Always raises EngineError: this profile has no video model."""
        raise EngineError(self.reason)
