"""Two tabs of the running app on one film: what the second typed is never lost to the first's save.

Both tabs open the film at scene 1 (two page sessions over the real app, speaking the browser's
protocol). For every stage's save that carries words, the first tab types and saves; then the
second, which opened before that save, types and saves too. Its save must be refused in one
sentence ("changed by someone else"), as an answer (no event error, no red badge), with every field
still showing what it typed, and nothing written. A refused save that answered with the wrong
number of values (the stage-9 prompt save did) fails here as an event error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aiuteur.pipeline.runner import Runner
from tests.browser.protocol import Page
from tests.browser.serving import film_filler, film_home, open_film, serve_film

pytestmark = pytest.mark.browser

# per-scene saves first, then the film's, from the end of the pipeline back (the script and the
# story input are left out: the first tab's words would replace the film the others work on; the
# film starts from its script, so it has no treatment to save; the shot list's save sends a table)
SAVES = ("prompts_save", "asset_states_description", "shot_list_save", "save_asset", "save_style", "beats_save")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Runner, str, str]]:
    with film_home(tmp_path_factory) as film, serve_film(film) as url:
        yield url, film.runner, film.pid, film.script.scenes[0].id


def tab(url: str, pid: str, sid: str) -> Page:
    page = Page(url)
    page.fill = film_filler(pid, sid)
    return open_film(page, sid)


def typing(page: Page, dep: dict[str, Any], words: str) -> dict[int, str]:
    """Type into every editable text field the save sends; returns what was typed where."""
    typed = {}
    for cid in dep["inputs"]:
        if page.kind(cid) == "textbox" and page.component(cid).get("props", {}).get("interactive") is not False:
            typed[cid] = page.values[cid] = f"{words} ({page.label(cid) or cid})."
    return typed


def test_a_save_from_a_tab_opened_before_someone_elses_is_refused_and_keeps_the_typing(
        served: tuple[str, Runner, str, str]) -> None:
    url, runner, pid, sid = served
    refused = []
    for name in SAVES:
        first, second = tab(url, pid, sid), tab(url, pid, sid)
        dep = first.dep_named(name)
        typing(first, dep, "The first tab's words")
        before = runner.view(pid).state.records
        assert all(o.success for o in first.fire(dep["id"])), name
        after = runner.view(pid).state.records
        if after == before:
            continue  # nothing typed reached this save: no one else's change to refuse
        typed = typing(second, dep, "The second tab's words")
        outcomes = second.fire(dep["id"])
        assert all(o.success for o in outcomes), (name, [o.error[:300] for o in outcomes])
        said = [str(second.values.get(c)) for c in dep["outputs"]] + [w for o in outcomes for w in o.warnings]
        assert any("changed by someone else" in s for s in said), (name, said)
        lost = {second.label(c): second.values.get(c) for c, v in typed.items() if second.values.get(c) != v}
        assert not lost, (name, lost)
        assert runner.view(pid).state.records == after, name  # nothing written
        refused.append(name)
    print(f"\nsaves refused from the older tab, its typing kept: {refused}")
    assert {"prompts_save", "asset_states_description", "save_asset", "save_style", "beats_save"} <= set(refused), \
        refused


def test_no_message_of_one_project_stays_when_another_opens(served: tuple[str, Runner, str, str]) -> None:
    """Saves in several tabs leave their messages; opening another project clears every one of them."""
    url, runner, pid, sid = served
    other = runner.create_project("A second film").id
    page = tab(url, pid, sid)
    markdown = [c for c in page.components if page.kind(c) == "markdown"]
    before = {c: page.values.get(c) for c in markdown}
    for name in ("save_style", "save_asset", "beats_save", "shot_list_save", "asset_states_description",
                 "prompts_save"):
        assert all(o.success for o in page.fire(page.dep_named(name)["id"])), name
    said = {c: v for c in markdown if (v := page.values.get(c)) != before[c] and isinstance(v, str) and v.strip()}
    assert len(said) >= 5, said  # each tab's save left a line (stage 5's two saves share one)
    page.fill = film_filler(other)
    assert all(o.success for o in page.fire(page.dep_named("open_project")["id"]))
    stale = {c: v for c, v in said.items() if page.values.get(c) == v}
    assert not stale, stale
