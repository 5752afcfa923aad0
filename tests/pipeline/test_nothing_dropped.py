"""Nothing the film holds is lost on the way (issue 16, item 10).

"FADE IN:" stays before the first heading on screen; the hub lists everyone present in a scene,
speaking or not; a scene-asset description carried from the script is never empty; scene 2
carries scene 1's description along with its image. (The shot splitter's phrases are tested in
test_phase_b_structure; "use the master as is" without a master in tests/browser/test_take_picker.)
"""

from __future__ import annotations

from aiuteur.domain import Asset, AssetCategory, AssetRegistry, AssetStates, Stage, StyleAndAssets
from aiuteur.pipeline import asset_states as st8
from aiuteur.pipeline.hub import scene_rows
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import import_screenplay
from aiuteur.store import Store
from aiuteur.ui.script_tab import script_html
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import DownText, FakeMatting, project_with_script, registry_for

SILENT = """Title: Two at the Table

FADE IN:

INT. KITCHEN - NIGHT

MAYA CHEN (30s, wiry) and Leo sit across the table. Neither speaks.

LEO
Eat.

EXT. PORCH - LATER

Maya and Leo watch the rain in silence.

FADE OUT.
"""


def test_fade_in_stays_before_the_first_heading_on_screen() -> None:
    html = script_html(import_screenplay(SILENT.encode(), "two.fountain"))
    assert html.index("FADE IN:") < html.index("INT. KITCHEN - NIGHT") < html.index("FADE OUT.")


def test_the_hub_lists_who_is_present_without_a_line(runner: Runner) -> None:
    pid, script = project_with_script(runner, SILENT, "two.fountain")
    rows = scene_rows(runner.view(pid).state)  # before stage 5: the script's speakers named in the action
    assert rows[1].characters == ["LEO"]  # Leo speaks in scene 1; in scene 2 he is only seen
    s = [sc.id for sc in script.scenes]
    people = [Asset(id="as_maya", name="Maya Chen", aliases=["Maya"], category=AssetCategory.CHARACTER,
                    scenes=s[:1], description="A wiry woman in her thirties."),
              Asset(id="as_leo", name="Leo", category=AssetCategory.CHARACTER, scenes=s[:1], description="A boy.")]
    runner.save(pid, Stage.ASSETS, StyleAndAssets(registry=AssetRegistry(assets=people)))
    rows = scene_rows(runner.view(pid).state)
    assert rows[0].characters == ["Maya Chen", "Leo"]
    assert rows[1].characters == ["Maya Chen", "Leo"]  # present, silent, and not listed in the registry's scenes


def down(store: Store) -> Runner:
    """The text model is down: stages 7 and 8 make their artifacts by their code fallbacks."""
    return Runner(store, engines=FakeEngines(text=DownText(), matting=FakeMatting()))  # type: ignore[arg-type]


def test_a_description_carried_from_the_script_is_never_empty(store: Store) -> None:
    runner = down(store)
    pid, script = project_with_script(runner, SILENT, "two.fountain")
    s = [sc.id for sc in script.scenes]
    maya = Asset(id="as_maya", name="Maya Chen", aliases=["MAYA CHEN", "Maya"], category=AssetCategory.CHARACTER,
                 scenes=s, description="")  # the registry has no words for her
    lamp = Asset(id="as_lamp", name="brass lamp", category=AssetCategory.PROP, scenes=s[:1], description="")
    runner.save(pid, Stage.ASSETS, StyleAndAssets(registry=AssetRegistry(assets=[maya, lamp])))
    assert runner.run(pid, Stage.SHOTS, s[0], seed=0).ok
    assert runner.run(pid, Stage.ASSET_STATES, s[0], seed=0).ok  # the text model is down: the fallback
    states = AssetStates.model_validate(runner.view(pid).data(Stage.ASSET_STATES, s[0]))
    by_id = {st.asset_id: st.description for st in states.states}
    assert by_id["as_maya"].startswith("MAYA CHEN (30s, wiry) and Leo sit across the table")  # the script's words
    assert by_id.get("as_lamp", "brass lamp").strip()  # named nowhere: its name and kind, never ""
    assert st8.never_empty("", lamp, script.scenes[0], "") == "brass lamp, the prop as the script names it."


def test_scene_two_carries_scene_ones_description_with_its_image(store: Store) -> None:
    runner = down(store)
    pid, script = project_with_script(runner)
    registry_for(runner, pid, script)
    first, second = script.scenes[0].id, script.scenes[1].id
    for sid in (first, second):
        assert runner.run(pid, Stage.SHOTS, sid, seed=0).ok
    assert runner.run(pid, Stage.ASSET_STATES, first, seed=0).ok
    states = AssetStates.model_validate(runner.view(pid).data(Stage.ASSET_STATES, first))
    look = "Persephone with berry juice on her green tunic and a basket on her arm."
    runner.save(pid, Stage.ASSET_STATES, st8.set_description(states, "as_persephone", look, "Scene 1"), first)
    assert runner.run(pid, Stage.ASSET_STATES, second, seed=0).ok
    carried = AssetStates.model_validate(runner.view(pid).data(Stage.ASSET_STATES, second))
    assert st8.state_of(carried, "as_persephone").description == look  # type: ignore[union-attr]
