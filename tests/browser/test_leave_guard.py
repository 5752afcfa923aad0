"""The leave-page guard in a real Chromium: "Stay" keeps the page connected, then saves.

Typing in stage 5's style fields counts as unsaved (it did not before); leaving asks; choosing
Stay must neither drop Gradio's connection (its own `beforeunload` handler closed it) nor lose
what was typed: the guard saves it, and the next edit still reaches the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiuteur.domain import Stage, StyleAndAssets
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.browser.serving import serve
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import DownText, FakeMatting

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError("timed out waiting")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Runner, str]]:
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIUTEUR_PROFILE", "tiny")
    engines = FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                          video=FakeVideo())
    store = Store(DataHome(tmp_path / "home", "test"))
    runner = Runner(store, engines_factory=lambda: engines)  # type: ignore[arg-type,return-value]
    pid, _ = film_project(runner)
    demo = build_app(store, engines_factory=lambda: engines)  # type: ignore[arg-type,return-value]
    with serve(demo, allowed_paths=[str(store.home.media)], **launch_kwargs()) as url:
        yield url, runner, pid


def style(runner: Runner, pid: str) -> StyleAndAssets:
    return StyleAndAssets.model_validate(runner.view(pid).data(Stage.ASSETS))


def test_stay_keeps_the_connection_and_saves_the_style_typed(served: tuple[str, Runner, str]) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url, runner, pid = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_label("Project", exact=True).click()
        page.get_by_role("option", name="The Lamp Keeper").click()
        page.get_by_role("button", name="Open", exact=True).click()
        page.get_by_role("heading", name="The Lamp Keeper").wait_for()
        page.get_by_role("tab", name="5. Style & assets").click()
        medium = page.get_by_label("Medium", exact=True)
        wait_until(lambda: medium.input_value() == "painted animation")  # the saved style is shown

        medium.fill("ink and watercolour")
        assert page.evaluate("window.aiuteur.unsaved()") is True
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))  # "Stay on page"
        with pytest.raises(PlaywrightError, match="ERR_ABORTED"):
            page.goto("about:blank")
        assert dialogs == ["beforeunload"]
        wait_until(lambda: style(runner, pid).style.medium == "ink and watercolour")  # saved after Stay
        page.wait_for_function("window.aiuteur.unsaved() === false")
        assert page.get_by_text("Connection to the server was lost").count() == 0

        # still connected: the next edit reaches the server
        look = page.get_by_label("Look", exact=True)
        look.fill("loose brush lines")
        page.get_by_role("button", name="Save style").click()
        wait_until(lambda: style(runner, pid).style.look == "loose brush lines")
        page.wait_for_function("window.aiuteur.unsaved() === false")
        assert page.get_by_text("Connection to the server was lost").count() == 0
        browser.close()
