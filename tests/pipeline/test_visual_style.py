"""Stage 5 visual style: a shared capsule library, a written form, per-scene switches, influence."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from aiuteur.domain import InputError, NotFoundError, Stage, VisualStyle
from aiuteur.pipeline import assets_ops as ops
from aiuteur.pipeline import visual_style as vs
from aiuteur.pipeline.actions import Extract, MasterReference
from aiuteur.pipeline.assets import reference_prompt
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.store.capsules import CapsuleLibrary
from tests.fakes import FakeEngines
from tests.pipeline.assets_fixtures import (
    FINDINGS,
    FakeImage,
    FakeMatting,
    ResponderText,
    by_name,
    project_with_script,
    saved_assets,
    spring_script,
)


def test_capsules_are_shared_files_with_generated_ids(home: DataHome) -> None:
    cap = vs.create_capsule("Claymation", medium="stop-motion clay", palette="warm pastels", images=["a" * 64 + ".png"],
                            library=CapsuleLibrary(home))
    assert cap.id.startswith("vc_") and (home.capsules / "visual" / f"{cap.id}.json").is_file()
    assert json.loads((home.capsules / "visual" / f"{cap.id}.json").read_text())["name"] == "Claymation"
    assert [c.id for c in vs.list_capsules(CapsuleLibrary(home))] == [cap.id]
    assert vs.get_capsule(cap.id, CapsuleLibrary(home)) == cap
    with pytest.raises(NotFoundError):
        vs.get_capsule("../../etc/passwd", CapsuleLibrary(home))
    with pytest.raises(InputError, match="needs some words"):
        vs.create_capsule("Empty", library=CapsuleLibrary(home))
    vs.delete_capsule(cap.id, CapsuleLibrary(home))
    assert vs.list_capsules(CapsuleLibrary(home)) == []


def test_a_written_style_can_be_saved_as_a_capsule_and_chosen_elsewhere(home: DataHome) -> None:
    style = vs.written_style(VisualStyle(), medium="3D animation", look="soft shapes", era="1600s Europe",
                             references="Aardman", influence=0.4)
    assert vs.style_words(style) == "3D animation, soft shapes, 1600s Europe, in the manner of Aardman"
    cap = vs.capsule_from_style("Soft 3D", style, CapsuleLibrary(home))
    chosen = vs.style_from_capsule(cap)
    assert chosen.capsule_id == cap.id and chosen.medium == "3D animation" and chosen.influence == 0.4
    with pytest.raises(InputError, match="from 0 to 1"):
        vs.written_style(VisualStyle(), influence=1.5)


def test_the_default_influence_is_below_the_references() -> None:
    assert VisualStyle().influence == vs.DEFAULT_INFLUENCE < 0.7


def test_a_scene_can_switch_style_and_falls_back_when_the_capsule_is_gone(home: DataHome) -> None:
    live = vs.create_capsule("Live action", medium="35mm film", library=CapsuleLibrary(home))
    cg = vs.create_capsule("3D", medium="3D animation", library=CapsuleLibrary(home))
    style = vs.style_from_capsule(live)
    style = vs.set_scene_override(style, "sc_5", cg.id, CapsuleLibrary(home))
    assert vs.style_for_scene(style, "sc_5", CapsuleLibrary(home)).medium == "3D animation"
    assert vs.style_for_scene(style, "sc_4", CapsuleLibrary(home)).medium == "35mm film"
    assert vs.style_for_scene(style, "sc_5", CapsuleLibrary(home)).scene_overrides == {"sc_5": cg.id}
    vs.delete_capsule(cg.id, CapsuleLibrary(home))
    assert vs.style_for_scene(style, "sc_5", CapsuleLibrary(home)).medium == "35mm film"
    assert vs.set_scene_override(style, "sc_5", None).scene_overrides == {}


def test_style_words_reach_the_reference_prompt_and_the_style_image_its_influence(runner: Runner, store: Store) -> None:
    image = FakeImage()
    runner._engines = FakeEngines(text=ResponderText(FINDINGS), image=image, matting=FakeMatting())
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 0)).save(buf, "PNG")
    key = store.put_media(buf.getvalue(), "png")
    sa = saved_assets(runner, pid)
    style = vs.written_style(sa.style, medium="charcoal drawing", palette="sepia", images=[key], influence=0.25)
    runner.save(pid, Stage.ASSETS, ops.set_style(sa, style))
    hades = by_name(sa, "Hades")
    prompt, negative, template = reference_prompt(hades, style, ["All characters are eggs."])
    assert "Style: charcoal drawing, sepia." in prompt and "Story rules: All characters are eggs." in prompt
    assert template == "assets/ref_character.v1" and "other people" in negative
    runner.run(pid, Stage.ASSETS, action=MasterReference(asset_id=hades.id))
    request = image.requests[-1]
    assert request.style is not None and request.style.scale == 0.25 and request.style.key == key
    assert "charcoal drawing" in request.prompt


def test_a_media_key_path_never_escapes(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        vs.set_scene_override(VisualStyle(), "sc_1", "../x")
