"""Stages 6-9 in the UI: pure formatting, table edits, and every event named for the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiuteur.domain import InputError, ShotList, Stage, StyleAndAssets
from aiuteur.domain.stages import STATUS_COLOURS
from aiuteur.pipeline.hub import scene_rows
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.shot_list import fallback_shot_list
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui import asset_states_tab, hub_tab, prompts_tab, shots_tab
from tests.pipeline.phase_b_fixtures import project_with_script, registry_for


def test_hub_chips_use_only_the_status_colours(runner: Runner) -> None:
    pid, script = project_with_script(runner)
    runner.set_deferred(pid, script.scenes[1].id, True)
    rows = scene_rows(runner.view(pid).state)
    html = hub_tab.hub_html(rows)
    colours = set(re.findall(r"#[0-9a-fA-F]{6}", html))
    assert colours and colours <= set(STATUS_COLOURS.values())
    assert "Deferred" in html and "Stage 7 · Shot list" in html
    assert hub_tab.scene_choices(rows)[1][0].endswith("(deferred)")


def test_shot_table_edits_apply_and_dialogue_is_read_only(runner: Runner) -> None:
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    scene = script.scenes[2]
    shots = fallback_shot_list(scene, [a for a in bundle.registry.assets if scene.id in a.scenes])
    names = {a.id: a.name for a in bundle.registry.assets}
    table = shots_tab.rows(shots, scene, names)
    assert table[0][0] == "3A" and "Underworld Hall" in table[0][8]
    assert any("PERSEPHONE: Six seeds. No more." in r[7] for r in table)
    table[0][1], table[0][5] = "close-up", 3
    for r in table:
        r[7] = "REWRITTEN: nothing"  # edits to the dialogue column are ignored
    new = shots_tab.apply_table(shots, scene, table)
    assert new.shots[0].size == "close-up" and new.shots[0].duration_s == 3
    assert [s.dialogue for s in new.shots] == [s.dialogue for s in shots.shots]
    table[0][5] = "soon"
    with pytest.raises(InputError, match="seconds must be a number"):
        shots_tab.apply_table(shots, scene, table)
    assert shots_tab.shot_id(new, "3b") == new.shots[1].id
    with pytest.raises(InputError, match="no shot 9Z"):
        shots_tab.shot_id(new, "9Z")
    assert isinstance(new, ShotList)


def test_asset_and_prompt_panels_say_things_in_words(runner: Runner) -> None:
    pid, script = project_with_script(runner)
    bundle = registry_for(runner, pid, script)
    state = runner.view(pid).state
    p = bundle.registry.get("as_persephone")
    assert asset_states_tab.reference_words(state, script.scenes[3].id, p, None) == \
        "Reference: **the master reference** (default)."
    assert asset_states_tab.audit_markdown(None) == "_No changes yet._"
    assert "No earlier scene" in asset_states_tab.mirror_text(state, script.scenes[0].id, p)
    assert asset_states_tab.asset_choices([p]) == [("Persephone (character)", "as_persephone")]
    assert prompts_tab.overview_markdown(None, None, {}).startswith("_No prompts yet")
    assert isinstance(StyleAndAssets.model_validate(state.data(Stage.ASSETS)), StyleAndAssets)


def test_every_phase_b_event_has_an_api_name(tmp_path: Path) -> None:
    from aiuteur.ui.app import build_app

    demo = build_app(Store(DataHome(tmp_path / "home", "test")))
    names = {str(getattr(f, "api_name", "")) for f in demo.fns.values()}
    for name in ("hub", "hub_open_scene", "hub_defer", "hub_undefer", "shot_list_generate", "shot_list_regenerate_one",
                 "shot_list_split", "shot_list_merge", "shot_list_add", "shot_list_delete", "shot_list_move_up",
                 "shot_list_save", "asset_states_infer", "asset_states_generate_instance", "asset_states_choose_take",
                 "asset_states_use_master", "asset_states_use_mirror", "asset_states_accept_suggestion",
                 "asset_states_dismiss_suggestion", "asset_states_add_asset", "prompts_build", "prompts_save",
                 "prompts_rebuild_one"):
        assert name in names, name
    assert not [n for n in names if n.startswith("/")]
    gpu = [f for f in demo.fns.values() if getattr(f, "api_name", "") in ("shot_list_generate", "asset_states_infer",
                                                                           "asset_states_generate_instance")]
    assert gpu and all(f.concurrency_id == "gpu" for f in gpu)
