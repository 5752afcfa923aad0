"""Image engine on diffusers' multi-reference edit pipelines: Qwen-Image-Edit and FLUX.2 klein.

These models take several input images natively, so every in-frame asset's chosen reference is
an input image rather than an adapter embedding. The engine orders the inputs and tells the
model in words which image is whom:

    Picture 1 is the previous frame of this shot: keep its composition, camera and light.
    Picture 2 shows Mara (character), on the left of the frame: keep the face, hair, build and clothes exactly.
    Picture 3 shows Joe (character), on the right of the frame: keep the face, hair, build and clothes exactly.
    Picture 4 shows the lighthouse (location): keep its look exactly.
    Picture 5 is a style reference only: match its colours and rendering, not its content.
    <the stage-9 prompt>

Where each character stands comes from the shot's layout (`Reference.position`, set by the frames
stage from `aiuteur.pipeline.layout`).

Order: the image-to-image source (previous frame, or the shot's start frame for an end frame)
first, then the references most important first (characters, then props, then places, as the
caller ranks them with `Reference.importance`), and the style image last: the weakest position,
and the only one described as "style only" (these models have no per-image scale). Where the
request brings more images than the model takes (`max_references`), the least important are
left out and the image carries a note naming them (`base.NOTES_KEY`), which the frames stage
records with the take.

`qwen-image-edit` runs `QwenImageEditPlusPipeline` (which itself tags the inputs "Picture 1:",
"Picture 2:" … for its Qwen2.5-VL encoder, so the words above use the same names), with true
classifier-free guidance from the request's guidance. `flux2-klein` runs `Flux2KleinPipeline`
(images "image 1", "image 2" …); the distilled klein checkpoints want about 4 steps and
guidance 1, which the profile sets (`steps`, `guidance`). The tiny profile runs this same
class on random-weight models built by `models/tiny_image.py` (`tiny/qwen-image-edit`,
`tiny/flux2-klein`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.base import NOTES_KEY, EngineError, ImageRequest, ProgressFn, Reference, call_timeout_s
from aiuteur.engines.pipes import (
    load_pipeline,
    pick_device,
    pick_dtype,
    readable_error,
    resolve_model,
    run_pipeline,
    weight_bytes,
)
from aiuteur.engines.zerogpu import TIMINGS, duration_for, gpu_entry, image_seconds

log = logging.getLogger(__name__)

Family = Literal["qwen-image-edit", "flux2-klein"]

_PIPELINES: dict[str, str] = {
    "qwen-image-edit": "QwenImageEditPlusPipeline",
    "flux2-klein": "Flux2KleinPipeline",
}
#: How each family names its input images in a prompt.
_IMAGE_WORD: dict[str, str] = {"qwen-image-edit": "Picture", "flux2-klein": "image"}
#: Input images each family is made for (Qwen-Image-Edit-2509/2511: 1-3; FLUX.2 klein: up to 4 here).
DEFAULT_MAX_REFERENCES: dict[str, int] = {"qwen-image-edit": 3, "flux2-klein": 4}
#: Smallest side an input image may have (FLUX.2 refuses references under 64 px); smaller ones are enlarged.
_MIN_INPUT_SIDE: dict[str, int] = {"qwen-image-edit": 32, "flux2-klein": 64}
#: Output sides are rounded up to a multiple of this (VAE factor × patch), then resized back.
_SIDE_MULTIPLE = 32


class EditImageOptions(BaseModel):
    """The profile's [image] table for a multi-reference edit model."""

    model_config = ConfigDict(extra="forbid")

    family: Family = Field(description="Which edit pipeline: 'qwen-image-edit' or 'flux2-klein'.")
    model: str = Field(description="Pipeline folder or hub id (relative to the models folder).")
    max_references: int | None = Field(
        default=None, ge=1, le=10, description="Most input images per call (default: the family's)."
    )
    steps: int | None = Field(default=None, ge=1, description="Denoising steps (default: the request's).")
    guidance: float | None = Field(default=None, ge=0, description="Guidance (default: the request's).")
    device: str = Field(default="auto")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(default="auto")
    offload: bool = Field(default=False, description="Model CPU offload for large models on smaller GPUs.")
    timeout_s: float | None = Field(default=None, gt=0, description="Stop a generation after this long.")
    seconds_per_image: float | None = Field(
        default=None, gt=0, description="Measured GPU seconds per 1024² keyframe (bench/gpu.py): the ZeroGPU duration."
    )


@dataclass(frozen=True)
class InputImage:
    """One input image of an edit call and the sentence that says what it is."""

    image: Image.Image
    role: Literal["init", "reference", "style"]
    label: str


def _asset_words(ref: Reference) -> str:
    name = ref.name.strip() or "an asset of this shot"
    return f"{name} ({ref.kind})" if ref.kind else name


def _where(position: str) -> str:
    """Where a reference's asset stands in the shot ("on the left of the frame")."""
    if position == "centre":
        return "in the centre of the frame"
    if position in ("left", "right"):
        return f"on the {position} of the frame"
    return f"{position} of the frame"


def plan_inputs(request: ImageRequest, family: str, limit: int) -> tuple[list[InputImage], list[str]]:
    """The input images in the order the model gets them, and notes on what was left out.

    The init image comes first, the references most important first (ties keep the caller's
    order), the style image last; when there are more than `limit`, the style goes first, then
    the least important references.
    """
    refs = sorted(enumerate(request.references), key=lambda p: (-p[1].importance, p[0]))
    ordered = [r for _, r in refs]
    room = limit - (1 if request.init_image is not None else 0)
    kept, dropped = ordered[: max(0, room)], ordered[max(0, room):]
    style = request.style if request.style is not None and len(kept) < room else None
    notes: list[str] = []
    if dropped:
        names = ", ".join(_asset_words(r) for r in dropped)
        notes.append(
            f"This model takes {limit} input images; left out, as the least important in this shot: {names}."
        )
    if request.style is not None and style is None:
        notes.append(f"This model takes {limit} input images, so the style image was left out (references come first).")
    word = _IMAGE_WORD[family]
    inputs: list[InputImage] = []
    if request.init_image is not None:
        inputs.append(InputImage(request.init_image, "init", "{w} {n} is the previous frame of this shot: keep its "
                                 "composition, camera and light."))
    for ref in kept:
        keep = "keep the face, hair, build and clothes exactly" if ref.kind == "character" else "keep its look exactly"
        where = f", {_where(ref.position)}" if ref.position else ""
        inputs.append(InputImage(ref.image, "reference", f"{{w}} {{n}} shows {_asset_words(ref)}{where}: {keep}."))
    if style is not None:
        inputs.append(InputImage(style.image, "style", "{w} {n} is a style reference only: match its colours and "
                                 "rendering, not its content."))
    labelled = [InputImage(i.image, i.role, i.label.format(w=word, n=n)) for n, i in enumerate(inputs, start=1)]
    return labelled, notes


def edit_prompt(inputs: list[InputImage], prompt: str) -> str:
    """The prompt the model reads: which input image is whom, then the shot's own words."""
    lines = [i.label for i in inputs]
    return "\n".join([*lines, prompt.strip()]) if lines else prompt.strip()


def _at_least(image: Image.Image, side: int) -> Image.Image:
    image = image.convert("RGB")
    small = min(image.size)
    if small >= side:
        return image
    scale = side / small
    return image.resize((max(side, round(image.width * scale)), max(side, round(image.height * scale))),
                        Image.Resampling.LANCZOS)


def _round_up(value: int, multiple: int = _SIDE_MULTIPLE) -> int:
    return max(multiple, -(-value // multiple) * multiple)


class DiffusersEditImage:
    """Keyframes from several reference images at once (Qwen-Image-Edit, FLUX.2 klein).

    Components: `pipe`, the diffusers pipeline, loaded on first use and reused.
    """

    backend = "diffusers-edit"

    def __init__(self, options: EditImageOptions, models_dir: Path | None = None) -> None:
        self.options = options
        self.models_dir = Path(models_dir) if models_dir is not None else Path.cwd()
        self.family: str = options.family
        self.model_id = options.model
        self.device = pick_device(options.device)
        self.max_references = options.max_references or DEFAULT_MAX_REFERENCES[options.family]
        self.pipe: Any = None
        self._lock = threading.RLock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> DiffusersEditImage:
        """Build from a profile table such as {backend="diffusers-edit", family="flux2-klein", model=...}."""
        fields = {k: v for k, v in spec.items() if k not in {"backend", "label", "note"}}
        fields["timeout_s"] = call_timeout_s(fields.get("timeout_s"))
        return cls(EditImageOptions.model_validate(fields), models_dir)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the loaded weights (0 before loading)."""
        return weight_bytes(self.pipe.components.values()) if self.pipe is not None else 0

    def close(self) -> None:
        """Drop the pipeline so its memory can be freed."""
        with self._lock:
            self.pipe = None

    def load(self) -> Any:
        """Load the pipeline once; later calls return the same one."""
        with self._lock:
            if self.pipe is not None:
                return self.pipe
            opts = self.options
            source = resolve_model(opts.model, self.models_dir)
            what = f"the image model {opts.model!r} ({source})"
            extra: dict[str, Any] = {}
            if opts.family == "qwen-image-edit":
                try:
                    extra["processor"] = _still_image_processor(source)
                except Exception as exc:
                    raise readable_error(exc, what) from exc
            self.pipe = load_pipeline(_PIPELINES[opts.family], source, what=what, device=self.device,
                                      dtype=pick_dtype(opts.dtype, self.device), offload=opts.offload, **extra)
            log.info("loaded %s image model %s on %s", opts.family, opts.model, self.device)
            return self.pipe

    def plan(self, request: ImageRequest) -> tuple[list[InputImage], list[str], str]:
        """(input images in order, notes, the prompt the model reads) for a request."""
        inputs, notes = plan_inputs(request, self.family, self.max_references)
        return inputs, notes, edit_prompt(inputs, request.prompt)

    @staticmethod
    def _check(request: ImageRequest) -> None:
        for name, value in (("width", request.width), ("height", request.height)):
            if value <= 0 or value % 8:
                raise EngineError(f"Image {name} must be a positive multiple of 8; got {value}.")
        if request.steps < 1:
            raise EngineError(f"Steps must be at least 1; got {request.steps}.")
        if request.control_image is not None:
            raise EngineError(
                "Multi-reference edit models take no ControlNet image; the previous frame is passed as an "
                "input image instead. Drop the control image or use an SD-family profile (sdxl)."
            )

    def gpu_seconds(self, request: ImageRequest, *args: Any, **kwargs: Any) -> int:
        """The ZeroGPU duration of one keyframe: measured here, else the profile's figure, else a rough one."""
        load = 60.0 if self.pipe is None else 0.0
        return duration_for(load + image_seconds(self.model_id, self.family, request.width, request.height,
                                                 request.steps, self.options.seconds_per_image))

    @gpu_entry(lambda self, *a, **k: self.gpu_seconds(*a, **k))
    def generate(self, request: ImageRequest, *, progress: ProgressFn | None = None) -> Image.Image:
        """Return one image for the request; its `info[NOTES_KEY]` says what was left out, if anything."""
        import torch

        self._check(request)
        inputs, notes, prompt = self.plan(request)
        opts = self.options
        w, h = _round_up(request.width), _round_up(request.height)
        steps = opts.steps or request.steps
        guidance = request.guidance if opts.guidance is None else opts.guidance
        with self._lock:
            pipe = self.load()
            kwargs: dict[str, Any] = {
                "image": [_at_least(i.image, _MIN_INPUT_SIDE[self.family]) for i in inputs] or None,
                "prompt": prompt,
                "height": h,
                "width": w,
                "num_inference_steps": steps,
                "generator": torch.Generator("cpu").manual_seed(request.seed),
            }
            if self.family == "qwen-image-edit":
                kwargs.update(true_cfg_scale=guidance, negative_prompt=request.negative_prompt or " ")
            else:
                kwargs.update(guidance_scale=guidance)
            t0 = time.perf_counter()
            image: Image.Image = run_pipeline(pipe, kwargs, progress=progress, timeout_s=opts.timeout_s,
                                              what=f"making a {request.width}×{request.height} image",
                                              stopped="Image generation").images[0]
            TIMINGS.add(f"image:{self.model_id}", (w * h) / (1024 * 1024), time.perf_counter() - t0)
        if image.size != (request.width, request.height):
            image = image.resize((request.width, request.height), Image.Resampling.LANCZOS)
        image.info[NOTES_KEY] = notes
        image.info["aiuteur_inputs"] = [i.label for i in inputs]
        return image


_PROCESSOR_CLASS: Any = None


def still_image_processor_class() -> Any:
    """Qwen2VLProcessor for still images only: transformers 5 builds its video processor on
    torchvision, which this project never installs, and edit pipelines pass no video."""
    global _PROCESSOR_CLASS
    if _PROCESSOR_CLASS is None:
        from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor
        from transformers.processing_utils import ProcessorMixin

        class StillImageQwen2VLProcessor(Qwen2VLProcessor):  # type: ignore[misc]
            """Qwen2VLProcessor without its video processor."""

            def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                         **kwargs: Any) -> None:
                self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
                self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
                self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
                self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
                ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

        _PROCESSOR_CLASS = StillImageQwen2VLProcessor
    return _PROCESSOR_CLASS


def _still_image_processor(source: str) -> Any:
    """Qwen-Image-Edit's `processor/` (a local folder or a cached hub id) loaded for still images."""
    cls = still_image_processor_class()
    local = Path(source) / "processor"
    if local.is_dir():
        return cls.from_pretrained(str(local), local_files_only=True)
    return cls.from_pretrained(source, subfolder="processor", local_files_only=True)
