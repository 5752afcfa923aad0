"""Where each character stands in a shot: chosen by the shot list from the action, edited in the
shot table, kept through edits, and used by stage 10 on the tiny profile's real engines: the SD
family masks each character's IP-Adapter image to its side of the frame, the multi-reference edit
family says in words where the person of each picture stands."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiuteur.domain import Asset, AssetCategory, InputError, Shot, ShotList, Stage
from aiuteur.engines.image_diffusers import DiffusersImage
from aiuteur.engines.image_edit import DiffusersEditImage
from aiuteur.pipeline import shot_list as sl
from aiuteur.pipeline.actions import RegenerateFrame
from aiuteur.pipeline.layout import default_layout, effective_layout, parse_layout, regions
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from tests.engines._image_fixtures import (  # noqa: F401
    SmallImage,
    image_models_dir,
    ip_adapter_masks,
    klein_spec,
    sd_spec,
    tiny_image_builder,
    tiny_image_models,
)
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting

MARTHA = Asset(id="as_martha", name="Martha", category=AssetCategory.CHARACTER)
LEO = Asset(id="as_leo", name="Leo Brand", category=AssetCategory.CHARACTER)
ANNA = Asset(id="as_anna", name="Anna", category=AssetCategory.CHARACTER)
PIER = Asset(id="as_pier", name="Pier", category=AssetCategory.LOCATION)


def test_the_action_places_people_left_to_right_in_the_order_it_names_them() -> None:
    assert default_layout("Martha polishes the lamp while Leo holds the ladder.", [LEO, MARTHA]) == {
        "as_martha": "left", "as_leo": "right"}
    assert default_layout("Leo holds the ladder while Martha polishes.", [MARTHA, LEO]) == {
        "as_leo": "left", "as_martha": "right"}
    assert default_layout("Anna, Martha and Leo wait.", [MARTHA, LEO, ANNA]) == {
        "as_anna": "left", "as_martha": "centre", "as_leo": "right"}
    assert default_layout("Martha waits.", [MARTHA]) == {"as_martha": "centre"}
    # words that place someone win; a left hand is not a place in the frame
    assert default_layout("Leo, on the left, holds the ladder. Martha raises her left hand.", [MARTHA, LEO]) == {
        "as_leo": "left", "as_martha": "right"}
    assert default_layout("Martha stands screen right. Leo waits.", [MARTHA, LEO]) == {
        "as_martha": "right", "as_leo": "left"}
    # someone already placed keeps the place; the newcomer takes a free one
    assert default_layout("Martha and Leo talk.", [MARTHA, LEO], {"as_martha": "right"}) == {"as_leo": "left"}


def test_regions_follow_the_positions_and_overlap_a_little() -> None:
    boxes = regions({"as_martha": "right", "as_leo": "left"}, ["as_martha", "as_leo"])
    assert boxes["as_leo"][0] == 0.0 and boxes["as_martha"][2] == 1.0
    assert boxes["as_leo"][2] > 0.5 > boxes["as_martha"][0]  # each reaches a little past the middle
    tie = regions({"a": "left", "b": "left"}, ["a", "b"])
    assert tie["a"][2] < 1.0 and tie["b"][0] > 0.0  # two people at the same place still get their own side
    assert regions({"a": "left"}, ["a"]) == {}


def _shots() -> ShotList:
    a = Shot(number="1A", action="Martha and Leo talk on the pier.", assets=["as_pier", "as_martha", "as_leo"],
             layout={"as_martha": "left", "as_leo": "right"}, units=[])
    return ShotList(shots=[a])


def test_the_table_text_is_read_in_words_and_a_bad_entry_is_one_sentence() -> None:
    shot = _shots().shots[0]
    assets = [PIER, MARTHA, LEO, ANNA]
    assert parse_layout("Martha: right; Leo Brand: centre left", shot, assets) == {
        "as_martha": "right", "as_leo": "centre-left"}
    assert parse_layout("leo: L", shot, assets) == {"as_leo": "left"}  # a first name and a letter do
    assert parse_layout("  ", shot, assets) == {}
    with pytest.raises(InputError, match="'up high' is not a position"):
        parse_layout("Martha: up high", shot, assets)
    with pytest.raises(InputError, match="'Anna' is not in frame in this shot"):
        parse_layout("Anna: left", shot, assets)
    with pytest.raises(InputError, match="Pier is a place and fills the frame"):
        parse_layout("Pier: left", shot, assets)
    with pytest.raises(InputError, match="write each position as 'name: left'"):
        parse_layout("Martha left", shot, assets)


def test_positions_are_kept_through_edits_and_leave_with_whoever_leaves_the_frame() -> None:
    from aiuteur.domain import Scene

    scene = Scene(number="1", heading="EXT. PIER - DAY")
    shots = _shots()
    sid = shots.shots[0].id
    moved = sl.update_shot(shots, scene, sid, action="They argue.", size="close-up")
    assert moved.shots[0].layout == {"as_martha": "left", "as_leo": "right"}
    swapped = sl.update_shot(moved, scene, sid, layout={"as_martha": "right", "as_leo": "left"})
    assert swapped.shots[0].layout == {"as_martha": "right", "as_leo": "left"}
    alone = sl.update_shot(swapped, scene, sid, assets=["as_pier", "as_martha"])
    assert alone.shots[0].layout == {"as_martha": "right"}
    back = sl.update_shot(alone, scene, sid, assets=["as_pier", "as_martha", "as_leo"])
    assert effective_layout(back.shots[0], {a.id: a for a in (MARTHA, LEO, PIER)}) == {
        "as_martha": "right", "as_leo": "left"}  # the newcomer takes the free side
    with pytest.raises(InputError, match="could not be changed"):
        sl.update_shot(back, scene, sid, layout={"as_leo": "upstage"})


def test_the_shot_list_stage_gives_every_shot_with_people_a_layout(store: Store) -> None:
    runner = Runner(store, engines=_engines(FakeImage()))
    pid, script = film_project(runner)
    first = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, script.scenes[0].id)).shots
    both = [s for s in first if {"as_martha", "as_leo"} <= set(s.assets)]
    assert both and both[0].layout == {"as_martha": "left", "as_leo": "right"}  # the order the action names them
    assert all("as_lighthouse" not in s.layout for s in first)  # places fill the frame


# --- stage 10 on the tiny profile's real engines ------------------------------------------------------


def _swapped_shot(runner: Runner) -> tuple[str, str, Shot]:
    """The film's first shot with both characters, saved with Martha on the right and Leo on the left."""
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid))
    shot = next(s for s in shots.shots if {"as_martha", "as_leo"} <= set(s.assets))
    scene = script.scenes[0]
    runner.save(pid, Stage.SHOTS, sl.update_shot(shots, scene, shot.id,
                                                 layout={"as_martha": "right", "as_leo": "left"}), sid)
    return pid, sid, shot


def _engines(image: Any) -> FakeEngines:
    return FakeEngines(text=DownText(), image=image, matting=FakeMatting(), embedding=FakeEmbedding())


def test_sd_keyframes_mask_each_characters_reference_to_where_the_layout_puts_them(
    store: Store, tiny_image_models: Path  # noqa: F811
) -> None:
    engine = DiffusersImage.from_spec(sd_spec("sd15"), tiny_image_models)
    small = SmallImage(engine)
    runner = Runner(store, engines=_engines(small))
    pid, sid, shot = _swapped_shot(runner)
    with ip_adapter_masks(engine.load()) as seen:
        result = runner.run(pid, Stage.FRAMES, sid, seed=1, action=RegenerateFrame(shot_id=shot.id))
    assert result.ok, result.errors
    [request] = small.requests
    by_name = {r.name: i for i, r in enumerate(request.references)}
    masks = seen[0]
    assert masks is not None
    martha, leo = (masks[by_name[n]][0, 0].numpy() for n in ("Martha", "Leo"))
    assert martha[:, 48:].mean() == 1.0 and martha[:, :16].mean() == 0.0  # Martha: the right of the frame
    assert leo[:, :16].mean() == 1.0 and leo[:, 48:].mean() == 0.0
    places = [i for i, r in enumerate(request.references) if r.kind == "location"]
    assert all(masks[i] is None for i in places)  # the place applies everywhere


def test_edit_keyframes_say_where_the_person_of_each_picture_stands(
    store: Store, image_models_dir: Path, tiny_image_builder: ModuleType  # noqa: F811
) -> None:
    tiny_image_builder.build_family(image_models_dir, "flux2-klein")
    small = SmallImage(DiffusersEditImage.from_spec(klein_spec(), image_models_dir))
    runner = Runner(store, engines=_engines(small))
    pid, sid, shot = _swapped_shot(runner)
    result = runner.run(pid, Stage.FRAMES, sid, seed=1, action=RegenerateFrame(shot_id=shot.id))
    assert result.ok, result.errors
    [take] = [t for t in runner.takes(pid, Stage.FRAMES, sid, f"frame:{shot.id}:start") if t.ok]
    said = "\n".join((take.output or {})["inputs"])
    assert "Martha (character), on the right of the frame:" in said
    assert "Leo (character), on the left of the frame:" in said
    assert (take.output or {})["consistency"] is not None  # the score stays in the loop
