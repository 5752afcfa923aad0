"""Video engines: a start-frame + end-frame clip from a diffusers pipeline, or the animatic only.

`DiffusersVideo` runs one of these families:

| backend | pipeline | family | end frame |
|---|---|---|---|
| diffusers-ltx2 | `LTX2ConditionPipeline` | `ltx2` (LTX-2, video + optional audio) | a condition at the last index |
| diffusers-ltx | `LTXConditionPipeline` | `ltx-video` (LTX-Video 0.9.x) | a condition at the last index |
| diffusers-wan | `WanImageToVideoPipeline` | `wan2.2-i2v` (Wan2.2 I2V-A14B: two experts) | `last_image=` |
| diffusers-wan | `WanImageToVideoPipeline` | `wan2.1-flf2v` (Wan2.1 FLF2V-14B, CLIP image encoder) | `last_image=` (needed) |
| diffusers-wan | `WanImageToVideoPipeline` | `wan2.2-ti2v` (Wan2.2 TI2V-5B, `expand_timesteps`) | **ignored by the pipeline** |

The Wan family is read from the pipeline's own config (`model_index.json`) before any weights
load, so a model whose pipeline silently drops `last_image` (TI2V-5B) is refused for a shot
with an end frame, with a sentence that says why, instead of rendering a clip that never
reaches its end keyframe. A few-step distilled variant is the same pipeline with a distill
LoRA (`lora = {path, weight_name}`; loaded into both Wan2.2 experts) or distilled weights, and
`steps`/`guidance` set to what the distill wants (4 steps, guidance 1).

Every clip is written as an h264 mp4 with exactly the requested frame count: the pipelines need
8k+1 (LTX) or 4k+1 (Wan) frames, so the engine asks for the next valid count and trims.

One GPU call per segment: `render` estimates the clip's GPU seconds (`seconds_per_frame` from
what this process measured, else the profile, else a rough table, scaled by pixels) and, where
the host limits a GPU call (`aiuteur.engines.zerogpu.call_limit_s`), splits a clip that would run
past it into segments that each fit (each segment starts on the previous one's last frame; only
the last segment is conditioned on the end keyframe) or, when even one short segment would not
fit, refuses it before anything starts. `plan_clip` says which, for stage 11's estimate.

`AnimaticOnly` is the video engine of profiles without a video model: it refuses clearly, and
the animatic (`aiuteur.engines.animatic.write_animatic`) is used instead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.animatic import encode_frames
from aiuteur.engines.base import EngineError, ProgressFn
from aiuteur.engines.pipes import (
    load_pipeline,
    pick_device,
    pick_dtype,
    resolve_model,
    run_pipeline,
    weight_bytes,
)
from aiuteur.engines.zerogpu import TIMINGS, call_limit_s, duration_for, gpu_entry

log = logging.getLogger(__name__)

_KINDS: dict[str, tuple[str, int]] = {
    # backend -> (pipeline class, frame count granularity: counts are k * n + 1)
    "diffusers-ltx": ("LTXConditionPipeline", 8),
    "diffusers-ltx2": ("LTX2ConditionPipeline", 8),
    "diffusers-wan": ("WanImageToVideoPipeline", 4),
}

#: What each family is called in messages, and whether its pipeline uses an end frame.
FAMILIES: dict[str, tuple[str, bool]] = {
    "ltx2": ("LTX-2", True),
    "ltx-video": ("LTX-Video", True),
    "wan2.1-flf2v": ("Wan2.1 first/last-frame (FLF2V)", True),
    "wan2.2-i2v": ("Wan2.2 I2V-A14B", True),
    "wan2.2-ti2v": ("Wan2.2 TI2V-5B", False),
}

#: Rough GPU seconds per output frame and denoising step at 1280×720 on one H100/H200-class GPU
#: with classifier-free guidance (half without), used when neither this process nor the profile has
#: a measured figure. Not measured here (no GPU was lent): from published reports, see
#: docs/benchmarks.md; `bench/gpu.py` measures the real ones.
FALLBACK_SECONDS_PER_FRAME_STEP: dict[str, float] = {
    "ltx2": 0.03,  # LTX-2 19B, 30 steps: ~0.9 s per frame
    "ltx-video": 0.01,  # LTX-Video 13B: ~0.3 s per frame at 30 steps
    "wan2.1-flf2v": 0.22,  # Wan2.1 FLF2V-14B, 50 steps: ~11 s per frame (~15 min per 81 frames)
    "wan2.2-i2v": 0.2,  # Wan2.2 I2V-A14B, 40 steps: ~8 s per frame
    "wan2.2-ti2v": 0.06,  # Wan2.2 TI2V-5B, 50 steps: ~3 s per frame
}
#: Pixels the per-frame figures are for (1280×720).
TIMING_PIXELS = 1280 * 720
#: Seconds of every GPU call that do not grow with frames (moving weights, encoding, decoding).
CALL_OVERHEAD_S = 8.0


class LoraOptions(BaseModel):
    """A LoRA (a few-step distill, say) loaded on top of the video model."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Folder or hub id holding the LoRA (relative to the models folder).")
    weight_name: str | None = Field(default=None, description="The .safetensors file in it.")
    scale: float = Field(default=1.0, description="LoRA strength.")
    path_2: str | None = Field(default=None, description="Wan2.2: a LoRA folder for the low-noise expert.")
    weight_name_2: str | None = Field(default=None, description="Wan2.2: its file (default: weight_name).")


class DiffusersVideoOptions(BaseModel):
    """The profile's [video] table for a diffusers video pipeline."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["diffusers-ltx", "diffusers-ltx2", "diffusers-wan"]
    model: str = Field(description="Pipeline folder or hub id (relative to the models folder).")
    steps: int = Field(default=30, ge=1, description="Denoising steps.")
    guidance: float = Field(default=3.0, ge=0, description="Classifier-free guidance scale.")
    max_side: int = Field(default=768, ge=32, description="Longest side of the clip in pixels.")
    negative_prompt: str = Field(default="worst quality, blurry, jittery, distorted")
    lora: LoraOptions | None = Field(default=None, description="A LoRA such as a few-step distill.")
    audio: bool = Field(default=False, description="LTX-2: keep the generated sound in the mp4.")
    condition_crf: int | None = Field(
        default=None, ge=0, le=51,
        description="LTX-2: H.264 CRF keyframes are re-compressed with before conditioning (None: the "
        "model's default when PyAV is installed, else 0 = none).",
    )  # fmt: skip
    seconds_per_frame: float | None = Field(
        default=None, gt=0, description="Measured GPU seconds per frame at 1280×720 (from bench/gpu.py)."
    )
    split_long_clips: bool = Field(
        default=True, description="Split a clip longer than one GPU call into segments (else refuse it)."
    )
    device: str = Field(default="auto")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(default="auto")
    offload: bool = Field(default=False, description="Model CPU offload for large models on smaller GPUs.")
    timeout_s: float | None = Field(default=None, gt=0)


def valid_frame_count(n: int, step: int) -> int:
    """The smallest count of the form k*step + 1 that is at least `n`."""
    k = max(1, -(-(n - 1) // step))
    return k * step + 1


@dataclass(frozen=True)
class ClipPlan:
    """How a clip will be rendered: in how many GPU calls of how many frames, or why not at all."""

    num_frames: int
    seconds: float  # estimated GPU seconds in all
    segments: list[int] = field(default_factory=list)  # output frames of each GPU call
    limit_s: float | None = None  # the per-call limit that applied (None: none here)
    refused: str = ""  # why the clip cannot be rendered here ("" when it can)

    @property
    def split(self) -> bool:
        return len(self.segments) > 1


class DiffusersVideo:
    """A clip from a start keyframe and an optional end keyframe (LTX-2, LTX-Video, Wan).

    Components: `pipe`, the diffusers pipeline, loaded on first use and reused.
    """

    def __init__(self, options: DiffusersVideoOptions, models_dir: Path | None = None) -> None:
        self.options = options
        self.models_dir = Path(models_dir) if models_dir is not None else Path.cwd()
        self.backend = options.backend
        self.model_id = options.model
        self.device = pick_device(options.device)
        self.pipe: Any = None
        self._family: str | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> DiffusersVideo:
        """Build from a profile table such as {backend="diffusers-ltx2", model="tiny/ltx2"}."""
        fields = {k: v for k, v in spec.items() if k not in {"label", "note"}}
        return cls(DiffusersVideoOptions.model_validate(fields), models_dir)

    # -- what this model is ----------------------------------------------------------------------

    @property
    def source(self) -> str:
        return resolve_model(self.options.model, self.models_dir)

    def _pipeline_config(self) -> dict[str, Any]:
        """The pipeline's model_index.json (read without loading weights; {} when unreadable)."""
        if self.pipe is not None:
            return dict(self.pipe.config)
        local = Path(self.source) / "model_index.json"
        try:
            if local.is_file():
                return dict(json.loads(local.read_text()))
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(self.options.model, "model_index.json")
            return dict(json.loads(Path(cached).read_text())) if isinstance(cached, str) else {}
        except (OSError, ValueError):
            return {}

    @property
    def family(self) -> str:
        """The model family, read from the pipeline's config for Wan (see the module docstring)."""
        if self._family is None:
            if self.backend == "diffusers-ltx2":
                self._family = "ltx2"
            elif self.backend == "diffusers-ltx":
                self._family = "ltx-video"
            else:
                config = self._pipeline_config()
                if config.get("expand_timesteps"):
                    self._family = "wan2.2-ti2v"
                elif config.get("boundary_ratio") is not None or (config.get("transformer_2") or [None])[0]:
                    self._family = "wan2.2-i2v"
                else:
                    self._family = "wan2.1-flf2v"
        return self._family

    @property
    def family_label(self) -> str:
        return FAMILIES[self.family][0]

    @property
    def supports_end_frame(self) -> bool:
        """Whether the pipeline conditions on an end frame (False: it would silently ignore one)."""
        return FAMILIES[self.family][1]

    @property
    def needs_end_frame(self) -> bool:
        """FLF2V weights are trained on both frames: a shot without an end frame holds its start."""
        return self.family == "wan2.1-flf2v"

    def refusal(self, has_end: bool) -> str:
        """Why a clip with (or without) an end frame cannot be made with this model ('' when it can)."""
        if has_end and not self.supports_end_frame:
            return (
                f"The video model {self.model_id} ({self.family_label}) ignores the end frame: its pipeline "
                "conditions on the start frame only, so the clip would not reach the shot's end keyframe. "
                "Use a start+end model (LTX-2, Wan2.2 I2V-A14B or Wan2.1 FLF2V: the studio profile), or "
                "remove the shot's end frame in stage 10."
            )
        return ""

    # -- timing and the per-call limit --------------------------------------------------------

    def seconds_per_frame(self, width: int = 1280, height: int = 720) -> tuple[float, str]:
        """GPU seconds per output frame at this size, and where the figure comes from."""
        measured = TIMINGS.per_unit(f"video:{self.model_id}:{width}x{height}")
        if measured is not None:
            return measured, "measured in this session"
        scale = (width * height) / TIMING_PIXELS
        if self.options.seconds_per_frame is not None:
            return self.options.seconds_per_frame * scale, "the profile's measured figure"
        if self.model_id.startswith("tiny/"):
            return 0.02, "a tiny random-weight test model"
        passes = 1.0 if self.options.guidance > 1.0 else 0.5
        per_frame = FALLBACK_SECONDS_PER_FRAME_STEP[self.family] * self.options.steps * passes * scale
        return per_frame, (f"a rough figure for {self.family_label} at {self.options.steps} steps"
                           f"{'' if passes == 1.0 else ' without guidance'}, not measured here")

    def default_clip_size(self) -> tuple[int, int]:
        """(width, height) of a 16:9 clip within max_side, as `clip_size` makes it."""
        return self.clip_size(Image.new("RGB", (1280, 720)))

    def plan_clip(self, num_frames: int, width: int = 1280, height: int = 720, *,
                  seconds_per_frame: float | None = None, limit_s: float | None = None,
                  has_end: bool = False) -> ClipPlan:
        """How a clip of `num_frames` will be rendered here: one call, segments, or refused (and why)."""
        per_frame = seconds_per_frame if seconds_per_frame is not None else self.seconds_per_frame(width, height)[0]
        limit = call_limit_s() if limit_s is None else limit_s
        total = CALL_OVERHEAD_S + num_frames * per_frame
        refused = self.refusal(has_end)
        if refused:
            return ClipPlan(num_frames, total, [], limit, refused)
        if limit is None or total <= limit:
            return ClipPlan(num_frames, total, [num_frames], limit)
        _, granularity = _KINDS[self.backend]
        fit = int((limit / 1.3 - CALL_OVERHEAD_S) / per_frame)  # frames one call can make, with a margin
        fit = (fit - 1) // granularity * granularity + 1 if fit > granularity else 0
        if not self.options.split_long_clips or fit < granularity + 1:
            why = (
                f"one call could render only {max(0, fit)} frames"
                if self.options.split_long_clips else "splitting long clips is turned off in the profile"
            )
            return ClipPlan(num_frames, total, [], limit, (
                f"This clip of {num_frames} frames needs about {total:.0f} s of GPU time, more than the "
                f"{limit:.0f} s one GPU call may last here, and {why}. Shorten the shot in stage 7, lower the "
                "video size (max_side) or steps in the profile, or render on a host without a per-call limit."
            ))
        segments: list[int] = []
        left = num_frames
        while left > 0:
            # Segments after the first re-use the previous segment's last frame as their first.
            take = min(left + (1 if segments else 0), fit)
            segments.append(take)
            left -= take - (1 if len(segments) > 1 else 0)
        calls = len(segments)
        return ClipPlan(num_frames, CALL_OVERHEAD_S * calls + num_frames * per_frame, segments, limit)

    # -- loading -----------------------------------------------------------------------------

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the loaded weights (0 before loading)."""
        return weight_bytes(self.pipe.components.values()) if self.pipe is not None else 0

    def close(self) -> None:
        """Drop the pipeline so its memory can be freed."""
        self.pipe = None

    def load(self) -> Any:
        """Load the pipeline (and its LoRA) once; later calls return the same one."""
        with self._lock:
            if self.pipe is None:
                opts, source = self.options, self.source
                lora = opts.lora
                self.pipe = load_pipeline(
                    _KINDS[opts.backend][0], source, what=f"the video model {opts.model!r} ({source})",
                    device=self.device, dtype=pick_dtype(opts.dtype, self.device), offload=opts.offload,
                    prepare=(lambda pipe: self._load_lora(pipe, lora)) if lora is not None else None,
                )
                self._family = None  # read again from the loaded config
                log.info("loaded %s video model %s on %s", self.family, opts.model, self.device)
                self._family = None  # read again from the loaded config
                log.info("loaded %s video model %s on %s", self.family, self.options.model, self.device)
            return self.pipe

    def _load_lora(self, pipe: Any, lora: LoraOptions) -> None:
        path = resolve_model(lora.path, self.models_dir)
        names = ["distill"]
        pipe.load_lora_weights(path, weight_name=lora.weight_name, adapter_name="distill", local_files_only=True)
        if getattr(pipe, "transformer_2", None) is not None:
            path_2 = resolve_model(lora.path_2 or lora.path, self.models_dir)
            pipe.load_lora_weights(path_2, weight_name=lora.weight_name_2 or lora.weight_name,
                                   adapter_name="distill_2", load_into_transformer_2=True, local_files_only=True)
            names.append("distill_2")
        pipe.set_adapters(names, adapter_weights=[lora.scale] * len(names))

    def clip_size(self, image: Image.Image) -> tuple[int, int]:
        """(width, height): the start frame's shape within max_side, both sides multiples of 32."""
        scale = min(1.0, self.options.max_side / max(image.size))
        w, h = (max(32, int(side * scale) // 32 * 32) for side in image.size)
        return w, h

    # -- rendering -----------------------------------------------------------------------------

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
        """Write an mp4 of `num_frames` frames at `fps` that starts on `start` (and ends on `end`).

        Raises:
            EngineError: bad arguments; an end frame this model would ignore; a clip that does not
                fit the host's per-call GPU limit even in segments; the model failing.
        """
        if num_frames < 2:
            raise EngineError(f"A clip needs at least 2 frames; got {num_frames}.")
        if fps <= 0:
            raise EngineError(f"fps must be positive; got {fps}.")
        if end is not None and self.refusal(True):
            raise EngineError(self.refusal(True))
        w, h = self.clip_size(start)
        if end is None and self.needs_end_frame:
            end = start  # FLF2V is trained on both frames: a shot without an end frame holds its start
        plan = self.plan_clip(num_frames, w, h, has_end=end is not None)
        if plan.refused:
            raise EngineError(plan.refused)
        first = start.convert("RGB").resize((w, h))
        last = end.convert("RGB").resize((w, h)) if end is not None else None
        frames: list[Image.Image] = []
        audio: Any = None
        for i, count in enumerate(plan.segments):
            final = i == len(plan.segments) - 1
            seg_start = first if not frames else frames[-1]

            def seg_progress(f: float, what: str, i: int = i) -> None:
                if progress is not None:
                    progress((i + f) / len(plan.segments), what)

            made, audio = self._render_segment(seg_start, last if final else None, prompt, count, fps,
                                               seed + i, (w, h), seg_progress)
            frames.extend(made if not frames else made[1:])  # a segment's first frame is the last one's end
        frames = frames[:num_frames]
        out = encode_frames(frames, Path(out_path), fps=fps, size=(w, h))
        if audio is not None and self.options.audio and len(plan.segments) == 1:
            _mux_audio(out, audio, int(getattr(self.pipe.vocoder.config, "output_sampling_rate", 24000)))
        return out

    def _segment_seconds(self, start: Image.Image, end: Image.Image | None, prompt: str, count: int,
                         fps: int, seed: int, size: tuple[int, int], progress: ProgressFn | None) -> int:
        """The ZeroGPU duration of one segment: its estimate with a margin (loading counted once)."""
        per_frame, _ = self.seconds_per_frame(*size)
        load = 60.0 if self.pipe is None else 0.0
        return duration_for(CALL_OVERHEAD_S + load + count * per_frame)

    @gpu_entry(lambda self, *a, **k: self._segment_seconds(*a, **k))
    def _render_segment(self, start: Image.Image, end: Image.Image | None, prompt: str, count: int, fps: int,
                        seed: int, size: tuple[int, int], progress: ProgressFn | None) -> tuple[list[Image.Image], Any]:
        """One GPU call: `count` frames from `start` (to `end`), as PIL images, and any audio."""
        import torch

        opts = self.options
        _, granularity = _KINDS[opts.backend]
        frames_needed = valid_frame_count(count, granularity)
        w, h = size
        t0 = time.perf_counter()
        with self._lock:
            pipe = self.load()
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
            }
            kwargs.update(self._conditioning(start, end, frames_needed, fps))
            output = run_pipeline(pipe, kwargs, progress=progress, timeout_s=opts.timeout_s,
                                  what=f"rendering a {count}-frame {w}×{h} clip", stopped="Video rendering")
        TIMINGS.add(f"video:{self.model_id}:{w}x{h}", frames_needed, time.perf_counter() - t0)
        return list(output.frames[0])[:count], getattr(output, "audio", None)

    def _conditioning(self, first: Image.Image, last: Image.Image | None, frames_needed: int,
                      fps: int) -> dict[str, Any]:
        """The pipeline arguments that put `first` on frame 0 and `last` on the final frame."""
        if self.backend == "diffusers-ltx2":
            from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

            crf = self._condition_crf()
            conditions = [LTX2VideoCondition(frames=first, index=0, strength=1.0, crf=crf)]
            if last is not None:
                # LTX-2 counts condition indices in latent frames; -1 is the last one whatever the VAE.
                conditions.append(LTX2VideoCondition(frames=last, index=-1, strength=1.0, crf=crf))
            return {"conditions": conditions, "frame_rate": float(fps)}
        if self.backend == "diffusers-ltx":
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            conds = [LTXVideoCondition(image=first, frame_index=0)]
            if last is not None:
                conds.append(LTXVideoCondition(image=last, frame_index=frames_needed - 1))
            return {"conditions": conds, "frame_rate": fps}
        return {"image": first, "last_image": last}

    def _condition_crf(self) -> int | None:
        if self.options.condition_crf is not None:
            return self.options.condition_crf
        try:
            import av  # noqa: F401  (PyAV re-compresses keyframes the way LTX-2 was trained)
        except ImportError:
            log.info("PyAV is not installed: LTX-2 keyframes are conditioned without H.264 re-compression")
            return 0
        return None


def _mux_audio(video: Path, audio: Any, sample_rate: int) -> None:
    """Put LTX-2's generated sound into the clip (mono or stereo float waveform)."""
    import subprocess
    import wave

    import numpy as np

    from aiuteur.engines.animatic import ffmpeg_exe

    data = audio[0] if isinstance(audio, list | tuple) else audio
    arr = np.asarray(data.float().cpu().numpy() if hasattr(data, "cpu") else data, dtype=np.float32)
    arr = arr.reshape(-1, arr.shape[-1]) if arr.ndim > 1 else arr[None, :]
    pcm = (np.clip(arr.T, -1, 1) * 32767).astype("<i2")
    wav = video.with_suffix(".wav")
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(pcm.shape[1])
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
    muxed = video.with_suffix(".av.mp4")
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-i", str(wav), "-c:v", "copy",
           "-c:a", "aac", "-shortest", str(muxed)]  # fmt: skip
    if subprocess.run(cmd, capture_output=True).returncode == 0:
        muxed.replace(video)
    wav.unlink(missing_ok=True)


def segments_note(plan: ClipPlan) -> str:
    """One sentence on how a clip is split across GPU calls ('' for one call)."""
    if not plan.split or plan.limit_s is None:
        return ""
    return (f"{len(plan.segments)} GPU calls of {', '.join(str(n) for n in plan.segments)} frames "
            f"(one call may last {plan.limit_s:.0f} s here)")


class AnimaticOnly:
    """The video engine of profiles without a video model: it says so, and points at the animatic."""

    backend = "animatic"
    model_id = "animatic"
    family = "animatic"
    supports_end_frame = True
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


__all__ = ["FAMILIES", "AnimaticOnly", "ClipPlan", "DiffusersVideo", "DiffusersVideoOptions",
           "segments_note", "valid_frame_count"]
