"""The engine Protocols: the small contracts every model backend fulfils.

Engines import no Gradio and never touch the store. Long calls report progress through a
plain callback; failures raise `EngineError` with a message a person can read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypedDict, TypeVar

from PIL import Image
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

ProgressFn = Callable[[float, str], None]
"""progress(fraction 0..1, what is happening in words)."""


class Message(TypedDict):
    role: str
    content: str


class EngineError(RuntimeError):
    """A model call failed; the message says why in plain words (OOM, timeout, truncated…)."""


def call_timeout_s(default: float | None) -> float | None:
    """The longest one model call may take: AIUTEUR_CALL_TIMEOUT_S when set, else `default`.

    Raises:
        EngineError: the variable is set but is not a positive number of seconds.
    """
    raw = os.environ.get("AIUTEUR_CALL_TIMEOUT_S", "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise EngineError(f"AIUTEUR_CALL_TIMEOUT_S is {raw!r}; set it to a number of seconds above 0, e.g. 300.")
    return value


class StoppedError(EngineError):
    """The job was stopped (its caller pressed Stop or left) at a safe point: before a model call,
    between denoising steps, or between generated tokens. What was made before is kept."""


_STOP_CHECK: ContextVar[Callable[[], bool] | None] = ContextVar("aiuteur_stop_check", default=None)


@contextlib.contextmanager
def stop_when(check: Callable[[], bool]) -> Iterator[None]:
    """Model calls made inside the block (in this context) stop at their next safe point once
    `check()` is true. Engines ask `stop_requested()`; threads they start copy the context."""
    token = _STOP_CHECK.set(check)
    try:
        yield
    finally:
        _STOP_CHECK.reset(token)


def stop_requested() -> bool:
    """True when the job running in this context was stopped (never raises)."""
    check = _STOP_CHECK.get()
    if check is None:
        return False
    try:
        return bool(check())
    except Exception:
        return False


def raise_if_stopped(doing: str) -> None:
    """Raise `StoppedError` when the job running in this context was stopped."""
    if stop_requested():
        raise StoppedError(f"Stopped while {doing}: you pressed Stop or left the page; what was made "
                           "before is kept.")


class TruncatedError(EngineError):
    """Generation hit its token budget before end-of-sequence: the output is incomplete."""


class TextEngine(Protocol):
    """Writes text; structured output is schema-constrained so it always parses."""

    model_id: str
    backend: str

    def generate(
        self,
        messages: list[Message],
        schema: type[M],
        *,
        seed: int,
        max_tokens: int | None = None,
        temperature: float = 0.7,
        progress: ProgressFn | None = None,
        avoid_copying: Sequence[str] = (),
    ) -> M:
        """Return an instance of `schema`; constrained decoding makes anything else impossible.

        `avoid_copying`: texts (a story being retold) the answer may not repeat word for word
        for more than a few words; engines that decode locally enforce it while decoding
        (`engines.copy_guard`), a remote server cannot and ignores it."""
        ...

    def stream(
        self, messages: list[Message], *, seed: int, max_tokens: int = 512, temperature: float = 0.7
    ) -> Iterator[str]:
        """Yield text pieces as they are generated (free text, unconstrained)."""
        ...


@dataclass(frozen=True)
class Reference:
    """A conditioning image of one asset: an IP-Adapter image (SD families) or an input image
    (multi-reference edit families), with what the engine needs to place and rank it."""

    image: Image.Image
    scale: float = 0.7
    key: str = ""  # content hash, used to cache the image embedding
    name: str = ""  # who or what it shows, as the prompt names it ("Mara", "the lighthouse")
    kind: str = ""  # "character", "location", "prop" (or "" when unknown)
    importance: float = 1.0  # higher is kept first when a model takes fewer references than given
    region: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) in 0..1 of the frame
    position: str = ""  # where it stands in the shot's layout ("left", "centre-right"…), "" when it has none


#: Key of `Image.info` where an image engine leaves notes a person should read with the take
#: (references left out, a prompt encoded in chunks or shortened, with the words dropped).
NOTES_KEY = "aiuteur_notes"


def engine_notes(image: Image.Image) -> list[str]:
    """The notes an image engine attached to `image` (empty when none)."""
    notes = image.info.get(NOTES_KEY)
    return [str(n) for n in notes] if isinstance(notes, list) else []


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 20
    seed: int = 0
    guidance: float = 5.0
    init_image: Image.Image | None = None  # image-to-image when set
    strength: float = 0.6
    references: list[Reference] = field(default_factory=list)
    style: Reference | None = None  # applied to style-carrying blocks only, lower scale
    control_image: Image.Image | None = None  # ControlNet (depth/pose) when set
    control_scale: float = 0.8


class ImageEngine(Protocol):
    """Makes images from text, optionally conditioned on references, a style and a control image."""

    model_id: str
    backend: str

    def generate(self, request: ImageRequest, *, progress: ProgressFn | None = None) -> Image.Image:
        """Return one image for the request."""
        ...


@dataclass(frozen=True)
class Cutout:
    rgba: Image.Image  # figure with transparent background
    white: Image.Image  # the same composited on plain white (RGB)
    mask: Image.Image  # L mode, 255 = figure


class MattingEngine(Protocol):
    """Removes the background of an image."""

    model_id: str

    def cutout(self, image: Image.Image) -> Cutout:
        """Return the figure cut out of `image`."""
        ...


class VisionEngine(Protocol):
    """Describes an image in words, where a vision model is available."""

    model_id: str
    available: bool
    reason: str  # why it is (un)available, for the UI

    def describe(self, image: Image.Image, *, hint: str = "") -> str:
        """Return a description of the image as an asset description."""
        ...


class VideoEngine(Protocol):
    """Renders a clip from a start frame and an end frame."""

    model_id: str
    backend: str
    family: str  # "ltx", "ltx2", "wan2.1-flf2v", "wan2.2-i2v", "wan2.2-ti2v"…
    supports_end_frame: bool  # False: the model ignores an end frame, so start+end shots are refused

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
        """Write an mp4 to `out_path` and return it."""
        ...


class EmbeddingEngine(Protocol):
    """An image embedding for consistency scores (real weights on every profile)."""

    model_id: str

    def embed(self, image: Image.Image, mask: Image.Image | None = None) -> list[float]:
        """Return an L2-normalised embedding of the image (inside the mask when given)."""
        ...
