"""Stage 5: one incremental extraction, master references on clean backgrounds, the user's decisions kept."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from aiuteur.domain import AssetCategory, InputError, Script, Stage, StyleAndAssets
from aiuteur.engines.base import EngineError
from aiuteur.engines.schema_bounds import check_bounded
from aiuteur.pipeline import actions
from aiuteur.pipeline import assets as stage
from aiuteur.pipeline import assets_ops as ops
from aiuteur.pipeline.actions import (
    DescribeAsset,
    Extract,
    MasterReference,
    MasterReferences,
    UploadReference,
)
from aiuteur.pipeline.assets import ChunkExtraction, canonical, chunks, deterministic
from aiuteur.pipeline.headless import run_until
from aiuteur.pipeline.prompts import all_templates, load_template
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from tests.fakes import FakeEngines
from tests.pipeline.assets_fixtures import (
    FINDINGS,
    FakeImage,
    FakeMatting,
    FakeVision,
    ResponderText,
    by_name,
    many_scenes,
    project_with_script,
    saved_assets,
    spring_script,
    with_action,
)


@pytest.fixture
def responder() -> ResponderText:
    return ResponderText(FINDINGS)


@pytest.fixture
def engines(responder: ResponderText) -> FakeEngines:  # overrides conftest's
    return FakeEngines(text=responder, image=FakeImage(), matting=FakeMatting(), vision=FakeVision())


def _png(store: Store, key: str) -> Image.Image:
    return Image.open(io.BytesIO(store.media_path(key).read_bytes()))


# --- the deterministic pass ------------------------------------------------------------------------


def test_aliases_of_one_character_merge_into_one_asset() -> None:
    cands = deterministic(spring_script().scenes)
    chars = [c for c in cands if c.category == AssetCategory.CHARACTER]
    hamlet = next(c for c in chars if c.name == "Hamlet")
    assert set(hamlet.surfaces) == {"HAMLET", "PRINCE HAMLET", "HAMLET'S VOICE"}
    assert sorted(c.name for c in chars) == ["Hamlet", "Leo", "Persephone"]
    assert {canonical(n, AssetCategory.CHARACTER) for n in
            ["HAMLET", "Hamlet (V.O.)", "Prince Hamlet", "HAMLET'S VOICE", "hamlet’s voice"]} == {"HAMLET"}
    assert canonical("KING", AssetCategory.CHARACTER) == "KING"  # a title alone stays a name
    locations = sorted(c.name for c in cands if c.category == AssetCategory.LOCATION)
    assert locations == ["Leo's Bedroom", "Meadow", "Underworld - Throne Room", "Underworld Gates"]


def test_a_first_name_joins_the_one_full_name_it_belongs_to() -> None:
    from aiuteur.screenplay import parse_fountain

    script = parse_fountain("INT. A - DAY\n\nJOHN SMITH\nHi.\n\nJOHN\nHo.\n\nMARY\nHey.\n")
    names = sorted(c.name for c in deterministic(script.scenes) if c.category == AssetCategory.CHARACTER)
    assert names == ["John Smith", "Mary"]


def test_the_extraction_schema_is_bounded_and_templates_use_exactly_the_declared_variables() -> None:
    check_bounded(ChunkExtraction)
    on_disk = [t for t in all_templates() if t.startswith("assets/")]
    assert sorted(on_disk) == sorted(stage.VARIABLES)
    for role in on_disk:
        assert load_template(role).variables == stage.VARIABLES[role], role


# --- end to end --------------------------------------------------------------------------------------


def test_extraction_end_to_end_with_a_state_change_and_references(runner: Runner, engines: FakeEngines,
                                                                   store: Store) -> None:
    script = spring_script()
    pid = project_with_script(runner, script)
    result = runner.run(pid, Stage.ASSETS, seed=5)
    assert result.ok, result.errors
    sa = saved_assets(runner, pid)
    names = {a.name: a for a in sa.registry.assets}
    assert set(names) >= {"Persephone", "Hamlet", "Leo", "Hades", "Cerberus", "Meadow", "Leo's Bedroom",
                          "wicker basket", "silver key", "diploma"}
    ids = [s.id for s in script.scenes]
    persephone = names["Persephone"]
    assert persephone.scenes == [ids[0], ids[2]]
    assert persephone.description == "Blonde, green tunic, flower crown."
    assert [(c.scene_id, c.description) for c in persephone.state_changes] == [
        (ids[2], "Dressed all in black, a crown of thorns.")]
    bedroom = names["Leo's Bedroom"]
    assert bedroom.state_changes[0].scene_id == ids[3] and "diploma" in bedroom.state_changes[0].description
    assert names["Hamlet"].scenes == [ids[0], ids[1]]
    assert set(names["Hamlet"].aliases) == {"PRINCE HAMLET", "HAMLET'S VOICE"}
    assert names["silver key"].category == AssetCategory.PROP and names["Hades"].category == AssetCategory.CHARACTER
    # one extraction call per chunk, one master reference per kept asset
    assert engines.calls["extract_assets"] == len(chunks(script))
    assert engines.calls["master_reference"] == len(sa.registry.assets)
    assert all(a.master_ref and a.master_ref_white and len(a.history) == 1 for a in sa.registry.assets)
    # story rules and the sheet layout reach the image prompt
    prompts = [r.prompt for r in engines._image.requests]
    sheet = next(p for p in prompts if p.startswith("character reference sheet") and "Persephone" in p)
    assert "front view, side view, back view" in sheet and "All characters are eggs" in sheet
    assert any(p.startswith("empty establishing plate, no people") and "Meadow" in p for p in prompts)
    assert any(p.startswith("product shot of one object alone on a plain white background: silver key") for p in prompts)
    takes = runner.takes(pid, Stage.ASSETS)
    assert {t.purpose for t in takes} == {"extract_assets", "master_reference", "assets"}


def test_opening_and_running_again_makes_no_extraction_call(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    first = engines.calls["extract_assets"]
    assert first >= 1
    for _ in range(3):
        runner.view(pid)
        runner.visit(pid, Stage.ASSETS)
        runner.run(pid, Stage.ASSETS, action=Extract(references=False))
        runner.run(pid, Stage.ASSETS)  # references for what the checklist keeps; extraction has nothing to do
        list(run_until(runner, pid, Stage.PROMPTS))
    assert engines.calls["extract_assets"] == first


def test_changing_one_scene_of_thirty_re_extracts_only_its_chunk(runner: Runner, engines: FakeEngines,
                                                                   responder: ResponderText) -> None:
    responder.findings = {}
    script = many_scenes(30)
    pid = project_with_script(runner, script)
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    all_chunks = chunks(script)
    assert engines.calls["extract_assets"] == len(all_chunks) and len(all_chunks) > 1
    edited = with_action(script, script.scenes[16].id, "A red umbrella lies on the floor.")
    runner.save(pid, Stage.SCRIPT, edited)
    responder.prompts.clear()
    list(run_until(runner, pid, Stage.ASSETS))  # the stage is stale, so the headless run redoes it
    assert engines.calls["extract_assets"] == len(all_chunks) + 1
    chunk = next(c for c in all_chunks if script.scenes[16].id in c.scene_ids)
    assert responder.prompts == [[s.number for s in chunk.scenes]]
    sa = saved_assets(runner, pid)
    assert by_name(sa, "Ada").scenes == [s.id for s in script.scenes]  # nothing lost from unchanged chunks
    assert len(sa.registry.chunk_hashes) == len(all_chunks)


def test_removed_and_unticked_assets_stay_so_and_new_finds_are_offered(runner: Runner, engines: FakeEngines,
                                                                        responder: ResponderText) -> None:
    script = spring_script()
    pid = project_with_script(runner, script)
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    sa = saved_assets(runner, pid)
    cerberus, key, leo = by_name(sa, "Cerberus"), by_name(sa, "silver key"), by_name(sa, "Leo")
    sa = ops.remove_asset(sa, cerberus.id)
    sa = ops.apply_checklist(sa, kept={a.id for a in sa.registry.assets} - {key.id})
    sa = ops.edit_asset(sa, leo.id, description="A ten-year-old egg in a blue cap.")
    runner.save(pid, Stage.ASSETS, sa)
    # the script changes in every scene: everything is re-extracted, a new prop and a new speaker appear
    new = script
    for s in script.scenes:
        new = with_action(new, s.id, "Thunder.")
    new = with_action(new, script.scenes[1].id, "A golden lyre rests on a rock.")
    responder.findings = {**FINDINGS, "2": {**FINDINGS["2"], "assets": [
        *FINDINGS["2"]["assets"], {"name": "golden lyre", "category": "prop", "description": "A lyre.",
                                   "scenes": ["2"]}]}}
    runner.save(pid, Stage.SCRIPT, new)
    runner.run(pid, Stage.ASSETS)
    after = saved_assets(runner, pid)
    assert by_name(after, "Cerberus").removed and by_name(after, "Cerberus").id == cerberus.id
    assert by_name(after, "Cerberus").master_ref is None
    assert not by_name(after, "silver key").pregenerate and by_name(after, "silver key").master_ref is None
    assert by_name(after, "Leo").description == "A ten-year-old egg in a blue cap."
    lyre = by_name(after, "golden lyre")
    assert lyre.offered and not lyre.pregenerate and lyre.master_ref is None
    assert len([a for a in after.registry.assets if a.name == "Persephone"]) == 1
    kept = ops.keep_offered(after, lyre.id)
    assert by_name(kept, "golden lyre").pregenerate and not by_name(kept, "golden lyre").offered


def test_a_failed_chunk_keeps_the_deterministic_registry_and_is_retried(runner: Runner, engines: FakeEngines,
                                                                         responder: ResponderText) -> None:
    script = spring_script()
    pid = project_with_script(runner, script)
    failing = {"on": True}

    def hook(labels: list[str]) -> None:
        if failing["on"] and "3" in labels:
            raise EngineError("out of memory")

    responder.hook = hook  # type: ignore[assignment]
    result = runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    assert not result.ok and "out of memory" in result.errors[0]
    sa = saved_assets(runner, pid)
    assert by_name(sa, "Persephone") and by_name(sa, "Meadow")
    calls = engines.calls["extract_assets"]
    failing["on"] = False
    assert runner.run(pid, Stage.ASSETS, action=Extract(references=False)).ok
    assert engines.calls["extract_assets"] == calls + 1  # only the failed chunk
    assert by_name(saved_assets(runner, pid), "Persephone").state_changes


def test_a_wrong_scene_label_is_dropped_by_code(runner: Runner, engines: FakeEngines,
                                                responder: ResponderText) -> None:
    """A label the chunk lacks cannot be written under a constraining engine (`chunk_schema`); an
    engine that does not constrain gets its answer read as any extraction, and code drops the
    label in the same call (a re-ask cost ~25 s a time on the CPU and fixed little)."""
    script = spring_script()
    pid = project_with_script(runner, script)
    responder.hook = lambda labels: {"assets": [  # type: ignore[assignment]
        {"name": "lantern", "category": "prop", "description": "", "scenes": ["99"]}], "changes": [
        {"asset": "nobody", "scene": labels[0], "description": "x"}]}
    result = runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    assert result.ok
    first = next(t for t in result.takes if t.purpose == "extract_assets")
    assert first.attempts == 1 and not first.error
    lantern = by_name(saved_assets(runner, pid), "lantern")
    assert lantern.scenes  # placed in the chunk's first scene instead of the unknown label


def test_a_change_of_look_recorded_where_its_person_is_not_moves_to_the_scene_that_tells_it(
        runner: Runner, engines: FakeEngines, responder: ResponderText) -> None:
    """The real model put Oriel's crowning at the far shore (scene 4 of the salt crown, where she is
    not), so stage 8 showed her crowned before the scene that crowns her: code moves such a change
    to the scene that names her and tells it, and keeps one it cannot place."""
    from aiuteur.screenplay import parse_fountain

    script = parse_fountain(
        "Title: Salt\n\nEXT. FAR SHORE - DUSK\n\nWaves fold over the black sand. A goat chews kelp.\n\n"
        "INT. THE MINE - DUSK\n\nOriel, nine, in a brown smock, climbs down into the white tunnels.\n\n"
        "INT. THE SALT THRONE - DUSK\n\nThe Queen sets her crown on Oriel's head. The salt climbs down "
        "from the crown into Oriel's hair and turns it white as frost.\n")
    pid = project_with_script(runner, script)
    oriel = {"name": "Oriel", "category": "character", "description": "A girl of nine in a brown smock."}
    responder.hook = lambda labels: {  # type: ignore[assignment]
        "assets": [{**oriel, "scenes": [x for x in labels if x != "1"] or labels}],
        "changes": [{"asset": "Oriel", "scene": "1", "description": d} for d in (
            "The salt turns her hair white as frost, like the crown.", "Barefoot.")] if "1" in labels else []}
    result = runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    assert result.ok, result.errors
    ids = [sc.id for sc in script.scenes]
    placed = {c.description: c.scene_id for c in by_name(saved_assets(runner, pid), "Oriel").state_changes}
    assert placed["The salt turns her hair white as frost, like the crown."] == ids[2]  # where it is told
    assert placed["Barefoot."] == ids[0]  # nowhere told: kept where the model put it


def test_a_change_of_look_recorded_in_a_scene_that_names_the_person_but_tells_none_of_it_moves_too(
        runner: Runner, engines: FakeEngines, responder: ResponderText) -> None:
    """Replayed at 23be191, the salt crown's far-shore scene named Oriel but told nothing of her
    crowning, so the change stayed there and she showed crowned two scenes early. A change whose
    scene names the person and tells it (two words or more) stays, even where a later scene says
    more of it; one whose scene tells none of it goes to the scene that does."""
    from aiuteur.screenplay import parse_fountain

    script = parse_fountain(
        "Title: Salt\n\nEXT. FAR SHORE - DUSK\n\nOriel watches the black lake. A goat chews kelp.\n\n"
        "INT. THE MINE - DUSK\n\nOriel ties her brown smock with a red cord and climbs into the white tunnels.\n\n"
        "INT. THE SALT THRONE - DUSK\n\nThe Queen sets her crown on Oriel's head. The salt climbs down "
        "from the crown into Oriel's hair and turns it white as frost. The red cord on her brown smock "
        "turns to salt.\n")
    pid = project_with_script(runner, script)
    oriel = {"name": "Oriel", "category": "character", "description": "A girl of nine in a brown smock."}
    changes = {"1": "The salt climbs down from the crown and turns her hair white as frost.",
               "2": "A red cord tied round her brown smock."}
    responder.hook = lambda labels: {  # type: ignore[assignment]
        "assets": [{**oriel, "scenes": labels}],
        "changes": [{"asset": "Oriel", "scene": k, "description": d} for k, d in changes.items() if k in labels]}
    result = runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    assert result.ok, result.errors
    ids = [sc.id for sc in script.scenes]
    placed = {c.description: c.scene_id for c in by_name(saved_assets(runner, pid), "Oriel").state_changes}
    assert placed[changes["1"]] == ids[2]  # named at the far shore, told at the throne
    assert placed[changes["2"]] == ids[1]  # told where it was put (the throne says more of it): stays


# --- master references -------------------------------------------------------------------------------


def test_a_reference_is_transparent_where_the_mask_is_zero(runner: Runner, engines: FakeEngines,
                                                             store: Store) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    sa = saved_assets(runner, pid)
    persephone = by_name(sa, "Persephone")
    result = runner.run(pid, Stage.ASSETS, action=MasterReference(asset_id=persephone.id), seed=3)
    assert result.ok
    take = next(t for t in result.takes if t.purpose == "master_reference")
    rgba, white = _png(store, take.output["rgba"]), _png(store, take.output["white"])  # type: ignore[index]
    assert rgba.mode == "RGBA" and white.mode == "RGB"
    mask = FakeMatting().cutout(FakeImage().generate(engines._image.requests[-1])).mask
    alpha = rgba.getchannel("A")
    for xy in [(0, 0), (63, 47), (5, 40)]:
        assert mask.getpixel(xy) == 0 and alpha.getpixel(xy) == 0 and white.getpixel(xy) == (255, 255, 255)
    assert mask.getpixel((30, 20)) == 255 and alpha.getpixel((30, 20)) == 255
    assert by_name(saved_assets(runner, pid), "Persephone").master_ref == take.output["rgba"]  # type: ignore[index]


def test_a_location_is_an_opaque_plate_and_never_matted(runner: Runner, engines: FakeEngines, store: Store) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    meadow = by_name(saved_assets(runner, pid), "Meadow")
    result = runner.run(pid, Stage.ASSETS, action=MasterReference(asset_id=meadow.id))
    take = next(t for t in result.takes if t.purpose == "master_reference")
    assert _png(store, take.output["rgba"]).getchannel("A").getextrema() == (255, 255)  # type: ignore[index]
    assert engines.calls["matting"] == 0


def test_several_takes_all_in_history_the_user_chooses(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    key = by_name(saved_assets(runner, pid), "silver key")
    made = [next(t for t in runner.run(pid, Stage.ASSETS, action=MasterReference(asset_id=key.id), seed=s).takes
                 if t.purpose == "master_reference") for s in (1, 2, 3)]
    sa = saved_assets(runner, pid)
    asset = by_name(sa, "silver key")
    assert asset.history == [t.id for t in made]
    assert asset.master_ref == made[0].output["rgba"]  # type: ignore[index]  # the first is chosen until the user picks
    listed = runner.takes(pid, Stage.ASSETS, target=f"reference:{key.id}")
    assert [t.id for t in listed] == [t.id for t in made]
    sa = ops.choose_reference(sa, listed[2])
    runner.save(pid, Stage.ASSETS, sa)
    asset = by_name(saved_assets(runner, pid), "silver key")
    assert asset.master_ref == made[2].output["rgba"] and len(asset.history) == 3  # type: ignore[index]


def test_the_unticked_get_no_reference_and_an_image_failure_stops_politely(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    sa = saved_assets(runner, pid)
    persephone = by_name(sa, "Persephone")
    runner.save(pid, Stage.ASSETS, ops.apply_checklist(sa, kept={persephone.id}))
    assert runner.run(pid, Stage.ASSETS, action=MasterReferences()).ok
    assert engines.calls["master_reference"] == 1
    after = saved_assets(runner, pid)
    assert [a.name for a in after.registry.assets if a.master_ref] == ["Persephone"]

    class Broken(FakeImage):
        def generate(self, request: object, *, progress: object = None) -> Image.Image:
            raise EngineError("Out of memory while generating image")

    engines._image = Broken()
    runner.save(pid, Stage.ASSETS, ops.apply_checklist(after, kept={a.id for a in after.registry.assets}))
    result = runner.run(pid, Stage.ASSETS, action=MasterReferences())
    assert not result.ok and "Out of memory" in result.errors[0]
    assert len([t for t in result.takes if t.purpose == "master_reference"]) == 1  # stopped after one failure


def test_an_upload_becomes_the_chosen_reference(runner: Runner, engines: FakeEngines, store: Store) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    hades = by_name(saved_assets(runner, pid), "Hades")
    buf = io.BytesIO()
    FakeImage().generate(__import__("aiuteur.engines.base", fromlist=["ImageRequest"]).ImageRequest("x")).save(buf, "PNG")
    key = runner.upload(pid, buf.getvalue(), "png")
    result = runner.run(pid, Stage.ASSETS, action=UploadReference(asset_id=hades.id, image_key=key))
    take = next(t for t in result.takes if t.purpose == "upload_reference")
    assert take.engine == "user" and engines.calls["matting"] == 1
    assert by_name(saved_assets(runner, pid), "Hades").master_ref == take.output["rgba"]  # type: ignore[index]
    with pytest.raises(InputError, match="not an image"):
        runner.run(pid, Stage.ASSETS, action=UploadReference(asset_id=hades.id,
                                                             image_key=runner.upload(pid, b"nope", "png")))


# --- adaptive description ---------------------------------------------------------------------------


def _image_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def test_vision_proposes_a_description_the_user_replaces_or_merges(runner: Runner, engines: FakeEngines) -> None:
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    hades = by_name(saved_assets(runner, pid), "Hades")
    key = runner.upload(pid, _image_bytes(), "png")
    result = runner.run(pid, Stage.ASSETS, action=DescribeAsset(asset_id=hades.id, image_key=key))
    assert result.record is None  # a proposal changes nothing by itself
    out = result.takes[0].output
    assert out and out["from_vision"] and out["proposal"].startswith("A red egg")
    assert engines.calls["vision"] == 1
    sa = saved_assets(runner, pid)
    merged = by_name(ops.apply_description(sa, hades.id, out["proposal"], "merge"), "Hades")
    assert merged.description == "Tall, grey robes. A red egg in a black cloak. Gold buttons." and merged.user_edited
    replaced = by_name(ops.apply_description(sa, hades.id, out["proposal"], "replace"), "Hades")
    assert replaced.description == "A red egg in a black cloak. Gold buttons."


def test_without_vision_it_says_so_and_keeps_the_users_words(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.engines.vision import NoVision

    engines._vision = NoVision()
    pid = project_with_script(runner, spring_script())
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    hades = by_name(saved_assets(runner, pid), "Hades")
    key = runner.upload(pid, _image_bytes(), "png")
    result = runner.run(pid, Stage.ASSETS, action=DescribeAsset(asset_id=hades.id, image_key=key),
                        guidance="A giant egg with a crown.")
    out = result.takes[0].output
    assert result.ok and out is not None and not out["from_vision"]
    assert out["proposal"] == "A giant egg with a crown." and "no vision model" in out["note"]
    assert engines.calls["vision"] == 0


# --- edits --------------------------------------------------------------------------------------------


def test_merge_split_and_add_by_hand(runner: Runner, engines: FakeEngines, responder: ResponderText) -> None:
    script = spring_script()
    pid = project_with_script(runner, script)
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    sa = saved_assets(runner, pid)
    hamlet, hades = by_name(sa, "Hamlet"), by_name(sa, "Hades")
    # split "HAMLET'S VOICE" off: it gets the scene where that cue speaks, and stays split on re-extraction
    sa = ops.split_alias(sa, hamlet.id, "HAMLET'S VOICE", script)
    voice = by_name(sa, "HAMLET'S VOICE")
    assert voice.scenes == [script.scenes[1].id] and "HAMLET'S VOICE" not in by_name(sa, "Hamlet").aliases
    with pytest.raises(InputError, match="no alias"):
        ops.split_alias(sa, hamlet.id, "OPHELIA")
    # merge Hades into Hamlet (silly, but the point is the join)
    merged = ops.merge_assets(sa, hamlet.id, hades.id)
    h = by_name(merged, "Hamlet")
    assert "Hades" in h.aliases and set(hades.scenes) <= set(h.scenes)
    assert all(a.id != hades.id for a in merged.registry.assets)
    # add by hand; a duplicate name is refused in words
    added = ops.add_asset(merged, "Pomegranate", "prop", "A split red pomegranate.")
    assert by_name(added, "Pomegranate").origin == "user" and by_name(added, "Pomegranate").user_edited
    with pytest.raises(InputError, match="already a character called Persephone"):
        ops.add_asset(added, "persephone", "character")
    runner.save(pid, Stage.ASSETS, added)
    runner.save(pid, Stage.SCRIPT, with_action(script, script.scenes[1].id, "Wind."))
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    after = saved_assets(runner, pid)
    assert by_name(after, "HAMLET'S VOICE").scenes == [script.scenes[1].id]
    assert "HAMLET'S VOICE" not in by_name(after, "Hamlet").aliases
    assert len([a for a in after.registry.assets if a.name == "Hades"]) == 0  # merged stays merged
    assert by_name(after, "Pomegranate").description == "A split red pomegranate."


def test_running_before_the_script_exists_says_what_to_do(runner: Runner) -> None:
    pid = runner.create_project("Empty").id
    with pytest.raises(InputError, match="Master script"):
        runner.run(pid, Stage.ASSETS)


def test_an_unknown_target_is_refused(runner: Runner) -> None:
    pid = project_with_script(runner, spring_script())
    with pytest.raises(InputError, match="Style & assets has no action 'frobnicate'"):
        runner.run(pid, Stage.ASSETS, action=actions.parse(Stage.ASSETS, {"kind": "frobnicate"}))
    with pytest.raises(InputError, match="no asset"):
        runner.run(pid, Stage.ASSETS, action=MasterReference(asset_id="as_nope"))


def test_scripts_with_repeated_numbers_are_labelled_by_position() -> None:
    s = spring_script()
    dup = Script(scenes=[sc.model_copy(update={"number": "1"}) for sc in s.scenes])
    assert list(stage.scene_labels(dup).values()) == ["1", "2", "3", "4"]


def test_style_and_assets_round_trips() -> None:
    sa = StyleAndAssets()
    assert StyleAndAssets.model_validate(sa.model_dump(mode="json")) == sa


def test_a_first_name_in_an_edited_scene_joins_the_registered_full_name(runner: Runner, engines: FakeEngines) -> None:
    from aiuteur.domain import ElementKind, ScriptElement

    script = spring_script()
    pid = project_with_script(runner, script)
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    sa = saved_assets(runner, pid)
    renamed = ops.edit_asset(sa, by_name(sa, "Leo").id, name="Leo Marsh")
    leo = by_name(renamed, "Leo Marsh").model_copy(update={"aliases": []})  # no alias "Leo" to match exactly
    runner.save(pid, Stage.ASSETS, renamed.model_copy(update={"registry": renamed.registry.model_copy(
        update={"assets": [leo if a.id == leo.id else a for a in renamed.registry.assets]})}))
    last = script.scenes[3]
    line = ScriptElement(kind=ElementKind.DIALOGUE, character="LEO", text="Again.")
    edited = script.model_copy(update={"scenes": [*script.scenes[:3], last.model_copy(
        update={"elements": [*last.elements, line]})]})
    runner.save(pid, Stage.SCRIPT, edited)
    runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    after = saved_assets(runner, pid)
    assert [a.name for a in after.registry.assets if "Leo" in a.name and a.category == "character"] == ["Leo Marsh"]
    assert not any(a.offered for a in after.registry.assets)


def test_when_every_try_fails_the_answer_with_the_most_in_it_is_kept() -> None:
    from aiuteur.pipeline.assets import ChunkExtraction
    from aiuteur.pipeline.writing import ask
    from tests.fakes import ScriptedText

    rich = {"assets": [{"name": "tuba", "category": "prop", "scenes": ["9"]},
                       {"name": "Dov", "category": "character", "scenes": ["9"]}], "changes": []}
    text = ScriptedText()
    text.enqueue(rich, {"assets": []})  # the re-asked model passes by answering nothing
    ctx = {"labels": {"1"}, "names": set()}
    got = ask(text, [{"role": "user", "content": "x"}], ChunkExtraction, seed=0, context=ctx, max_attempts=2,
              keep=lambda x: len(x.assets) + len(x.changes))
    assert got.value is not None and [a.name for a in got.value.assets] == ["tuba", "Dov"]
    assert "use only the labels" in got.error  # for the caller to repair (repair_extraction)
    text.enqueue(rich, {"assets": []})
    last = ask(text, [{"role": "user", "content": "x"}], ChunkExtraction, seed=0, context=ctx, max_attempts=2)
    assert last.value is not None and last.value.assets == []  # without `keep`: the last answer, as before


def test_a_chunks_scene_labels_are_its_own_by_construction_and_read_bare() -> None:
    """The extraction schema of a chunk allows only its own scene labels (a constrained engine cannot
    write another), and a label written as the chunk's text shows it ("[1]", the real model on the
    wash bay at 6b7605f, two re-asks) or as "Scene 2" reads as the label itself."""
    import pydantic

    from aiuteur.pipeline.assets import ChunkExtraction, chunk_schema, extraction_problems

    schema = chunk_schema(["1", "2"])
    assert issubclass(schema, ChunkExtraction) and chunk_schema(["1", "2"]) is schema
    js = schema.model_json_schema()
    defs = js["$defs"].values()
    assert [d["properties"]["scene"]["enum"] for d in defs if "scene" in d["properties"]] == [["1", "2"]]
    assert [d["properties"]["scenes"]["items"]["enum"] for d in defs if "scenes" in d["properties"]] == [["1", "2"]]
    assert '"99"' not in json.dumps(js)
    got = schema.model_validate({"assets": [{"name": "Teodora Ruiz", "category": "character", "scenes": ["[1]", "Scene 2"]}],
                                 "changes": [{"asset": "Teodora Ruiz", "scene": "[2]", "description": "in overalls"}]})
    assert got.assets[0].scenes == ["1", "2"] and got.changes[0].scene == "2"
    assert extraction_problems(got, {"1", "2"}, set()) == []
    with pytest.raises(pydantic.ValidationError):
        schema.model_validate({"assets": [{"name": "Teodora Ruiz", "category": "character", "scenes": ["3"]}]})
    # Without labels, any label, checked as before; a plain ChunkExtraction reads "[1]" bare too.
    assert chunk_schema([]) is ChunkExtraction
    loose = ChunkExtraction.model_validate({"assets": [{"name": "tuba", "category": "prop", "scenes": ["[1]", "9"]}]})
    assert extraction_problems(loose, {"1"}, set()) == ["asset 'tuba' names scene(s) 9; use only the labels 1"]
