"""Image engine on diffusers: SD1.5- and SDXL-class text-to-image and image-to-image.

Keyframes are conditioned on the assets in the shot through IP-Adapter, one adapter image per
asset, each with its own scale; an optional style image rides on the same adapter at a lower
scale and only in the style-carrying blocks (InstantStyle); an optional ControlNet carries the
layout of a previous frame (depth or pose). The tiny profile runs this same class on random
weights built by `models/tiny_image.py`.

How several references work (measured in tests/engines/test_image.py):
    The IP-Adapter file is loaded once with the real `pipe.load_ip_adapter(...)`. For a request
    with N adapter images the engine gives the UNet N adapter *slots* that share those weights:
    the image projection and every processor's `to_k_ip`/`to_v_ip` are the same modules listed N
    times. Each slot then has its own scale (`set_ip_adapter_scale([...])`) and its own
    embedding (`ip_adapter_image_embeds=[...]`), exactly as if N adapters had been loaded, with
    no extra memory. A slot at scale 0 is skipped by diffusers' processor, so a request with no
    references costs what the plain pipeline costs.

How the style image is applied:
    The style slot gets a per-block scale dict (InstantStyle, arXiv:2404.02733): the style
    scale on the first up block that has cross-attention, 0 everywhere else. On SDXL-class
    UNets only that block's attention 1 is used (`{"up": {"block_0": [0, s, 0]}}`, the
    InstantStyle recipe); on SD1.5-class UNets the whole block (`up_blocks.1` on real SD1.5).

How several characters stay apart:
    When references carry a region (two or more characters in frame; the frames stage derives
    the regions from the shot's layout), each one's slot gets a mask of its region
    (`cross_attention_kwargs={"ip_adapter_masks": [...]}`, preprocessed by diffusers'
    `IPAdapterMaskProcessor`), so a face pulls only on its own part of the frame; props, places
    and the style have no mask.

How long prompts are read (CLIP keeps 77 tokens):
    A prompt longer than one CLIP window is encoded in windows of 75 tokens (each with its own
    start and end token) whose embeddings are joined, up to `max_prompt_chunks` windows; the
    negative prompt is encoded to the same length. Past that limit the prompt is cut at a word
    boundary and the image carries a note naming the words left out (`base.NOTES_KEY`): nothing
    is dropped silently.

Reference embeddings are cached by `Reference.key` (or a hash of the pixels when the key is
empty), computed through `prepare_ip_adapter_image_embeds`; a cached embedding gives the same
image as a fresh one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from PIL import Image
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from aiuteur.engines.base import NOTES_KEY, EngineError, ImageRequest, ProgressFn, Reference, call_timeout_s
from aiuteur.engines.pipes import (  # noqa: F401  (re-exported: vision and older callers import them here)
    StepReporter,
    load_pipeline,
    pick_device,
    pick_dtype,
    readable_error,
    resolve_model,
    run_pipeline,
    weight_bytes,
)
from aiuteur.engines.zerogpu import TIMINGS, duration_for, gpu_entry, image_seconds

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def gpu(fn: F) -> F:
    """`spaces.GPU` where the `spaces` package is installed (a no-op off ZeroGPU)."""
    try:
        import spaces
    except ImportError:  # pragma: no cover - spaces is a declared dependency
        return fn
    wrapped: F = spaces.GPU(fn)
    return wrapped


def image_key(image: Image.Image) -> str:
    """A content hash of an image's pixels (mode, size and bytes)."""
    h = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return "sha256:" + h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Options


class IPAdapterOptions(BaseModel):
    """Where the IP-Adapter weights are, in the h94/IP-Adapter layout."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Folder or hub id holding the adapter (relative to the models folder).")
    subfolder: str = Field(default="models", description="Subfolder with the weight file.")
    weight_name: str = Field(description="The .safetensors/.bin file name of the adapter.")
    image_encoder_folder: str = Field(
        default="image_encoder",
        validation_alias=AliasChoices("image_encoder_folder", "image_encoder_subfolder"),
        description="Image encoder folder, inside `subfolder` (or e.g. 'models/image_encoder').",
    )


class DiffusersImageOptions(BaseModel):
    """What the image engine loads and how; built from the profile's [image] table."""

    model_config = ConfigDict(extra="forbid")

    family: Literal["sd15", "sdxl"] = Field(description="Pipeline family of the base model.")
    model: str = Field(description="Base pipeline folder or hub id (relative to the models folder).")
    ip_adapter: IPAdapterOptions | None = Field(default=None, description="IP-Adapter for references.")
    controlnet: str | None = Field(default=None, description="ControlNet folder or hub id (depth/pose).")
    img2img: bool = Field(default=True, description="Whether image-to-image (init_image) is offered.")
    device: str = Field(default="auto", description="'auto', 'cpu', 'cuda', 'cuda:1'…")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(default="auto")
    cache_size: int = Field(default=128, ge=1, description="Reference embeddings kept in memory.")
    max_prompt_chunks: int = Field(
        default=3, ge=1, le=8, description="CLIP windows of 75 tokens a long prompt may span."
    )
    timeout_s: float | None = Field(default=None, gt=0, description="Stop a generation after this long.")
    seconds_per_image: float | None = Field(
        default=None, gt=0, description="Measured GPU seconds per 1024² keyframe (bench/gpu.py): the ZeroGPU duration."
    )


_PIPELINES: dict[str, dict[str, str]] = {
    "sd15": {
        "text": "StableDiffusionPipeline",
        "image": "StableDiffusionImg2ImgPipeline",
        "control": "StableDiffusionControlNetPipeline",
        "control+image": "StableDiffusionControlNetImg2ImgPipeline",
    },
    "sdxl": {
        "text": "StableDiffusionXLPipeline",
        "image": "StableDiffusionXLImg2ImgPipeline",
        "control": "StableDiffusionXLControlNetPipeline",
        "control+image": "StableDiffusionXLControlNetImg2ImgPipeline",
    },
}


# ---------------------------------------------------------------------------------------------
# The engine


class DiffusersImage:
    """Text/image-to-image with per-asset IP-Adapter references, a style image and ControlNet.

    Components (plain attributes, loaded on first use and then reused):
        pipe: the text-to-image pipeline; holds the IP-Adapter when one is configured.
        controlnet: the ControlNet model, or None until a request brings a control image.
        pipes: derived pipelines by mode ("image", "control", "control+image"), built with
            `from_pipe` so they share the weights of `pipe`.
        embed_cache: reference embeddings (negative + positive) by reference key.
    """

    backend = "diffusers"

    def __init__(self, options: DiffusersImageOptions, models_dir: Path | None = None) -> None:
        self.options = options
        self.models_dir = Path(models_dir) if models_dir is not None else Path.cwd()
        self.model_id = options.model
        self.device = pick_device(options.device)
        self.pipe: Any = None
        self.controlnet: Any = None
        self.pipes: dict[str, Any] = {}
        self.embed_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._shared_ip: dict[str, tuple[Any, Any, int]] = {}  # processor name -> (to_k, to_v, tokens)
        self._shared_proj: Any = None
        self._blank: torch.Tensor | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> DiffusersImage:
        """Build from a profile table such as {backend="diffusers", family="sd15", model=...}."""
        fields = {k: v for k, v in spec.items() if k not in {"backend", "label", "note"}}
        fields["timeout_s"] = call_timeout_s(fields.get("timeout_s"))
        return cls(DiffusersImageOptions.model_validate(fields), models_dir)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the loaded weights (0 before loading)."""
        modules = [c for c in (self.pipe.components.values() if self.pipe is not None else []) if c is not None]
        return weight_bytes([*modules, *([self.controlnet] if self.controlnet is not None else [])])

    def close(self) -> None:
        """Drop every loaded component so the memory can be freed."""
        with self._lock:
            self.pipe, self.controlnet, self.pipes = None, None, {}
            self.embed_cache.clear()
            self._shared_ip, self._shared_proj, self._blank = {}, None, None

    # -- loading -------------------------------------------------------------------------------

    @property
    def has_ip_adapter(self) -> bool:
        return self.options.ip_adapter is not None

    def load(self) -> Any:
        """Load the base pipeline (and IP-Adapter) once; later calls return the same pipeline."""
        with self._lock:
            if self.pipe is not None:
                return self.pipe
            opts = self.options
            dtype = pick_dtype(opts.dtype, self.device)
            source = resolve_model(opts.model, self.models_dir)

            def prepare(pipe: Any) -> None:
                if getattr(pipe, "safety_checker", None) is not None:
                    pipe.safety_checker = None
                if opts.ip_adapter is not None:
                    ipa = opts.ip_adapter
                    pipe.load_ip_adapter(
                        resolve_model(ipa.path, self.models_dir),
                        subfolder=ipa.subfolder,
                        weight_name=ipa.weight_name,
                        image_encoder_folder=ipa.image_encoder_folder,
                        local_files_only=True,
                    )

            pipe = load_pipeline(_PIPELINES[opts.family]["text"], source, what=f"the image model {opts.model!r} ({source})",
                                 device=self.device, dtype=dtype, prepare=prepare)
            if opts.ip_adapter is not None and pipe.image_encoder is not None:
                pipe.image_encoder.to(self.device, dtype)
            self.pipe = pipe
            if opts.ip_adapter is not None:
                self._remember_shared_ip_modules()
            log.info("loaded %s image model %s on %s", opts.family, opts.model, self.device)
            return pipe

    def _load_controlnet(self) -> Any:
        if self.controlnet is None:
            if not self.options.controlnet:
                raise EngineError(
                    "This request has a control image but the image profile names no ControlNet; "
                    'add controlnet = "..." to the [image] table or drop the control image.'
                )
            from diffusers import ControlNetModel

            source = resolve_model(self.options.controlnet, self.models_dir)
            try:
                cn = ControlNetModel.from_pretrained(
                    source, dtype=pick_dtype(self.options.dtype, self.device), local_files_only=True
                )
            except Exception as exc:
                raise readable_error(exc, f"the ControlNet {self.options.controlnet!r} ({source})") from exc
            self.controlnet = cn.to(self.device)
        return self.controlnet

    def pipeline_for(self, mode: str) -> Any:
        """The pipeline for a mode: 'text', 'image', 'control' or 'control+image' (from_pipe)."""
        base = self.load()
        if mode == "text":
            return base
        if mode not in self.pipes:
            import diffusers

            cls = getattr(diffusers, _PIPELINES[self.options.family][mode])
            extra = {"controlnet": self._load_controlnet()} if mode.startswith("control") else {}
            self.pipes[mode] = cls.from_pipe(base, **extra)
            self.pipes[mode].set_progress_bar_config(disable=True)
        return self.pipes[mode]

    # -- IP-Adapter slots ----------------------------------------------------------------------

    def _remember_shared_ip_modules(self) -> None:
        unet = self.pipe.unet
        self._shared_proj = unet.encoder_hid_proj.image_projection_layers[0]
        for name, proc in unet.attn_processors.items():
            if hasattr(proc, "to_k_ip"):
                self._shared_ip[name] = (proc.to_k_ip[0], proc.to_v_ip[0], proc.num_tokens[0])

    def _set_slots(self, n: int) -> None:
        """Give the UNet `n` adapter slots that all share the loaded adapter's weights."""
        import torch.nn as nn

        unet = self.pipe.unet
        if len(unet.encoder_hid_proj.image_projection_layers) == n:
            return
        unet.encoder_hid_proj.image_projection_layers = nn.ModuleList([self._shared_proj] * n)
        for name, proc in unet.attn_processors.items():
            if name in self._shared_ip:
                to_k, to_v, tokens = self._shared_ip[name]
                proc.to_k_ip = nn.ModuleList([to_k] * n)
                proc.to_v_ip = nn.ModuleList([to_v] * n)
                proc.num_tokens = [tokens] * n
                proc.scale = [0.0] * n

    def style_scale(self, scale: float) -> dict[str, Any]:
        """The per-block scale dict that puts `scale` on the style-carrying blocks only."""
        unet = self.load().unet
        up = [i for i, block in enumerate(unet.up_blocks) if hasattr(block, "attentions")]
        if not up:
            return {"up": {}}
        first = up[0]
        count = len(unet.up_blocks[first].attentions)
        if self.options.family == "sdxl":
            per = [0.0] * count
            per[min(1, count - 1)] = scale
        else:
            per = [scale] * count
        return {"up": {f"block_{first}": per}}

    def embed_reference(self, reference: Reference) -> torch.Tensor:
        """The reference's adapter embedding (negative and positive halves), cached by key."""
        key = reference.key or image_key(reference.image)
        with self._lock:
            if key in self.embed_cache:
                self.embed_cache.move_to_end(key)
                return self.embed_cache[key]
            pipe = self.load()
            if not self.has_ip_adapter:
                raise EngineError("This image profile has no IP-Adapter, so it cannot use reference images.")
            self._set_slots(1)
            (embeds,) = pipe.prepare_ip_adapter_image_embeds(
                ip_adapter_image=[reference.image.convert("RGB")],
                ip_adapter_image_embeds=None,
                device=self.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=True,
            )
            self.embed_cache[key] = embeds
            while len(self.embed_cache) > self.options.cache_size:
                self.embed_cache.popitem(last=False)
            return embeds

    def _blank_embeds(self) -> torch.Tensor:
        """Zero embeddings for the single idle slot of a request without references."""
        if self._blank is None:
            import torch

            probe = self.embed_reference(Reference(Image.new("RGB", (64, 64)), key="aiuteur:blank-probe"))
            self._blank = torch.zeros_like(probe)
        return self._blank

    def _adapter_kwargs(self, request: ImageRequest, do_cfg: bool) -> dict[str, Any]:
        """Slots, scales and embeddings for this request's references and style."""
        if not self.has_ip_adapter:
            if request.references or request.style is not None:
                raise EngineError(
                    "This image profile has no IP-Adapter, so it cannot use reference or style images; "
                    "pick a profile with ip_adapter or generate without references."
                )
            return {}
        embeds = [self.embed_reference(ref) for ref in request.references]
        scales: list[float | dict[str, Any]] = [float(ref.scale) for ref in request.references]
        if request.style is not None:
            embeds.append(self.embed_reference(request.style))
            scales.append(self.style_scale(float(request.style.scale)))
        if not embeds:
            embeds, scales = [self._blank_embeds()], [0.0]
        self._set_slots(len(embeds))
        self.pipe.set_ip_adapter_scale(scales)
        if not do_cfg:
            embeds = [e.chunk(2)[1] for e in embeds]
        out: dict[str, Any] = {"ip_adapter_image_embeds": embeds}
        if any(ref.region is not None for ref in request.references):
            masks = [self._region_mask(ref.region, request.width, request.height) for ref in request.references]
            masks += [None] * (len(embeds) - len(masks))  # the style slot applies everywhere
            out["cross_attention_kwargs"] = {"ip_adapter_masks": masks}
        return out

    @staticmethod
    def _region_mask(region: tuple[float, float, float, float] | None, width: int, height: int) -> Any:
        """A [1, 1, H, W] mask of a reference's region (None: the whole frame)."""
        if region is None:
            return None
        from diffusers.image_processor import IPAdapterMaskProcessor
        from PIL import ImageDraw

        x0, y0, x1, y1 = region
        mask = Image.new("L", (width, height), 0)
        ImageDraw.Draw(mask).rectangle(
            (round(x0 * width), round(y0 * height), round(x1 * width) - 1, round(y1 * height) - 1), fill=255
        )
        return IPAdapterMaskProcessor().preprocess([mask], height=height, width=width)

    # -- long prompts ----------------------------------------------------------------------------

    def _encoders(self, pipe: Any) -> list[tuple[Any, Any]]:
        pairs = [(pipe.tokenizer, pipe.text_encoder)]
        if getattr(pipe, "text_encoder_2", None) is not None:
            pairs.append((pipe.tokenizer_2, pipe.text_encoder_2))
        return pairs

    def budget_prompt(self, prompt: str) -> tuple[str, list[str], int]:
        """(the prompt as encoded, words left out, CLIP windows used) under `max_prompt_chunks`."""
        tokenizer = self.load().tokenizer
        window = tokenizer.model_max_length - 2
        limit = window * self.options.max_prompt_chunks
        ids = tokenizer(prompt, add_special_tokens=False, truncation=False)["input_ids"]
        if len(ids) <= limit:
            return prompt, [], max(1, -(-len(ids) // window))
        words = prompt.split()
        kept: list[str] = []
        for word in words:  # the longest prefix of whole words that fits
            trial = " ".join([*kept, word])
            if len(tokenizer(trial, add_special_tokens=False, truncation=False)["input_ids"]) > limit:
                break
            kept.append(word)
        return " ".join(kept), words[len(kept):], self.options.max_prompt_chunks

    def _encode_windows(self, text: str, windows: int, pipe: Any) -> tuple[Any, Any]:
        """Embeddings of `text` over `windows` CLIP windows (joined), and SDXL's pooled embedding."""
        import torch

        parts: list[Any] = []
        pooled = None
        for n, (tokenizer, encoder) in enumerate(self._encoders(pipe)):
            size = tokenizer.model_max_length
            ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            chunks = []
            for w in range(windows):
                piece = ids[w * (size - 2):(w + 1) * (size - 2)]
                row = [tokenizer.bos_token_id, *piece, tokenizer.eos_token_id]
                chunks.append(row + [pad] * (size - len(row)))
            batch = torch.tensor(chunks, device=self.device)
            with torch.no_grad():
                out = encoder(batch, output_hidden_states=True)
            if self.options.family == "sdxl":
                hidden = out.hidden_states[-2]
                if n == len(self._encoders(pipe)) - 1:
                    pooled = out[0][:1]  # the projected pooled embedding of the first window
            else:
                hidden = out[0]
            parts.append(hidden.reshape(1, -1, hidden.shape[-1]))  # windows joined along the sequence
        return torch.cat(parts, dim=-1).to(encoder.dtype), pooled

    def prompt_kwargs(self, pipe: Any, request: ImageRequest, do_cfg: bool) -> tuple[dict[str, Any], list[str]]:
        """The pipeline's prompt arguments (embeddings when the prompt spans CLIP windows) and notes."""
        text, dropped, windows = self.budget_prompt(request.prompt)
        notes: list[str] = []
        if dropped:
            notes.append(
                f"The image model reads {windows * (pipe.tokenizer.model_max_length - 2)} CLIP tokens; the end of "
                f"the prompt was left out: \"{' '.join(dropped)}\"."
            )
        if windows <= 1:
            return {"prompt": text, "negative_prompt": request.negative_prompt or None}, notes
        notes.append(f"The prompt was encoded in {windows} CLIP windows of 75 tokens, so nothing past the "
                     "first 77 tokens was cut.")
        embeds, pooled = self._encode_windows(text, windows, pipe)
        kwargs: dict[str, Any] = {"prompt_embeds": embeds}
        if pooled is not None:
            kwargs["pooled_prompt_embeds"] = pooled
        if do_cfg:
            import torch

            negative = request.negative_prompt or ""
            if not negative and self.options.family == "sdxl" and pipe.config.get("force_zeros_for_empty_prompt"):
                neg, neg_pooled = torch.zeros_like(embeds), (torch.zeros_like(pooled) if pooled is not None else None)
            else:
                neg_text, _, _ = self.budget_prompt(negative)
                neg, neg_pooled = self._encode_windows(neg_text, windows, pipe)
            kwargs["negative_prompt_embeds"] = neg
            if neg_pooled is not None:
                kwargs["negative_pooled_prompt_embeds"] = neg_pooled
        return kwargs, notes

    # -- generation ----------------------------------------------------------------------------

    @staticmethod
    def _check(request: ImageRequest) -> None:
        for name, value in (("width", request.width), ("height", request.height)):
            if value <= 0 or value % 8:
                raise EngineError(f"Image {name} must be a positive multiple of 8; got {value}.")
        if request.steps < 1:
            raise EngineError(f"Steps must be at least 1; got {request.steps}.")
        if request.init_image is not None and not 0.0 < request.strength <= 1.0:
            raise EngineError(f"Image-to-image strength must be in (0, 1]; got {request.strength}.")

    def gpu_seconds(self, request: ImageRequest, *args: Any, **kwargs: Any) -> int:
        """The ZeroGPU duration of one keyframe: measured here, else the profile's figure, else a rough one."""
        load = 60.0 if self.pipe is None else 0.0
        return duration_for(load + image_seconds(self.model_id, self.options.family, request.width, request.height,
                                                 request.steps, self.options.seconds_per_image))

    @gpu_entry(lambda self, *a, **k: self.gpu_seconds(*a, **k))
    def generate(self, request: ImageRequest, *, progress: ProgressFn | None = None) -> Image.Image:
        """Return one image for the request (text-to-image, or image-to-image with init_image)."""
        import torch

        self._check(request)
        if request.init_image is not None and not self.options.img2img:
            raise EngineError(
                "This image profile turns image-to-image off (img2img = false); drop the init image."
            )
        mode = "control" if request.control_image is not None else ""
        if request.init_image is not None:
            mode = f"{mode}+image" if mode else "image"
        mode = mode or "text"
        size = (request.width, request.height)
        with self._lock:
            try:
                pipe = self.pipeline_for(mode)
                do_cfg = request.guidance > 1.0
                prompt_args, notes = self.prompt_kwargs(pipe, request, do_cfg)
                kwargs: dict[str, Any] = {
                    **prompt_args,
                    "num_inference_steps": request.steps,
                    "guidance_scale": request.guidance,
                    "generator": torch.Generator("cpu").manual_seed(request.seed),
                    "height": request.height,
                    "width": request.width,
                }
                kwargs.update(self._adapter_kwargs(request, do_cfg))
                if request.init_image is not None:
                    kwargs["image"] = request.init_image.convert("RGB").resize(size)
                    kwargs["strength"] = request.strength
                if request.control_image is not None:
                    control = request.control_image.convert("RGB").resize(size)
                    kwargs["control_image" if mode == "control+image" else "image"] = control
                    kwargs["controlnet_conditioning_scale"] = request.control_scale
            except EngineError:
                raise
            except Exception as exc:
                raise readable_error(exc, f"making a {request.width}×{request.height} image") from exc
            t0 = time.perf_counter()
            image = run_pipeline(pipe, kwargs, progress=progress, timeout_s=self.options.timeout_s,
                                 what=f"making a {request.width}×{request.height} image",
                                 stopped="Image generation").images[0]
            TIMINGS.add(f"image:{self.model_id}", (request.width * request.height) / (1024 * 1024),
                        time.perf_counter() - t0)
        for note in notes:
            log.log(logging.WARNING if "left out" in note else logging.INFO, "%s", note)
        image.info[NOTES_KEY] = notes
        return image
