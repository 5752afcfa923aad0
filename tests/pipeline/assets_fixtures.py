"""Scripts, a prompt-reading text double and image doubles shared by the stage-5 tests."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from PIL import Image, ImageDraw
from pydantic import BaseModel, ValidationError

from aiuteur.domain import InputMode, Scene, Script, SourceText, Stage, StoryInput, StyleAndAssets
from aiuteur.engines.base import Cutout, ImageRequest
from aiuteur.engines.schema_bounds import InvalidOutputError
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import parse_fountain

RULES = ["All characters are eggs."]

SPRING = """Title: Spring

INT. MEADOW - DAY

Persephone, blonde, in a green tunic and a flower crown, gathers berries into a wicker basket.

PERSEPHONE
What a day.

HAMLET (V.O.)
To be.

EXT. UNDERWORLD GATES - NIGHT

Hades waits by the gate holding a silver key. A three-headed dog sleeps at his feet.

PRINCE HAMLET
Or not.

HAMLET'S VOICE
That is the question.

INT. UNDERWORLD - THRONE ROOM - NIGHT

Persephone arrives dressed all in black, her crown now of thorns.

PERSEPHONE (CONT'D)
I am home.

INT. LEO'S BEDROOM - DAY

A big diploma now hangs on the wall. Leo grins at it.

LEO
I did it.
"""

# What the model "finds" in each scene, by scene number (a ResponderText answers from this).
FINDINGS: dict[str, dict[str, Any]] = {
    "1": {"assets": [
        {"name": "Persephone", "category": "character", "description": "Blonde, green tunic, flower crown.",
         "scenes": ["1"]},
        {"name": "wicker basket", "category": "prop", "description": "A wicker basket of berries.", "scenes": ["1"]},
    ], "changes": []},
    "2": {"assets": [
        {"name": "Hades", "category": "character", "description": "Tall, grey robes.", "scenes": ["2"]},
        {"name": "silver key", "category": "prop", "description": "An old silver key.", "scenes": ["2"]},
        {"name": "Cerberus", "category": "character", "description": "A three-headed dog.", "scenes": ["2"]},
    ], "changes": []},
    "3": {"assets": [], "changes": [
        {"asset": "Persephone", "scene": "3", "description": "Dressed all in black, a crown of thorns."},
    ]},
    "4": {"assets": [
        {"name": "diploma", "category": "prop", "description": "A framed diploma.", "scenes": ["4"]},
    ], "changes": [
        {"asset": "Leo's bedroom", "scene": "4", "description": "A big diploma now hangs on the wall."},
    ]},
}


def spring_script() -> Script:
    return parse_fountain(SPRING)


def many_scenes(n: int = 30) -> Script:
    """A script of `n` short scenes, every one a different place, two people talking."""
    parts = ["Title: Long"]
    for i in range(1, n + 1):
        parts.append(f"INT. ROOM {i} - DAY\n\nAda and Bo talk in room {i}.\n\nADA\nLine {i}.\n\nBO\nReply {i}.")
    return parse_fountain("\n\n".join(parts) + "\n")


def with_action(script: Script, scene_id: str, text: str) -> Script:
    """The script with one more action line in one scene (ids kept)."""
    from aiuteur.domain import ElementKind, ScriptElement

    scenes: list[Scene] = []
    for s in script.scenes:
        if s.id == scene_id:
            s = s.model_copy(update={"elements": [*s.elements, ScriptElement(kind=ElementKind.ACTION, text=text)]})
        scenes.append(s)
    return script.model_copy(update={"scenes": scenes})


def _parsed(schema: type[BaseModel], out: dict[str, Any]) -> BaseModel:
    """`out` as `schema`, or the error a real engine gives for an answer that does not fit it."""
    try:
        return schema.model_validate(out)
    except ValidationError as e:
        raise InvalidOutputError(f"{schema.__name__}: {e}", json.dumps(out, default=str)) from e


class ResponderText:
    """A text engine that answers extraction prompts from `findings` (by scene label in the prompt).

    Chunk boundaries depend on generated scene ids, so the answer is built from the labels the
    prompt shows rather than from a fixed queue.
    """

    model_id = "responder"
    backend = "responder"

    def __init__(self, findings: dict[str, dict[str, Any]] | None = None,
                 hook: Callable[[list[str]], dict[str, Any] | None] | None = None) -> None:
        self.findings = findings or {}
        self.hook = hook
        self.prompts: list[list[str]] = []

    def generate(self, messages: list[dict[str, str]], schema: type[BaseModel], *, seed: int,
                 max_tokens: int | None = None, temperature: float = 0.7, progress: Any = None,
                 avoid_copying: Any = ()) -> BaseModel:
        m = re.search(r"labels in square brackets: ([^)]*)\)", messages[1]["content"])
        labels = [x.strip() for x in m.group(1).split(",")] if m else []
        self.prompts.append(labels)
        if self.hook is not None:
            out = self.hook(labels)
            if out is not None:
                return _parsed(schema, out)
        assets: list[Any] = []
        changes: list[Any] = []
        for label in labels:
            f = self.findings.get(label, {})
            assets += f.get("assets", [])
            changes += f.get("changes", [])
        return _parsed(schema, {"assets": assets, "changes": changes})

    def stream(self, messages: list[dict[str, str]], *, seed: int, max_tokens: int = 512,
               temperature: float = 0.7) -> Iterator[str]:
        yield ""


class FakeImage:
    """Draws a coloured block on white: the 'figure' the matting double finds."""

    model_id = "fake-image"
    backend = "fake"

    def __init__(self) -> None:
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest, *, progress: Any = None) -> Image.Image:
        self.requests.append(request)
        img = Image.new("RGB", (64, 48), (255, 255, 255))
        ImageDraw.Draw(img).rectangle((20, 10, 43, 37), fill=(200, 30, 30 + request.seed % 100))
        return img


class FakeMatting:
    """The figure is every pixel that is not white."""

    model_id = "fake-matting"

    def cutout(self, image: Image.Image) -> Cutout:
        rgb = image.convert("RGB")
        mask = Image.eval(rgb.convert("L"), lambda v: 0 if v >= 250 else 255)
        rgba = rgb.copy()
        rgba.putalpha(mask)
        white = Image.new("RGB", rgb.size, (255, 255, 255))
        white.paste(rgb, mask=mask)
        return Cutout(rgba=rgba, white=white, mask=mask)


class FakeVision:
    model_id = "fake-vision"
    available = True
    reason = "a test double"

    def describe(self, image: Image.Image, *, hint: str = "") -> str:
        return "A red egg in a black cloak. Gold buttons."


def project_with_script(runner: Runner, script: Script, rules: list[str] | None = None) -> str:
    pid = runner.create_project("Spring").id
    story = StoryInput(mode=InputMode.SKIP_TO_SCRIPT, sources=[SourceText(text=SPRING, format="fountain")],
                       story_rules=rules if rules is not None else RULES)
    runner.save(pid, Stage.INPUT, story)
    runner.save(pid, Stage.SCRIPT, script)
    return pid


def saved_assets(runner: Runner, pid: str) -> StyleAndAssets:
    return StyleAndAssets.model_validate(runner.view(pid).data(Stage.ASSETS))


def by_name(sa: StyleAndAssets, name: str) -> Any:
    return next(a for a in sa.registry.assets if a.name == name)
