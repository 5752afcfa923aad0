"""Opening a stage's tab never blanks what the page shows.

The film opened at scene 1 (a page session over the real app, speaking the browser's protocol);
then every stage tab is opened, with whatever its opening runs. No field that showed something may
be left showing nothing: an event answer of None empties a field in the page. (Stage 4's
first-visit writer, a generator, yielded nothing when the script was already written; Gradio then
answers None for every output, so the editor went blank, and a save wrote only what was typed.)

The served page also carries the leave guard's listener ahead of Gradio's script (`LeaveGuardFirst`).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from aiuteur.ui.unsaved import FIRST_SCRIPT
from tests.browser.protocol import Page
from tests.browser.serving import FilmHome, film_filler, film_home, open_film, serve_film

pytestmark = pytest.mark.browser

SHOWN = ("textbox", "html", "markdown", "dropdown", "dataframe", "number")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FilmHome]]:
    with film_home(tmp_path_factory) as film, serve_film(film) as url:
        yield url, film


def test_opening_every_stage_tab_keeps_what_the_page_showed(served: tuple[str, FilmHome]) -> None:
    url, film = served
    sid = film.script.scenes[0].id
    page = Page(url)
    page.fill = film_filler(film.pid, sid)
    open_film(page, sid)
    shown = {cid for cid, c in page.components.items()
             if c["type"] in SHOWN and page.values.get(cid) not in (None, "", [])}
    assert any(page.label(cid) == "Fountain" for cid in shown)  # the script is on screen

    tabs = [(cid, c) for cid, c in page.components.items() if c["type"] == "tabitem"]
    opened = 0
    for index, (cid, tab) in enumerate(tabs):
        label = str(tab.get("props", {}).get("label") or cid)
        for dep in page.listeners(cid, "select"):
            outcomes = page.fire(dep["id"], {"index": index, "value": label, "selected": True})
            assert all(o.success for o in outcomes), (label, [o.error[:300] for o in outcomes])
            opened += 1
            blanked = sorted(page.label(c) or str(c) for c in shown if page.values.get(c) in (None, ""))
            assert not blanked, (label, blanked)
    assert opened >= 12, opened  # every stage's tab has at least its visit


def test_the_served_page_adds_the_leave_guards_listener_before_gradios_script(served: tuple[str, FilmHome]) -> None:
    body = httpx.get(served[0], timeout=120).text
    assert FIRST_SCRIPT in body
    assert body.index(FIRST_SCRIPT) < body.index('<script type="module"')
