"""A two-scene film taken through the real stages 7-9, and engines for stages 10-12.

`film_project` imports a two-scene screenplay, saves a stage-5 registry with cut-out master
references (synthetic figures), and runs the real shot list, asset states and prompts stages
(their text model is down, so they take their deterministic fallbacks). `FakeEmbedding` and
`FakeVideo` are quick doubles; `TinyFilm` is the tiny profile's REAL image, video, matting and
embedding engines (text down), with images kept small for shared CI cores.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aiuteur.domain import (
    Asset,
    AssetCategory,
    AssetRegistry,
    Brief,
    InputMode,
    ProjectParams,
    Script,
    SourceRole,
    SourceText,
    Stage,
    StoryInput,
    StyleAndAssets,
    VisualStyle,
)
from aiuteur.engines.animatic import encode_frames
from aiuteur.engines.base import EngineError, ImageRequest
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import CountedEngine, EngineCache, Engines
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import import_screenplay
from aiuteur.settings import DataHome
from tests.engines._image_fixtures import figure
from tests.pipeline.phase_b_fixtures import DownText

TWO = """Title: The Lamp Keeper

INT. LIGHTHOUSE - NIGHT

Martha, an old keeper in a blue wool coat, polishes the great lamp while Leo, a boy in a red scarf, holds the ladder.

MARTHA
Hold it steady, Leo.

EXT. HARBOR - DAY

Leo, in his red scarf, waits on the pier with a lantern. Martha walks up behind him.

LEO
They always come back.
"""

FIXTURE_SCREENPLAY = Path(__file__).resolve().parents[1] / "fixtures" / "screenplays" / "lamp_keeper.fountain"


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def cutout(shirt: tuple[int, int, int], size: int = 128) -> tuple[Image.Image, Image.Image]:
    """(RGBA cut-out, the same on white) of a synthetic figure."""
    fig = figure(background=(150, 150, 150), shirt=shirt, size=size)
    a = np.asarray(fig, np.int32)
    alpha = (np.abs(a - np.array([150, 150, 150])).sum(-1) > 20).astype(np.uint8) * 255
    rgba = fig.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha, "L"))
    white = Image.new("RGB", fig.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return rgba, white


def save_registry(runner: Runner, pid: str, script: Script) -> StyleAndAssets:
    """Stage 5 as it would be saved: two characters with cut-out masters, two places, a style image."""
    s = [sc.id for sc in script.scenes]
    put = runner.store.put_media
    martha, martha_w = cutout((40, 60, 200))
    leo, leo_w = cutout((200, 40, 40))
    assets = [
        Asset(id="as_martha", name="Martha", category=AssetCategory.CHARACTER, scenes=s,
              description="An old keeper in a blue wool coat.", master_ref=put(_png(martha), "png"),
              master_ref_white=put(_png(martha_w), "png")),
        Asset(id="as_leo", name="Leo", category=AssetCategory.CHARACTER, scenes=s,
              description="A boy in a red scarf.", master_ref=put(_png(leo), "png"),
              master_ref_white=put(_png(leo_w), "png")),
        Asset(id="as_lighthouse", name="Lighthouse", category=AssetCategory.LOCATION, scenes=s[:1],
              description="The lamp room of a lighthouse at night.",
              master_ref=put(_png(Image.new("RGB", (64, 64), (20, 30, 60))), "png")),
        Asset(id="as_harbor", name="Harbor", category=AssetCategory.LOCATION, scenes=s[1:],
              description="A wooden pier in daylight.",
              master_ref=put(_png(Image.new("RGB", (64, 64), (150, 190, 220))), "png")),
    ]
    style = VisualStyle(medium="painted animation", look="soft gouache",
                        images=[put(_png(Image.new("RGB", (64, 64), (230, 200, 120))), "png")], influence=0.9)
    bundle = StyleAndAssets(registry=AssetRegistry(assets=assets), style=style)
    runner.save(pid, Stage.ASSETS, bundle)
    return bundle


def film_project(runner: Runner, text: str = TWO, title: str = "The Lamp Keeper") -> tuple[str, Script]:
    """A skip-to-script project taken through stages 5-9 (real stages 7-9 on their fallbacks)."""
    pid = runner.create_project(title).id
    return pid, film_stages(runner, pid, text)


def film_stages(runner: Runner, pid: str, text: str = TWO) -> Script:
    """Stages 1-9 of `film_project` on an existing project (one made through the app, say)."""
    story = StoryInput(mode=InputMode.SKIP_TO_SCRIPT, brief=Brief(has_script=True),
                       params=ProjectParams(aspect_ratio="16:9"),
                       sources=[SourceText(name="lamp.fountain", role=SourceRole.PRIMARY, format="fountain", text=text)])
    runner.save(pid, Stage.INPUT, story)
    script = import_screenplay(text.encode("utf-8"), "lamp.fountain")
    runner.save(pid, Stage.SCRIPT, script)
    save_registry(runner, pid, script)
    for sc in script.scenes:
        for stage in (Stage.SHOTS, Stage.ASSET_STATES, Stage.PROMPTS):
            result = runner.run(pid, stage, sc.id, seed=0)
            assert result.record is not None, (stage, result.errors)
    return script


# --- quick doubles -----------------------------------------------------------------------------------


class FakeEmbedding:
    """Mean colour of the figure as a unit vector: quick, and enough to rank takes."""

    model_id = "fake-embedding"

    def embed(self, image: Image.Image, mask: Image.Image | None = None) -> list[float]:
        a = np.asarray(image.convert("RGB").resize((16, 16)), np.float64).reshape(-1, 3) + 1.0
        if mask is not None:
            w = np.asarray(mask.convert("L").resize((16, 16)), np.float64).reshape(-1, 1) / 255.0
            a = a * w + 1e-6
        v = a.mean(0)
        return list(v / np.linalg.norm(v))


class FakeImage:
    """Paints a flat colour from the seed (96×64) and records every request; `fail` makes it fail."""

    model_id = "fake-image"
    backend = "fake"

    def __init__(self) -> None:
        self.requests: list[ImageRequest] = []
        self.fail: str = ""

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Image.Image:
        self.requests.append(request)
        if self.fail:
            raise EngineError(self.fail)
        s = request.seed
        return Image.new("RGB", (96, 64), (s * 37 % 256, s * 91 % 256, s * 13 % 256))


class FakeVideo:
    """Writes a real h264 clip that dissolves from the start to the end frame."""

    model_id = "fake-video"
    backend = "fake-video"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail: str = ""

    def render(self, start: Image.Image, end: Image.Image | None, prompt: str, out_path: Path, *,
               num_frames: int, fps: int, seed: int, progress: Any = None) -> Path:
        self.calls.append({"prompt": prompt, "num_frames": num_frames, "fps": fps, "seed": seed})
        if self.fail:
            raise EngineError(self.fail)
        last = (end or start).convert("RGB").resize(start.size)
        tint = Image.new("RGB", start.size, (seed * 53 % 256, seed * 29 % 256, seed * 71 % 256))
        first = Image.blend(start.convert("RGB"), tint, 0.25)  # the seed shows, as with a real model
        frames = [Image.blend(first, last, k / max(1, num_frames - 1)) for k in range(num_frames)]
        return encode_frames(frames, out_path, fps=fps)


# --- the tiny profile's real engines ---------------------------------------------------------------


class Small:
    """The real tiny image pipeline asked for 96×64 images in 2 steps (CI cores are shared)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.backend = inner, inner.model_id, inner.backend

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Image.Image:
        init = request.init_image.resize((96, 64)) if request.init_image is not None else None
        return self.inner.generate(replace(request, width=96, height=64, steps=2, init_image=init), progress=progress)


class TinyFilm(Engines):
    """The tiny profile's real image, matting, video and embedding engines; the text model is down."""

    def __init__(self, home: DataHome, *, video: str = "tiny") -> None:
        super().__init__(load_profile("tiny"), home, cache=EngineCache())
        self.down = DownText()
        self.video_mode = video

    def text(self, purpose: str = "text") -> Any:
        return CountedEngine(self.down, purpose, self.calls, "text")

    def image(self, purpose: str = "image") -> Any:
        return CountedEngine(Small(self.get("image", purpose).engine), purpose, self.calls, "image")

    def video(self, purpose: str = "video") -> Any:
        if self.video_mode == "animatic":
            from aiuteur.engines.video import AnimaticOnly

            return CountedEngine(AnimaticOnly(), purpose, self.calls, "video")
        return super().video(purpose)
