"""A filmmaker's walk through the app in a real headless Chromium, with a screenshot of each stage.

Create a project, import a screenplay (upload a .fountain file, skip to script), walk to the
master script, rewrite a highlighted passage, lock input and script, unlock input in a new
branch (the approved branch stays locked), and check the leave-page warning. Screenshots go to
docs/screenshots/stage-NN-<name>.png. Engines are test doubles: nothing loads a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiuteur.domain import STAGE_ORDER, Stage, Status
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.fakes import FakeEngines
from tests.serving import app_home, browser_page, needs_chromium, serve, wait_until

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
pytestmark = [pytest.mark.browser, needs_chromium]

SCREENPLAY = """Title: The Egg Thief

INT. KITCHEN - NIGHT

A small kitchen lit by one yellow bulb. MARA (30s, red raincoat, wet hair) tiptoes to the fridge and opens it.

MARA
Just one egg. Nobody will notice.

She lifts a white egg and holds it to the light.

EXT. GARDEN - DAWN

Grey light over a wet lawn. Mara kneels under the apple tree and buries the egg.

MARA
Grow.
"""


SCROLL_TO_TABS = """() => { const bar = document.querySelector('[role=tablist]');
  if (bar) window.scrollTo(0, bar.getBoundingClientRect().top + window.scrollY - 8); }"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Store, FakeEngines]]:
    with app_home(tmp_path / "home") as store:
        engines = FakeEngines()
        with serve(build_app(store, engines_factory=lambda: engines), **launch_kwargs()) as url:
            yield url, store, engines


def open_tab(page: object, stage: Stage) -> None:
    """Click a stage's tab; tabs that do not fit the width sit in the "⋯" overflow menu."""
    name = f"{stage.number}. {stage.title}"
    tab = page.get_by_role("tab", name=name)  # type: ignore[attr-defined]
    if tab.is_visible():
        tab.click()
        return
    page.locator(".overflow-menu button").first.click()  # type: ignore[attr-defined]
    page.locator(".overflow-dropdown button", has_text=name).first.click()  # type: ignore[attr-defined]


def test_walkthrough_import_lock_branch_and_screenshots(served: tuple[str, Store, FakeEngines],
                                                         tmp_path: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError

    url, store, engines = served
    runner = Runner(store)
    SHOTS.mkdir(parents=True, exist_ok=True)
    fountain = tmp_path / "egg_thief.fountain"
    fountain.write_text(SCREENPLAY, encoding="utf-8")

    def shot(page: object, stage: Stage) -> None:
        """The stage's tab from its tab bar down, once nothing is loading."""
        page.evaluate(SCROLL_TO_TABS)  # type: ignore[attr-defined]
        page.wait_for_function("document.querySelectorAll('.pending, .progress-text').length === 0",  # type: ignore[attr-defined]
                               timeout=60_000)
        page.wait_for_timeout(300)  # type: ignore[attr-defined]
        page.screenshot(path=str(SHOTS / f"stage-{stage.number:02d}-{stage.value}.png"))  # type: ignore[attr-defined]

    with browser_page(url, timeout_s=120) as page:  # generous: the walk must hold on a loaded machine
        page.locator("#aiu-header").get_by_text("tiny").first.wait_for()  # loaded: the header names the profile

        # 1. Create a project; it opens on Stage 1.
        page.get_by_label("New project title").fill("The Egg Thief")
        page.get_by_role("button", name="Create project").click()
        page.get_by_role("heading", name="The Egg Thief").wait_for()  # the project shell is open
        pid = next(c.id for c in runner.list_projects() if c.title == "The Egg Thief")

        # 2. Import the screenplay: skip to script, upload the file; it is saved as the input.
        page.get_by_text("Skip to script (import a finished screenplay)").click()
        page.get_by_text("Upload .txt, .md, .fountain, .fdx or .pdf").wait_for()  # skip-to-script opens the upload
        page.locator("input[type=file]").first.set_input_files(str(fountain))
        # The file's name stays in "Main text came from file" (the status's "Loaded …" lasts only until
        # the save answers, so on a busy machine a poll can miss it: CI did once).
        page.wait_for_function(
            "() => [...document.querySelectorAll('input, textarea')].some(e => e.value === 'egg_thief.fountain')",
            timeout=120_000)

        def input_saved() -> bool:
            data = runner.view(pid).data(Stage.INPUT)
            return bool(data and data["mode"] == "skip_to_script" and data["sources"]
                        and "KITCHEN" in data["sources"][0]["text"])

        wait_until(input_saved)
        page.wait_for_function("window.aiuteur.dirty === false", timeout=60_000)
        shot(page, Stage.INPUT)
        page.get_by_role("button", name="🔒 Lock").first.click()
        page.get_by_text("🔒 Input is locked.").wait_for()

        # 3. Treatment and beats are skipped; the script writes itself on the first visit (an import).
        for stage in (Stage.TREATMENT, Stage.BEATS):
            page.get_by_role("tab", name=f"{stage.number}. {stage.title}").click()
            shot(page, stage)
        page.get_by_role("tab", name="4. Master script").click()
        page.locator(".aiu-screenplay").get_by_text("INT. KITCHEN - NIGHT").wait_for()
        wait_until(lambda: runner.view(pid).statuses[Stage.SCRIPT] == Status.DONE)

        # 4. Highlight a passage in the Fountain editor and rewrite only that passage.
        engines.scripted.enqueue({"text": "MARA\n(whispering)\nOne egg. Forgive me."})
        editor = page.locator("#aiu-script-editor textarea")
        before = editor.input_value()
        old = "MARA\nJust one egg. Nobody will notice."
        start = before.index(old)
        editor.evaluate("(el, [a, b]) => { el.focus(); el.setSelectionRange(a, b); "
                        "el.dispatchEvent(new Event('select', {bubbles: true})); }", [start, start + len(old)])
        page.get_by_text("Highlighted (").wait_for()
        page.get_by_label("Instruction for the highlighted passage").fill("make her feel guilty")
        page.get_by_role("button", name="Rewrite the highlighted passage").click()
        page.get_by_text("Rewrote the highlighted passage").wait_for()
        after = editor.input_value()
        assert after == before[:start] + "MARA\n(whispering)\nOne egg. Forgive me." + before[start + len(old):]
        assert page.evaluate("window.aiuteur.unsaved()") is True  # the rewritten text is not saved yet
        page.get_by_role("button", name="Save edits").click()
        page.get_by_text("Saved.").first.wait_for()
        page.wait_for_function("window.aiuteur.unsaved() === false", timeout=60_000)
        shot(page, Stage.SCRIPT)

        # 5. Lock the script (treatment and beats are skipped on purpose, so input is the one before).
        script_tab = page.get_by_role("tabpanel").filter(has=page.get_by_text("Write the script"))
        script_tab.get_by_role("button", name="🔒 Lock").click()
        page.get_by_text("🔒 Master script is locked.").wait_for()
        assert runner.view(pid).statuses[Stage.SCRIPT] == Status.LOCKED
        old_branch = runner.view(pid).branch.id

        # 6. The remaining stages, as they stand before anything is made.
        for stage in STAGE_ORDER[STAGE_ORDER.index(Stage.ASSETS):]:
            open_tab(page, stage)
            shot(page, stage)

        # 7. Unlock the input: locked work after it, so the choice; "Unlock in a new branch".
        page.get_by_role("tab", name="1. Input").click()
        input_tab = page.get_by_role("tabpanel").filter(has=page.get_by_text("What should Aiuteur do with your text?"))
        input_tab.get_by_role("button", name="🔓 Unlock…").click()
        input_tab.get_by_role("button", name="Unlock in a new branch").click()
        page.get_by_text("Unlocked Input in the new branch").wait_for()
        view = runner.view(pid)
        assert view.branch.id != old_branch and view.statuses[Stage.INPUT] != Status.LOCKED
        old = next(b for b in view.branches if b.id == old_branch)
        assert old.is_locked(Stage.INPUT, None) and old.is_locked(Stage.SCRIPT, None)
        page.get_by_text("Project, branch and scene").click()
        branch = page.get_by_label("Branch", exact=True)
        wait_until(lambda: view.branch.name in branch.input_value())

        # 8. The leave-page warning: unsaved typing asks before the page is left.
        box = page.get_by_label("Your story, idea or screenplay")
        box.click()
        box.press("End")
        box.press_sequentially(" More.", delay=10)
        page.evaluate("window.aiuteur.saveTimer && clearTimeout(window.aiuteur.saveTimer)")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
        with pytest.raises(PlaywrightError, match="ERR_ABORTED"):  # dismissing it keeps the page
            page.goto("about:blank")
        assert dialogs == ["beforeunload"]
