"""In-app actions never drop unsaved typing, in a real Chromium on the running app (tiny profile).

Switching the scene, going back to all projects (to open another) or any other action that would
refill a form holding typed, unsaved text first asks in the app's own dialog: "Save and continue"
saves with that form's own button (a refused save keeps the text and switches nothing), "Discard
and continue" drops it, "Keep editing" stays. Driven through the page a filmmaker uses: the scene
picker and the prompts, shot-list and beat-sheet forms, and the treatment form with its "Write
three treatments" button and the leave-page guard.

Waits are on what the page shows or what the store holds, with generous limits (a shared machine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from aiuteur.domain import (
    Beat,
    BeatSheet,
    InputMode,
    Prompts,
    Stage,
    StoryInput,
    Treatment,
    TreatmentVariant,
)
from aiuteur.pipeline.prompts_stage import edit_prompt
from aiuteur.pipeline.runner import Runner
from tests.browser.serving import FilmHome, film_home, open_project_in_browser, serve_film
from tests.serving import browser_page, needs_chromium, wait_until

LIMIT_S = 180.0
pytestmark = [pytest.mark.browser, needs_chromium]
SCENE_PICKER = "Scene (Phase B stages work on one scene)"
STORY = "The Night Ferry"


def story_project(runner: Runner) -> str:
    """A second project at stage 3: three treatments (the first chosen) and a three-beat sheet."""
    pid = runner.create_project(STORY).id
    runner.save(pid, Stage.INPUT, StoryInput(mode=InputMode.EXPAND))
    runner.save(pid, Stage.TREATMENT, Treatment(variants=[
        TreatmentVariant(title=f"Crossing {i}", logline=f"A ferry crosses at night ({i}).",
                         prose=f"The ferry leaves the quay at midnight. Version {i}.") for i in (1, 2, 3)], chosen=0))
    runner.save(pid, Stage.BEATS, BeatSheet(beats=[
        Beat(title=t, summary=f"{t}: the ferry and its one passenger.") for t in ("Departure", "Fog", "Arrival")]))
    return pid


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FilmHome, str, str]]:
    with film_home(tmp_path_factory) as home, serve_film(home) as url:
        yield home, story_project(home.runner), url


@pytest.fixture
def page(film: tuple[FilmHome, str, str]) -> Iterator[Any]:
    with browser_page(film[2], timeout_s=LIMIT_S) as p:
        yield p


def asked(page: Any) -> str:
    """The guard's dialog is open: its text."""
    dialog = page.locator("#aiu-unsaved-dialog")
    page.wait_for_function("() => { const d = document.getElementById('aiu-unsaved-dialog'); return d && d.open; }")
    return str(dialog.inner_text())


def answer(page: Any, choice: str) -> None:
    page.locator("#aiu-unsaved-dialog").get_by_role("button", name=choice).click()


def unsaved(page: Any) -> bool:
    return bool(page.evaluate("window.aiuteur.unsaved()"))


def prompts_of(runner: Runner, pid: str, sid: str) -> Prompts:
    return Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid))


def pick_scene(page: Any, number: int) -> None:
    """Choose "Scene N" in the scene picker (its list opens again after the guard's question)."""
    option = page.get_by_role("option").filter(has_text=f"Scene {number}").first
    if not option.is_visible():
        page.get_by_label(SCENE_PICKER).click()
    option.click()


def test_switching_the_scene_asks_first_and_each_answer_keeps_its_word(film: tuple[FilmHome, str, str],
                                                                      page: Any) -> None:
    """The prompts form of scene 2 (where the film was left): Keep editing, Save and continue, Discard
    and continue, a refused save; then "← All projects" to open another project."""
    home, story, _ = film
    runner, pid = home.runner, home.pid
    s1, s2 = runner.view(pid).state.scene_ids
    open_project_in_browser(page, "The Lamp Keeper")  # lands at stage 9, scene 2
    start = page.get_by_label("Start-frame prompt", exact=True)

    def shows(sid: str) -> None:  # the page holds that scene's first saved prompt (the switch's answer came)
        wait_until(lambda: start.input_value() == prompts_of(runner, pid, sid).prompts[0].start_prompt, LIMIT_S,
                   f"the start prompt of {sid}")

    shows(s2)
    mine = "Typed: the lamp gutters in the wind."
    start.fill(mine)
    assert unsaved(page)

    # Keep editing: nothing switches, nothing is saved, the text stays
    page.get_by_label(SCENE_PICKER).click()
    assert "not saved" in asked(page)
    answer(page, "Keep editing")
    assert start.input_value() == mine and unsaved(page)
    assert mine not in json.dumps(runner.view(pid).data(Stage.PROMPTS, s2))
    assert page.get_by_label(SCENE_PICKER).input_value().startswith("Scene 2")

    # Save and continue: saved by the form's own save, then the switch goes on
    page.get_by_label(SCENE_PICKER).click()
    asked(page)
    answer(page, "Save and continue")
    wait_until(lambda: prompts_of(runner, pid, s2).prompts[0].start_prompt == mine, LIMIT_S, "the typed prompt saved")
    pick_scene(page, 1)
    shows(s1)
    assert not unsaved(page)

    # Discard and continue: scene 1's typing is dropped, scene 2 shows what was saved (the earlier save)
    start.fill("Typed and thrown away.")
    page.get_by_label(SCENE_PICKER).click()
    asked(page)
    answer(page, "Discard and continue")
    pick_scene(page, 2)
    shows(s2)
    assert start.input_value() == mine and not unsaved(page)
    assert "thrown away" not in json.dumps(runner.view(pid).data(Stage.PROMPTS, s1))

    # a refused save (someone else saved this shot since): the text stays, nothing switches
    start.fill("Mine again.")
    prompts = prompts_of(runner, pid, s2)
    runner.save(pid, Stage.PROMPTS, edit_prompt(prompts, prompts.prompts[0].shot_id, start="Theirs."), s2,
                base_revision=runner.view(pid).revision(Stage.PROMPTS, s2))
    page.get_by_label(SCENE_PICKER).click()
    asked(page)
    answer(page, "Save and continue")
    page.locator("#aiu-unsaved-dialog").get_by_text(re.compile("was not saved")).wait_for()
    answer(page, "Keep editing")
    assert start.input_value() == "Mine again." and unsaved(page)
    assert page.get_by_label(SCENE_PICKER).input_value().startswith("Scene 2")
    assert prompts_of(runner, pid, s2).prompts[0].start_prompt == "Theirs."

    # back to all projects to open another: asked too; discard, and the other project opens
    page.get_by_role("button", name="← All projects").click()
    asked(page)
    answer(page, "Discard and continue")
    open_project_in_browser(page, STORY)
    assert not unsaved(page)
    assert prompts_of(runner, pid, s2).prompts[0].start_prompt == "Theirs."
    del story


def test_treatment_beats_and_shot_list_forms_are_guarded_in_the_browser(film: tuple[FilmHome, str, str],
                                                                        page: Any) -> None:
    """Treatment: "Write three treatments" asks (Keep editing), then leaving the page saves on "Stay".
    Beat sheet: a typed cell is unsaved; "← All projects" asks, "Save and continue" saves it.
    Shot list: a typed cell, another scene picked, "Discard and continue": not saved, the other scene shows."""
    from playwright.sync_api import Error as PlaywrightError

    home, story, _ = film
    runner, pid = home.runner, home.pid
    open_project_in_browser(page, STORY)

    # treatment
    page.get_by_role("tab", name="2. Treatment").click()
    title = page.get_by_label("Treatment 1: title", exact=True)
    wait_until(lambda: title.input_value() == "Crossing 1", LIMIT_S, "the saved treatment shown")
    title.fill("Crossing at dawn")
    assert unsaved(page)
    page.get_by_role("button", name="Write three treatments").click()
    assert "2. Treatment" in asked(page)
    answer(page, "Keep editing")
    assert title.input_value() == "Crossing at dawn"
    page.on("dialog", lambda d: d.dismiss())  # the leave-page question: "Stay"
    with pytest.raises(PlaywrightError, match="ERR_ABORTED"):
        page.goto("about:blank")
    wait_until(lambda: Treatment.model_validate(runner.view(story).data(Stage.TREATMENT)).variants[0].title
               == "Crossing at dawn", LIMIT_S, "the treatment saved after Stay")
    page.wait_for_function("window.aiuteur.unsaved() === false")

    # beat sheet
    page.get_by_role("tab", name="3. Beat sheet").click()
    cell = page.locator(".aiu-saves-aiu-save-beats").get_by_text("Fog", exact=True).first
    cell.dblclick()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Thick fog")
    page.keyboard.press("Enter")
    assert unsaved(page)
    page.get_by_role("button", name="← All projects").click()
    asked(page)
    answer(page, "Save and continue")
    wait_until(lambda: [b.title for b in BeatSheet.model_validate(runner.view(story).data(Stage.BEATS)).beats]
               == ["Departure", "Thick fog", "Arrival"], LIMIT_S, "the typed beat saved")
    page.get_by_role("button", name="Open", exact=True).wait_for()  # the dashboard
    assert not unsaved(page)

    # shot list of the film (opened at scene 2)
    s1, s2 = runner.view(pid).state.scene_ids
    open_project_in_browser(page, "The Lamp Keeper")
    page.get_by_role("tab", name="7. Shot list").click()
    saved2 = json.dumps(runner.view(pid).data(Stage.SHOTS, s2))
    table = page.locator(".aiu-saves-aiu-save-shots")
    action2 = runner.view(pid).data(Stage.SHOTS, s2)["shots"][0]["action"]
    first = table.get_by_role("gridcell").filter(has_text=action2[:25]).first  # the first shot's action cell
    first.wait_for()
    first.dblclick()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Typed: a wide shot of the harbour, never saved.")
    page.keyboard.press("Enter")
    assert unsaved(page)
    page.get_by_label(SCENE_PICKER).click()
    asked(page)
    answer(page, "Discard and continue")
    pick_scene(page, 1)
    shot1 = runner.view(pid).data(Stage.SHOTS, s1)["shots"][0]["action"]
    table.get_by_role("gridcell").filter(has_text=shot1[:25]).first.wait_for()  # scene 1's shots are shown
    assert not unsaved(page)
    assert json.dumps(runner.view(pid).data(Stage.SHOTS, s2)) == saved2
