"""Vision engines: describe an uploaded image as an asset description.

`TransformersVision` runs a vision-language or captioning model (studio/lite profiles), loaded
from a local folder or the local Hugging Face cache only. `NoVision` is the engine of profiles
without one (offline, tiny): it says so plainly and falls back to the user's own words.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from aiuteur.engines.base import EngineError
from aiuteur.engines.image_diffusers import gpu, pick_device, pick_dtype, readable_error, resolve_model

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Describe this image as a reference for a film's asset registry: who or what it shows, shape, "
    "colours, clothing or materials, distinctive features. One short paragraph, no preamble."
)


class NoVision:
    """No vision model on this profile: the user's own words are the description."""

    model_id = "none"
    available = False
    reason = (
        "This profile has no vision model, so images are not described automatically; "
        "type a description in your own words (the studio and lite profiles can describe images)."
    )

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> NoVision:
        """Build from a profile table {backend="none"}."""
        return cls()

    def describe(self, image: Image.Image, *, hint: str = "") -> str:
        """Return the user's words (`hint`); with none, raise EngineError saying why."""
        if hint.strip():
            return hint.strip()
        raise EngineError(self.reason)


class TransformersVisionOptions(BaseModel):
    """The profile's [vision] table for a transformers model."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model folder or hub id (relative to the models folder).")
    max_new_tokens: int = Field(default=160, ge=8)
    device: str = Field(default="auto")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(default="auto")


class TransformersVision:
    """A vision-language (or captioning) model that describes an image in a paragraph.

    Components: `processor` and `model`, loaded on first use (local files only) and reused.
    """

    available = True

    def __init__(self, options: TransformersVisionOptions, models_dir: Path | None = None) -> None:
        self.options = options
        self.models_dir = Path(models_dir) if models_dir is not None else Path.cwd()
        self.model_id = options.model
        self.reason = f"{options.model} describes uploaded images."
        self.device = pick_device(options.device)
        self.processor: Any = None
        self.model: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> TransformersVision:
        """Build from a profile table such as {backend="transformers", model="HuggingFaceTB/SmolVLM-256M-Instruct"}."""
        fields = {k: v for k, v in spec.items() if k not in {"backend", "label", "note"}}
        return cls(TransformersVisionOptions.model_validate(fields), models_dir)

    @property
    def memory_bytes(self) -> int:
        if self.model is None:
            return 0
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    def close(self) -> None:
        self.model = self.processor = None

    def load(self) -> tuple[Any, Any]:
        """Load processor and model once, from local files only."""
        with self._lock:
            if self.model is None:
                from transformers import AutoModelForImageTextToText, AutoProcessor

                source = resolve_model(self.options.model, self.models_dir)
                try:
                    self.processor = AutoProcessor.from_pretrained(source, local_files_only=True)
                    self.model = AutoModelForImageTextToText.from_pretrained(
                        source,
                        dtype=pick_dtype(self.options.dtype, self.device),
                        local_files_only=True,
                    )
                    self.model.to(self.device).eval()
                except Exception as exc:
                    raise readable_error(exc, f"the vision model {self.options.model!r} ({source})") from exc
            return self.processor, self.model

    @gpu
    def describe(self, image: Image.Image, *, hint: str = "") -> str:
        """Return a one-paragraph description of the image, steered by the user's `hint`."""
        import torch

        processor, model = self.load()
        text = INSTRUCTION + (f" The user says it is: {hint.strip()}" if hint.strip() else "")
        rgb = image.convert("RGB")
        try:
            if getattr(processor, "chat_template", None):
                messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
                prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
                inputs = processor(text=prompt, images=[rgb], return_tensors="pt")
            else:  # a plain captioning model (BLIP-style): the hint is the caption's prefix
                inputs = processor(images=rgb, text=hint.strip() or None, return_tensors="pt")
            inputs = inputs.to(self.device)
            prompt_len = inputs["input_ids"].shape[1] if "input_ids" in inputs else 0
            with torch.inference_mode():
                out = model.generate(**inputs, max_new_tokens=self.options.max_new_tokens, do_sample=False)
            new = (
                out[0, prompt_len:] if getattr(model.config, "is_encoder_decoder", False) is False else out[0]
            )
            description = str(processor.decode(new, skip_special_tokens=True)).strip()
        except Exception as exc:
            raise readable_error(exc, "describing the image") from exc
        if not description:
            raise EngineError(
                f"{self.options.model} returned an empty description; type one in your own words."
            )
        return description
