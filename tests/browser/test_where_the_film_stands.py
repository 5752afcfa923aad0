"""The screen shows where the film stands, in a real browser (headless Chromium, tiny profile).

A two-scene film: scene 1 taken to its video, scene 2 to its prompts. Through the page a
filmmaker uses:

- a project card opens the project, in one server event that fills the whole screen;
- every stage chip of the pipeline graphic opens its tab, and the chip's status is the status the
  lock bar beneath says and the status the data has, for the project and for each scene (one
  finished, one not);
- positions are remembered per scene at every stage, 10-12 included: the hub's "Where" shows the
  stage a scene was left at and a click on its row opens it there; reopening the project lands
  there;
- the one scene picker switches the scene in one server event.

Waits are on conditions with generous limits (the machine is shared); counts of server events are
exact, never timings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aiuteur.domain import STAGE_ORDER, Stage
from aiuteur.pipeline import graph
from aiuteur.pipeline.runner import Runner
from tests.browser.serving import Activity, film_home, serve_film
from tests.serving import browser_page, needs_chromium
from tests.serving import wait_until as wait_for

LIMIT_S = 180.0
pytestmark = [pytest.mark.browser, needs_chromium]
SCENE_PICKER = "Scene (Phase B stages work on one scene)"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Runner, str, list[str], Activity]]:
    with film_home(tmp_path_factory) as film:
        runner, pid = film.runner, film.pid
        s1 = film.script.scenes[0].id
        film.finish_scene(s1)
        runner.visit(pid, Stage.INPUT)
        activity = Activity()
        with serve_film(film, activity=activity, show_error=False) as url:
            yield url, runner, pid, [sc.id for sc in film.script.scenes], activity


def wait_until(check: Callable[[], bool], what: str) -> None:
    wait_for(check, LIMIT_S, what)


def settle(activity: Activity, since: float) -> None:
    """The click's work is over: no server event for a second (a loaded machine is slow, never wrong)."""
    wait_until(lambda: activity.quiet_for(1.0, since), "the server events to end")


def events_of(page: Any, activity: Activity, act: Callable[[], None]) -> list[str]:
    """The server events one action caused, by name."""
    settle(activity, time.time())
    before = activity.count()
    started = time.time()
    act()
    wait_until(lambda: activity.count() > before, "the action's first server event")
    settle(activity, started)
    wait_until(lambda: page.evaluate("document.querySelectorAll('.pending').length") == 0, "spinners to end")
    return activity.names[before:activity.count()]


def one_event(names: list[str], first: str) -> None:
    """The action did its work in one event. Moving the tab makes Gradio fire that tab's select
    event too, which finds the position already there and answers "no change" (nothing redrawn)."""
    assert names and names[0] == first, names
    assert all(n.startswith("visit_") or n == first for n in names[1:]) and len(names) <= 2, names


def chip(page: Any, stage: Stage) -> Any:
    return page.locator(f'.aiu-chip[data-stage="{stage.value}"]')


def selected_tab(page: Any) -> str:
    return str(page.locator('[role=tab][aria-selected="true"]').first.inner_text()).strip()


SHOWN_JS = """() => {
  const chips = Object.fromEntries([...document.querySelectorAll('.aiu-chip[data-number]')]
    .map((c) => [c.dataset.number, c.dataset.status]));
  const bars = {};
  for (const p of document.querySelectorAll('[role=tabpanel] p')) {
    const m = (p.textContent || '').match(/^Stage (\\d+) · .*? — (\\w+):/);
    if (m) bars[m[1]] = m[2];
  }
  return {chips, bars};
}"""


def disagreements(page: Any, runner: Runner, pid: str, scene_id: str | None, stages: list[Stage]) -> list[str]:
    """Stages whose chip, lock bar (every tab's, hidden ones too) and data do not say the same status."""
    view = runner.view(pid)
    shown = page.evaluate(SHOWN_JS)
    out = []
    for stage in stages:
        data = (view.scene_statuses(scene_id)[stage] if stage.per_scene and scene_id else view.statuses[stage]).value
        chip_says, bar_says = shown["chips"].get(str(stage.number)), shown["bars"].get(str(stage.number))
        if not chip_says == bar_says == data:
            out.append(f"stage {stage.number}: chip {chip_says}, bar {bar_says}, data {data}")
    return out


def check_graphic(page: Any, runner: Runner, pid: str, scene_id: str | None, stages: list[Stage]) -> None:
    """Chips, lock bars and data agree for `stages`; a tab not drawn yet is opened from its chip."""
    last: list[str] = []
    drawn = page.evaluate(SHOWN_JS)["bars"]
    for stage in stages:
        if str(stage.number) not in drawn:  # Gradio draws a tab's content the first time it is opened
            open_by_chip(page, stage)

    def agree() -> bool:
        last[:] = disagreements(page, runner, pid, scene_id, stages)
        return not last

    try:
        wait_until(agree, "the status graphic, the lock bars and the data to agree")
    except AssertionError:
        raise AssertionError("; ".join(last)) from None


def open_by_chip(page: Any, stage: Stage) -> None:
    chip(page, stage).click()
    wait_until(lambda: selected_tab(page).startswith(f"{stage.number}. "), f"the chip of stage {stage.number} to open its tab")


def test_the_screen_shows_where_the_film_stands(served: tuple[str, Runner, str, list[str], Activity]) -> None:
    url, runner, pid, (s1, s2), activity = served
    state = runner.view(pid).state
    assert graph.scene_statuses(state, s1)[Stage.VIDEO].value in ("done", "locked")  # one scene finished ...
    assert graph.scene_statuses(state, s2)[Stage.VIDEO].value == "empty"  # ... one not
    with browser_page(url, timeout_s=LIMIT_S) as page:
        card = page.locator(".aiu-card", has_text="The Lamp Keeper")
        card.wait_for()

        # a card opens its project: one server event fills the whole screen
        opened = events_of(page, activity, card.click)
        page.get_by_role("heading", name="The Lamp Keeper").wait_for()
        assert selected_tab(page).startswith("1. "), selected_tab(page)
        one_event(opened, "on_card")
        # all twelve stages one click away at 1280 px: every tab in view, none in an overflow menu
        hidden = [s.number for s in STAGE_ORDER
                  if not page.get_by_role("tab", name=f"{s.number}. {s.title}", exact=True).is_visible()]
        assert not hidden and page.locator(".overflow-menu:visible").count() == 0, hidden

        # the project's stages: chip, bar and data agree; a chip opens its tab
        check_graphic(page, runner, pid, None, [s for s in STAGE_ORDER if not s.per_scene])

        # the one scene picker: scene 1 (finished) in one server event; every stage 7-12 agrees
        def pick(label: str) -> None:
            page.get_by_label(SCENE_PICKER).click()
            page.get_by_role("option").filter(has_text=label).first.click()

        switched = events_of(page, activity, lambda: pick("Scene 1"))
        assert switched == ["choose_scene"], switched  # one event: the picker sends its choice once
        check_graphic(page, runner, pid, s1, [s for s in STAGE_ORDER if s.per_scene])
        assert runner.view(pid).branch.scene_positions[s1] == Stage.VIDEO

        # scene 1 left at stage 10; scene 2 (not finished) at stage 11
        open_by_chip(page, Stage.FRAMES)
        wait_until(lambda: runner.view(pid).branch.scene_positions.get(s1) == Stage.FRAMES, "stage 10 remembered")
        panel = page.locator("[role=tabpanel]:visible")
        panel.get_by_role("button", name="🔒 Lock").click()  # a message about scene 1 ...
        said = panel.get_by_text(re.compile(r"Frames is locked\.|Can.t lock Frames")).first
        said.wait_for()
        pick("Scene 2")
        wait_until(lambda: not said.is_visible(), "scene 1's message to go with scene 1")  # ... leaves with it
        wait_until(lambda: runner.view(pid).position.scene_id == s2, "scene 2 chosen")
        check_graphic(page, runner, pid, s2, [s for s in STAGE_ORDER if s.per_scene])
        open_by_chip(page, Stage.CONFIRM)
        wait_until(lambda: runner.view(pid).branch.scene_positions.get(s2) == Stage.CONFIRM, "stage 11 remembered")

        # the hub says where each scene was left; a click on scene 1's row opens it at stage 10
        open_by_chip(page, Stage.HUB)
        row1 = page.locator(f'tr[data-scene="{s1}"]')
        wait_until(lambda: "Stage 10 · Frames" in row1.inner_text(), "the hub's Where for scene 1")
        assert "Stage 11 · Confirm" in page.locator(f'tr[data-scene="{s2}"]').inner_text()
        opened_scene = events_of(page, activity, lambda: row1.locator("td").nth(1).click())
        one_event(opened_scene, "on_open_row")
        assert selected_tab(page).startswith("10. "), selected_tab(page)
        assert "Scene 1" in page.get_by_label(SCENE_PICKER).input_value()

        # back to the dashboard and in again: the card says, and the project lands, where it was left
        page.get_by_role("button", name="← All projects").click()
        wait_until(lambda: "Scene 1 · Stage 10" in card.inner_text(), "the card to say where the film stands")
        card.click()
        wait_until(lambda: selected_tab(page).startswith("10. "), "reopening to land on stage 10")
        assert "Scene 1" in page.get_by_label(SCENE_PICKER).input_value()
