"""A four-scene script, its registry and test engines shared by the stage 6-9 tests.

Persephone changes costume in scene 3 (she arrives in the underworld in black) and keeps it in
scene 4: the continuity case the owner cares about most.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from aiuteur.domain import (
    Asset,
    AssetCategory,
    AssetRegistry,
    Brief,
    InputMode,
    Script,
    SourceRole,
    SourceText,
    Stage,
    StateChange,
    StoryInput,
    StyleAndAssets,
    VisualStyle,
)
from aiuteur.engines.base import Cutout, EngineError, ImageRequest
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import import_screenplay

FOUR = """Title: Seeds

INT. MEADOW - DAY

Persephone, a girl in a green tunic with a crown of daisies, picks berries into a basket.

PERSEPHONE
The berries are sweet this year.

DEMETER
Do not wander far.

EXT. MEADOW EDGE - DUSK

The ground splits. Hades rises in a chariot of black iron.

HADES
Come with me.

PERSEPHONE
(backing away)
No.

INT. UNDERWORLD HALL - NIGHT

Persephone enters in a black gown, her daisies gone. Hades offers her a pomegranate.

HADES
Eat, and stay.

PERSEPHONE
Six seeds. No more.

She takes the crown of iron from the throne and puts it on.

INT. UNDERWORLD HALL - LATER

Persephone sits on the throne in black, the iron crown on her head.

PERSEPHONE
Bring me the souls.
"""

RULES = ["All characters are eggs."]


def png(colour: tuple[int, int, int], size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


class FakeImage:
    """An image engine that paints a flat colour from the seed and records every request."""

    model_id = "fake-image"
    backend = "fake"

    def __init__(self) -> None:
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Image.Image:
        self.requests.append(request)
        s = request.seed
        return Image.new("RGB", (32, 32), (s * 37 % 256, s * 91 % 256, s * 13 % 256))


class FakeMatting:
    """Cuts nothing out: the whole image is the figure."""

    model_id = "fake-matting"

    def cutout(self, image: Image.Image) -> Cutout:
        rgb = image.convert("RGB")
        mask = Image.new("L", rgb.size, 255)
        rgba = rgb.copy()
        rgba.putalpha(mask)
        return Cutout(rgba=rgba, white=rgb, mask=mask)


class DownText:
    """A text engine that is never available: every stage must fall back or fail in words."""

    model_id = "down"
    backend = "down"

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise EngineError("no text model in this test")

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise EngineError("no text model in this test")


def project_with_script(runner: Runner, text: str = FOUR, name: str = "seeds.fountain") -> tuple[str, Script]:
    """A skip-to-script project whose script is saved (imported), with story rules."""
    pid = runner.create_project("Seeds").id
    story = StoryInput(mode=InputMode.SKIP_TO_SCRIPT, brief=Brief(has_script=True), story_rules=RULES,
                       sources=[SourceText(name=name, role=SourceRole.PRIMARY, format="fountain", text=text)])
    runner.save(pid, Stage.INPUT, story)
    script = import_screenplay(text.encode("utf-8"), name)
    runner.save(pid, Stage.SCRIPT, script)
    return pid, script


def registry_for(runner: Runner, pid: str, script: Script, *, with_refs: bool = True) -> StyleAndAssets:
    """Stage 5 as the other stage would save it: characters, places, a prop, master references."""
    s = [sc.id for sc in script.scenes]
    key = (lambda c: runner.store.put_media(png(c), "png")) if with_refs else (lambda c: None)
    assets = [
        Asset(id="as_persephone", name="Persephone", category=AssetCategory.CHARACTER, scenes=s,
              description="A young woman with golden hair in a green tunic and a crown of daisies.",
              state_changes=[StateChange(scene_id=s[2], description="In a black gown, her daisies gone.")],
              master_ref=key((10, 200, 10)), master_ref_white=key((20, 210, 20))),
        Asset(id="as_hades", name="Hades", category=AssetCategory.CHARACTER, scenes=s[1:],
              description="A tall pale man in a smoke-grey robe.", master_ref_white=key((40, 40, 40))),
        Asset(id="as_demeter", name="Demeter", category=AssetCategory.CHARACTER, scenes=s[:1],
              description="A broad woman in a wheat-gold shawl.", master_ref_white=key((200, 180, 60))),
        Asset(id="as_meadow", name="Meadow", category=AssetCategory.LOCATION, scenes=s[:2],
              description="A flowering meadow on a mountainside.", master_ref=key((90, 220, 90))),
        Asset(id="as_hall", name="Underworld Hall", category=AssetCategory.LOCATION, scenes=s[2:],
              description="A cavern hall of black stone lit by braziers.", master_ref=key((60, 10, 10))),
        Asset(id="as_crown", name="crown of iron", aliases=["iron crown"], category=AssetCategory.PROP,
              scenes=s[2:], description="A crown of black iron spikes.", master_ref_white=key((5, 5, 5))),
    ]
    style = VisualStyle(medium="stop-motion", look="handmade clay", images=[key((250, 0, 250))] if with_refs else [],
                        influence=0.9)
    bundle = StyleAndAssets(registry=AssetRegistry(assets=assets), style=style)
    runner.save(pid, Stage.ASSETS, bundle)
    return bundle


def states_out(n: int, description: str = "As the scene shows.", changes: list[dict[str, Any]] | None = None,
               at: int | None = None) -> dict[str, Any]:
    """A scripted AssetStatesDraft: one state for each of `n` assets (asset `at` gets `changes`)."""
    return {"states": [{"number": k, "description": f"{description} ({k})",
                        "changes": changes if changes and k == at else []} for k in range(1, n + 1)]}
