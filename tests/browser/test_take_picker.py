"""One take picker in stages 5, 8, 10 and 12, driven through the running app as the page drives it.

A film with two takes of one target in each stage (an asset's master reference, a scene-instance
image, a keyframe, a clip) is served by the real app over test-double engines. For each stage the
page opens the scene, sees the chosen take marked, clicks the other take (the gallery's select
event, as a click sends it), sees it chosen in the store and on screen, then presses Undo and gets
the earlier choice back. A target with a single take shows it as already chosen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from aiuteur.domain import AssetStates, Clips, Frames, Stage, StyleAndAssets
from aiuteur.pipeline.actions import (
    Estimate,
    MakeKeyframes,
    MasterReference,
    RenderClip,
    RenderScene,
    SceneInstance,
)
from aiuteur.pipeline.runner import Runner
from tests.browser.protocol import Page
from tests.browser.serving import film_filler, film_home, open_film, serve_film

pytestmark = pytest.mark.browser


@dataclass
class Film:
    url: str
    runner: Runner
    pid: str
    sid: str
    single_sid: str  # scene 2: one take of its first frame


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Film]:
    with film_home(tmp_path_factory) as home:
        runner, pid = home.runner, home.pid
        sid, other = home.script.scenes[0].id, home.script.scenes[1].id
        # two takes of everything the pickers show in scene 1
        first = StyleAndAssets.model_validate(runner.view(pid).data(Stage.ASSETS)).registry.assets[0].id
        for seed in (1, 2):
            assert runner.run(pid, Stage.ASSETS, action=MasterReference(asset_id=first), seed=seed).ok
        states = AssetStates.model_validate(runner.view(pid).data(Stage.ASSET_STATES, sid))
        in_scene = states.states[0].asset_id
        assert runner.run(pid, Stage.ASSET_STATES, sid, action=SceneInstance(asset_id=in_scene, takes=2), seed=3).ok
        assert runner.run(pid, Stage.FRAMES, sid, seed=1, action=MakeKeyframes(score=False, best_of=2)).ok
        assert runner.run(pid, Stage.FRAMES, other, seed=1, action=MakeKeyframes(score=False)).ok
        assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
        assert runner.run(pid, Stage.VIDEO, sid, action=RenderScene(fps=4, animatic_fps=4), seed=1).ok  # not 5: two takes
        shot = Clips.model_validate(runner.view(pid).data(Stage.VIDEO, sid)).clips[0].shot_id
        assert runner.run(pid, Stage.VIDEO, sid, action=RenderClip(shot_id=shot, fps=4), seed=5).ok
        with serve_film(home) as url:
            yield Film(url, runner, pid, sid, other)


def opened(film: Film, scene_id: str) -> Page:
    page = Page(film.url)
    page.fill = film_filler(film.pid)
    return open_film(page, scene_id)


def captions(page: Page, gallery: int) -> list[str]:
    """The captions the gallery shows, in order."""
    items = page.values.get(gallery) or []
    return [str(i.get("caption") or "") if isinstance(i, dict) else json.dumps(i) for i in items]


def marked(page: Page, gallery: int) -> list[int]:
    return [k for k, c in enumerate(captions(page, gallery)) if c.startswith("✓ chosen")]


def chosen_asset_ref(film: Film) -> str | None:
    sa = StyleAndAssets.model_validate(film.runner.view(film.pid).data(Stage.ASSETS))
    a = sa.registry.assets[0]
    takes = film.runner.takes(film.pid, Stage.ASSETS, target=f"reference:{a.id}")
    return next((t.id for t in takes if t.output and t.output.get("rgba") == a.master_ref), None)


def chosen_instance(film: Film) -> str | None:
    states = AssetStates.model_validate(film.runner.view(film.pid).data(Stage.ASSET_STATES, film.sid))
    return next((s.chosen_take for s in states.states if s.instance_takes), None)


def chosen_frame(film: Film) -> str | None:
    frames = Frames.model_validate(film.runner.view(film.pid).data(Stage.FRAMES, film.sid))
    return frames.frames[0].chosen_take


def chosen_clip(film: Film) -> str | None:
    return Clips.model_validate(film.runner.view(film.pid).data(Stage.VIDEO, film.sid)).clips[0].chosen_take


PICKERS: dict[str, Callable[[Film], str | None]] = {
    "choose_reference": chosen_asset_ref,
    "asset_states_choose_take": chosen_instance,
    "frames_choose": chosen_frame,
    "video_choose_clip": chosen_clip,
}


@pytest.mark.parametrize("api_name", list(PICKERS))
def test_click_a_take_to_choose_it_and_undo_brings_the_earlier_one_back(film: Film, api_name: str) -> None:
    chosen_now = PICKERS[api_name]
    page = opened(film, film.sid)
    click = page.dep_named(api_name)
    undo = page.dep_named(f"{api_name}_undo")
    gallery = click["targets"][0][0]
    assert page.kind(gallery) == "gallery"
    if api_name == "choose_reference":  # stage 5 shows the asset picked in its list: pick the first one
        assert all(o.success for o in page.fire(page.dep_named("show_asset")["id"]))
    shown = captions(page, gallery)
    assert len(shown) == 2, shown
    before = chosen_now(film)
    if before is None:  # nothing chosen among the takes yet (a master made outside the history): choose one
        assert all(o.success for o in page.fire(click["id"], {"index": 0, "value": None, "selected": True}))
        before = chosen_now(film)
    assert before is not None
    assert len(marked(page, gallery)) == 1  # the chosen take is marked, and only it
    k = marked(page, gallery)[0]
    other = 1 - k

    outcomes = page.fire(click["id"], {"index": other, "value": None, "selected": True})
    assert all(o.success for o in outcomes), [o.error for o in outcomes]
    after = chosen_now(film)
    assert after is not None and after != before  # one click chose it: no second button
    assert marked(page, gallery) == [other]

    outcomes = page.fire(undo["id"])
    assert all(o.success for o in outcomes), [o.error for o in outcomes]
    assert chosen_now(film) == before
    assert marked(page, gallery) == [k]

    # the chosen take clicked again changes nothing; Undo then has nothing to go back to
    assert all(o.success for o in page.fire(click["id"], {"index": k, "value": None, "selected": True}))
    assert chosen_now(film) == before
    refused = page.fire(undo["id"])
    assert all(o.success for o in refused)
    assert chosen_now(film) == before


def test_a_single_take_shows_as_already_chosen(film: Film) -> None:
    page = opened(film, film.single_sid)
    gallery = page.dep_named("frames_choose")["targets"][0][0]
    assert len(captions(page, gallery)) == 1
    assert marked(page, gallery) == [0]
    note = page.by_id[page.dep_named("frames_choose")["id"]]["outputs"]
    texts = [str(page.values.get(c) or "") for c in note]
    assert any("The only take" in t and "is chosen" in t for t in texts), texts


def test_the_scene_cut_follows_the_chosen_clip(film: Film) -> None:
    page = opened(film, film.sid)
    click = page.dep_named("video_choose_clip")
    gallery = click["targets"][0][0]
    cut_before = Clips.model_validate(film.runner.view(film.pid).data(Stage.VIDEO, film.sid)).scene_cut
    other = 1 - marked(page, gallery)[0]
    outcomes = page.fire(click["id"], {"index": other, "value": None, "selected": True})
    assert all(o.success for o in outcomes), [o.error for o in outcomes]
    said = [d for o in outcomes for d in o.data if isinstance(d, str) and "Chosen" in d]
    assert said and "⚠️" not in said[0], said  # the page says what happened to the cut
    clips = Clips.model_validate(film.runner.view(film.pid).data(Stage.VIDEO, film.sid))
    chosen = clips.clips[0].chosen_take
    assert clips.scene_cut and clips.scene_cut != cut_before, (chosen, said)  # joined again from the chosen clips
    assert all(o.success for o in page.fire(page.dep_named("video_choose_clip_undo")["id"]))


def test_use_the_master_as_is_without_a_master_is_refused_in_one_sentence(film: Film) -> None:
    """Runs last in this module: it adds an asset that has no master reference to scene 1."""
    from aiuteur.domain import Asset, AssetCategory

    sa = StyleAndAssets.model_validate(film.runner.view(film.pid).data(Stage.ASSETS))
    lantern = Asset(id="as_lantern", name="Lantern", category=AssetCategory.PROP, scenes=[film.sid],
                    description="A brass storm lantern.")
    film.runner.save(film.pid, Stage.ASSETS, sa.model_copy(update={"registry": sa.registry.model_copy(
        update={"assets": [*sa.registry.assets, lantern]})}))
    page = opened(film, film.sid)
    dep = page.dep_named("asset_states_use_master")
    _, _, asset, _, box = dep["inputs"]
    assert "as_lantern" in [c[1] if isinstance(c, (list, tuple)) else c for c in page.choices[asset]]
    page.values[asset], page.values[box] = "as_lantern", True
    outcome = page.call(dep["id"])
    assert outcome.success
    said = " ".join(outcome.warnings)
    assert said.startswith("Lantern has no master reference to use as is") and said.count(".") <= 2, said
    states = AssetStates.model_validate(film.runner.view(film.pid).data(Stage.ASSET_STATES, film.sid))
    assert not any(s.use_master for s in states.states if s.asset_id == "as_lantern")
