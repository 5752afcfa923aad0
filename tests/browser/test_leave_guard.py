"""The leave-page guard in a real Chromium: "Stay" keeps the page connected, then saves.

Typing in stage 5's style fields counts as unsaved (it did not before); leaving asks; choosing
Stay must neither drop Gradio's connection (its own `beforeunload` listener closes it, and it was
added before the guard's, which the served page now puts first) nor lose what was typed: the guard
saves it, and the next edit still reaches the server. Gradio's close shows as its heartbeat
request aborted, so no heartbeat request may fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from aiuteur.domain import Prompts, Script, Stage, StyleAndAssets
from aiuteur.pipeline.runner import Runner
from tests.browser.serving import film_home, open_project_in_browser, serve_film
from tests.serving import browser_page, needs_chromium, wait_until

LIMIT_S = 120.0
pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Runner, str]]:
    with film_home(tmp_path_factory) as film, serve_film(film) as url:
        yield url, film.runner, film.pid


def style(runner: Runner, pid: str) -> StyleAndAssets:
    return StyleAndAssets.model_validate(runner.view(pid).data(Stage.ASSETS))


@pytest.fixture
def page(served: tuple[str, Runner, str]) -> Iterator[Any]:
    """A headless Chromium on the served app, the film opened from the dashboard (it lands at stage 9).
    `page.dropped` lists the page's heartbeat requests that failed (Gradio's close aborts them)."""

    def listen(p: Any) -> None:
        p.dropped = []
        p.on("requestfailed", lambda r: "/heartbeat/" in r.url and p.dropped.append(f"{r.url} {r.failure}"))

    with browser_page(served[0], timeout_s=LIMIT_S, before_goto=listen) as p:
        open_project_in_browser(p, "The Lamp Keeper")
        yield p


def test_stay_keeps_the_connection_and_saves_the_style_typed(served: tuple[str, Runner, str], page: Any) -> None:
    from playwright.sync_api import Error as PlaywrightError

    _, runner, pid = served
    page.get_by_role("tab", name="5. Style & assets").click()
    medium = page.get_by_label("Medium", exact=True)
    wait_until(lambda: medium.input_value() == "painted animation", LIMIT_S)  # the saved style is shown

    medium.fill("ink and watercolour")
    assert page.evaluate("window.aiuteur.unsaved()") is True
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))  # "Stay on page"
    with pytest.raises(PlaywrightError, match="ERR_ABORTED"):
        page.goto("about:blank")
    assert dialogs == ["beforeunload"]
    wait_until(lambda: style(runner, pid).style.medium == "ink and watercolour", LIMIT_S)  # saved after Stay
    page.wait_for_function("window.aiuteur.unsaved() === false")
    assert page.get_by_text("Connection to the server was lost").count() == 0
    assert page.dropped == []  # Gradio's own listener did not close the connection

    # still connected: the next edit reaches the server
    look = page.get_by_label("Look", exact=True)
    look.fill("loose brush lines")
    page.get_by_role("button", name="Save style").click()
    wait_until(lambda: style(runner, pid).style.look == "loose brush lines", LIMIT_S)
    page.wait_for_function("window.aiuteur.unsaved() === false")
    assert page.get_by_text("Connection to the server was lost").count() == 0


SCENE_PICKER = "Scene (Phase B stages work on one scene)"
TYPED = "Typed in the browser, not saved yet."


def test_typing_in_any_stage_form_is_unsaved_until_saved_and_stay_saves_it(served: tuple[str, Runner, str],
                                                                           page: Any) -> None:
    """The script editor (stage 4), a scene asset's description (8) and a shot's prompt (9): typing
    marks the page unsaved, "Stay" saves it, what the field showed is kept (the script is not
    replaced by the typed line), and the page stays connected for the next form's Stay-save (each
    asked while events were still answering; Gradio's close then broke the page for good); a save
    refused because someone else saved since leaves what was typed unsaved (leaving still asks)."""
    from playwright.sync_api import Error as PlaywrightError

    from aiuteur.pipeline.prompts_stage import edit_prompt

    _, runner, pid = served
    sid = runner.view(pid).state.scene_ids[0]
    scenes = len(Script.model_validate(runner.view(pid).data(Stage.SCRIPT)).scenes)

    def saved(stage: Stage, scene: str | None = None) -> str:
        return json.dumps(runner.view(pid).data(stage, scene))

    # Scene 1 chosen; wait until the page shows it (scene 1's first prompt at stage 9, where the film
    # opened), not until the store has moved: the switch's answer refills stages 7-12, and one that
    # lands after the typing below would replace it (that made this test fail on a loaded machine)
    page.get_by_label(SCENE_PICKER).click()
    page.get_by_role("option").filter(has_text="Scene 1").first.click()
    first = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid)).prompts[0].start_prompt
    start = page.get_by_label("Start-frame prompt", exact=True)
    wait_until(lambda: start.input_value() == first, LIMIT_S, "scene 1 shown")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))  # "Stay on page"

    for number, label, stage, scene in ((4, "Fountain", Stage.SCRIPT, None),
                                        (8, "How it looks in this scene", Stage.ASSET_STATES, sid),
                                        (9, "Start-frame prompt", Stage.PROMPTS, sid)):
        page.get_by_role("tab", name=re.compile(rf"^{number}\. ")).click()
        field = page.locator("#aiu-script-editor textarea") if number == 4 else page.get_by_label(label, exact=True)
        if number != 8:  # the saved text is shown (a scene asset may have no description yet)
            wait_until(lambda field=field: bool(field.input_value().strip()), LIMIT_S)
        shown = field.input_value()
        field.fill(f"{shown}\n\n{TYPED}".strip() if number == 4 else TYPED)
        assert page.evaluate("window.aiuteur.unsaved()") is True, label
        assert TYPED not in saved(stage, scene)
        with pytest.raises(PlaywrightError, match="ERR_ABORTED"):
            page.goto("about:blank")
        assert dialogs[-1:] == ["beforeunload"], label
        wait_until(lambda stage=stage, scene=scene: TYPED in saved(stage, scene), LIMIT_S, label)  # saved after Stay
        page.wait_for_function("window.aiuteur.unsaved() === false")
        assert page.get_by_text("Connection to the server was lost").count() == 0
        assert page.dropped == [], label  # Gradio's own listener did not close the connection
        if number == 4:  # the script the editor showed is still there, the typed line added
            assert shown.strip(), "the editor showed the script"
            assert len(Script.model_validate(runner.view(pid).data(Stage.SCRIPT)).scenes) == scenes

    # someone else saves this shot's prompts; this page's save is refused, and still unsaved
    start.fill("Mine: the lamp gutters.")
    prompts = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid))
    shot = prompts.prompts[0].shot_id
    runner.save(pid, Stage.PROMPTS, edit_prompt(prompts, shot, start="Theirs: the lamp flares."), sid,
                base_revision=runner.view(pid).revision(Stage.PROMPTS, sid))
    page.locator("#aiu-save-prompts").click()
    page.get_by_text(re.compile("changed by someone else")).first.wait_for()
    assert start.input_value() == "Mine: the lamp gutters."
    assert page.evaluate("window.aiuteur.unsaved()") is True
    assert "Theirs: the lamp flares." in saved(Stage.PROMPTS, sid)
