"""The film the browser tests open, served by the real app, and what they need around it.

Starting the app (a port, a data home, the patient launch, a browser page) is `tests.serving`'s,
shared by every test that serves the app; this module adds the two-scene film over test-double
engines, an event counter, and the page-level steps of opening the film.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pytest

from aiuteur.domain import Script, Stage
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderScene
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.browser.protocol import Page
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import DownText, FakeMatting
from tests.serving import app_home, serve


class Activity:
    """When the served app's events start and end, and how many ran: to know when a click's work is over."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.last = 0.0
        self.events = 0
        self.names: list[str] = []

    def wrap(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.running += 1
                self.events += 1
                self.names.append(name)
                self.last = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1
                    self.last = time.time()
        return timed

    def count(self) -> int:
        with self.lock:
            return self.events

    def quiet_for(self, seconds: float, since: float) -> bool:
        """No event running, and none started or ended in the last `seconds` (nor since `since`)."""
        with self.lock:
            busy, last = self.running > 0, self.last
        return not busy and time.time() - max(last, since) >= seconds


def instrument(demo: gr.Blocks, activity: Activity) -> None:
    """Wrap every (plain) event function of `demo` so `activity` sees it start and end."""
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is None or inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
            continue
        block_fn.fn = activity.wrap(fn, str(block_fn.api_name or getattr(fn, "__name__", "?")))


# --- the film the browser tests open ---------------------------------------------------------------


@dataclass
class FilmHome:
    """A tiny-profile data home holding the two-scene film (stages 1-9) over test-double engines."""

    store: Store
    runner: Runner
    engines: FakeEngines
    pid: str
    script: Script

    def finish_scene(self, scene_id: str) -> None:
        """Stages 10-12 of one scene: its keyframes, the confirmed estimate, its clips and animatic."""
        runner, pid = self.runner, self.pid
        assert runner.run(pid, Stage.FRAMES, scene_id, seed=1, action=MakeKeyframes(score=False)).ok
        assert runner.run(pid, Stage.CONFIRM, scene_id, action=Estimate(confirm=True)).ok
        assert runner.run(pid, Stage.VIDEO, scene_id, action=RenderScene(fps=4, animatic_fps=4), seed=1).ok


@contextmanager
def film_home(tmp_path_factory: pytest.TempPathFactory, *, video: Any = None,
              unset: Sequence[str] = ()) -> Iterator[FilmHome]:
    """The film project in a fresh home (AIUTEUR_HOME and the tiny profile set, `unset` variables
    removed, all restored after); `video` replaces the fake video model."""
    with app_home(tmp_path_factory.mktemp("home"), unset=unset) as store:
        engines = FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                              video=video or FakeVideo())
        runner = Runner(store, engines_factory=lambda: engines)  # type: ignore[arg-type,return-value]
        pid, script = film_project(runner)
        yield FilmHome(store, runner, engines, pid, script)


@contextmanager
def serve_film(film: FilmHome, *, activity: Activity | None = None, show_error: bool = True) -> Iterator[str]:
    """The real app over the film's store and engines, served (`activity` sees its events); yields the URL."""
    demo = build_app(film.store, engines_factory=lambda: film.engines)  # type: ignore[arg-type,return-value]
    if activity is not None:
        instrument(demo, activity)
    with serve(demo, show_error=show_error, allowed_paths=[str(film.store.home.media)], **launch_kwargs()) as url:
        yield url


def film_filler(pid: str, sid: str | None = None) -> Callable[[dict[str, Any]], Any]:
    """What a page holds once the film is open: its project (and scene), a listed choice, else the value."""

    def fill(c: dict[str, Any]) -> Any:
        if c["label"] in ("project_id", "Project"):
            return pid
        if sid is not None and c["label"] == "scene_id":
            return sid
        if c["type"] == "dropdown" and not c["props"].get("multiselect"):
            values = [x[1] if isinstance(x, (list, tuple)) else x for x in c["choices"]]
            return c["value"] if c["value"] in values else (values[0] if values else None)
        return c["value"]

    return fill


def open_film(page: Page, scene_id: str | None = None) -> Page:
    """As a browser tab opens the film: the page's load events, "Open" on the project, then the
    scene picker on `scene_id` (when given); every event must succeed."""
    for dep in [d for d in page.deps if any(t[1] == "load" for t in d["targets"])]:
        page.fire(dep["id"])
    assert all(o.success for o in page.fire(page.dep_named("open_project")["id"]))
    if scene_id is not None:
        picker = page.dep_named("choose_scene")
        page.values[picker["inputs"][1]] = scene_id
        assert all(o.success for o in page.fire(picker["id"]))
    return page


# --- a real browser on the served app --------------------------------------------------------------

def open_project_in_browser(page: Any, title: str) -> None:
    """As a filmmaker opens a project from the dashboard (a Playwright page): pick it, "Open", and
    its title heads the page."""
    page.get_by_label("Project", exact=True).click()
    page.get_by_role("option", name=title).click()
    page.get_by_role("button", name="Open", exact=True).click()
    page.get_by_role("heading", name=title).wait_for()
