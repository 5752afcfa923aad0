"""A real headless Chromium: dashboard, opening a project, throttled autosave, lock overlay, leave guard.

Screenshots go to $AIUTEUR_SCREENSHOTS when set (docs/screenshots), else to the test's temp folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiuteur.domain import Stage
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.serving import app_home, browser_page, needs_chromium, serve, wait_until

LIMIT_S = 120.0
pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    with app_home(tmp_path / "home") as store, serve(build_app(store), **launch_kwargs()) as url:
        yield url, store


def test_dashboard_project_autosave_and_lock_overlay(app_url: tuple[str, Store], tmp_path: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError

    url, store = app_url
    shots = Path(os.environ.get("AIUTEUR_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    runner = Runner(store)
    for title in ("Persephone goes underground", "Hamlet Huevo"):
        runner.create_project(title)
    folder = store.create_folder("Mythology shorts")
    store.set_project_folder(store.list_projects()[-1].id, folder.id)

    # generous: conditions, not short fixed limits, on a loaded machine
    with browser_page(url, height=900, timeout_s=LIMIT_S) as page:
        page.get_by_text("Hamlet Huevo").first.wait_for()
        page.get_by_label("New project title").fill("Eggs at dawn")
        page.get_by_role("button", name="Create project").click()
        page.get_by_role("heading", name="Eggs at dawn").wait_for()  # created and opened (the notice hides)
        page.get_by_role("button", name="← All projects").click()
        page.get_by_text("Eggs at dawn").first.wait_for()
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

        # open it again from the picker: it lands on Stage 1, where it was left
        pid = next(c.id for c in store.list_projects() if c.title == "Eggs at dawn")
        page.get_by_label("Project", exact=True).click()
        page.get_by_role("option", name="Eggs at dawn — Stage 1 · Input").click()
        page.get_by_role("button", name="Open", exact=True).click()
        box = page.get_by_label("Your story, idea or screenplay")
        box.wait_for()

        # a burst of typing: few writes, the last text saved
        text = "A thief plans one last job, but the vault is full of eggs."
        box.click()
        typing = time.time()
        box.press_sequentially(text[0])  # typing marks the page unsaved (seen in the page, before the save 2 s on)
        page.wait_for_function("window.aiuteur.dirty === true", polling="raf")
        box.press_sequentially(text[1:], delay=25)
        typing = time.time() - typing  # 1.5 s on an idle machine; longer when the machine is loaded

        def saved() -> bool:
            data = runner.view(pid).data(Stage.INPUT)
            return bool(data and data["sources"] and data["sources"][0]["text"] == text)

        wait_until(saved, LIMIT_S, "the typed text saved")
        revision = runner.view(pid).revision(Stage.INPUT)
        # at most one save per 2 s of typing, plus the trailing one (and the project's own first record)
        most = 3 + int(typing / 2)
        assert 1 <= revision <= most, f"{len(text)} keystrokes in {typing:.1f} s gave {revision} saves (> {most})"
        page.wait_for_function("window.aiuteur.dirty === false", timeout=120_000)

        # lock: the overlay covers the tab, and a refusal elsewhere is shown in words
        page.get_by_role("button", name="🔒 Lock").first.click()
        page.get_by_text("is locked — approved and read-only").first.wait_for()
        cover = ".aiu-stage:has(.aiu-overlay) .aiu-content"  # the read-only cover follows the overlay (CSS)
        page.locator(cover).first.wait_for()
        drawn = page.locator(cover).first.evaluate("e => getComputedStyle(e, '::after').content")
        assert "read-only" in drawn, drawn
        page.screenshot(path=str(shots / "project_locked_input.png"), full_page=True)
        page.get_by_role("tab", name="3. Beat sheet").click()
        page.get_by_text("Stage 3 · Beat sheet").first.wait_for()
        wait_until(lambda: runner.open(pid).stage == Stage.BEATS, LIMIT_S, "the tab's stage remembered")
        page.get_by_role("tab", name="1. Input").click()
        page.get_by_role("button", name="🔓 Unlock…").first.click()
        page.get_by_text("🔓 Input is unlocked.").wait_for()
        page.locator(cover).first.wait_for(state="detached")
        page.get_by_text("done: finished, not locked").first.wait_for()
        page.screenshot(path=str(shots / "project_input.png"), full_page=False)

        # the leave guard: unsaved typing asks before leaving
        box.click()
        box.press_sequentially(" More.", delay=10)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
        page.evaluate("window.aiuteur.saveTimer && clearTimeout(window.aiuteur.saveTimer)")
        with pytest.raises(PlaywrightError, match="ERR_ABORTED"):  # dismissing the dialog keeps the page
            page.goto("about:blank")
        assert dialogs == ["beforeunload"]
