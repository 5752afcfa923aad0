"""Stage 5 tab: every event is named, model events share the GPU queue, formatting is pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiuteur.domain import StateChange, StyleAndAssets
from aiuteur.pipeline import assets_ops as ops
from aiuteur.pipeline import visual_style as vs
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.store.capsules import CapsuleLibrary
from aiuteur.ui import assets_tab as tab
from aiuteur.ui.app import build_app
from tests.fakes import FakeEngines
from tests.pipeline.assets_fixtures import spring_script

MODEL_EVENTS = {"assets_extract", "master_references", "master_reference", "upload_reference", "describe_asset"}
EDIT_EVENTS = {"save_checklist", "save_asset", "choose_reference", "replace_description", "merge_description",
               "remove_asset", "restore_asset", "keep_asset", "add_asset", "merge_assets", "split_alias",
               "save_style", "save_visual_capsule", "scene_style", "show_asset"}


def test_every_event_is_named_and_model_events_use_the_gpu_queue(store: Store) -> None:
    demo = build_app(store, engines_factory=FakeEngines)
    fns: dict[str, Any] = {f.api_name: f for f in demo.fns.values() if f.api_name}
    assert set(fns) >= MODEL_EVENTS | EDIT_EVENTS
    assert not [n for n in fns if n.startswith("/")]
    for name in MODEL_EVENTS:
        assert fns[name].concurrency_id == "gpu", name
    for name in EDIT_EVENTS:
        assert fns[name].concurrency_id != "gpu", name


def _registry() -> tuple[StyleAndAssets, Any]:
    script = spring_script()
    sa = StyleAndAssets()
    for name, cat in [("Persephone", "character"), ("Meadow", "location"), ("key", "prop"), ("lyre", "prop")]:
        sa = ops.add_asset(sa, name, cat)
    a = sa.registry.assets
    sa = ops.remove_asset(sa, a[3].id)
    sa = ops.apply_checklist(sa, kept={a[0].id, a[1].id})
    return sa, script


def test_the_checklist_lists_names_by_category_without_removed_ones() -> None:
    sa, _ = _registry()
    groups = tab.checklist_groups(sa)
    assert [n for n, _ in groups[tab.AssetCategory.PROP][0]] == ["key"]
    assert groups[tab.AssetCategory.PROP][1] == []  # unticked
    assert len(groups[tab.AssetCategory.CHARACTER][1]) == 1
    rows = tab.asset_rows(sa, None)
    assert [r[4] for r in rows] == ["to pre-generate", "to pre-generate", "described from text later", "removed"]
    assert "No asset is mandatory" in tab.summary_markdown(sa)


def test_appearances_show_scenes_and_state_changes() -> None:
    sa, script = _registry()
    a = sa.registry.assets[0].model_copy(update={
        "scenes": [script.scenes[0].id, script.scenes[2].id],
        "state_changes": [StateChange(scene_id=script.scenes[2].id, description="in black")]})
    md = tab.appearances_markdown(a, script)
    assert "Scene 1 · INT. MEADOW - DAY" in md and "from here on: in black" in md
    assert tab.appearances_markdown(sa.registry.assets[1], script).startswith("_Not seen")


def test_style_form_and_capsule_choices(tmp_path: Path) -> None:
    home = DataHome(tmp_path, "t")
    cap = vs.create_capsule("Noir", medium="35mm film", palette="black and white", library=CapsuleLibrary(home))
    style = vs.style_from_capsule(cap)
    assert tab.style_form(style)["capsule"] == cap.id
    assert tab.capsule_choices([cap])[1] == ("Noir", cap.id)
    assert tab.overrides_markdown(style, None, [cap]) == "Every scene uses the film's style."
