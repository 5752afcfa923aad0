"""Progress that means something, and an estimate that learns, through the running app.

Making keyframes shows "keyframe 3 of 8 (shot 1B, start frame), a few seconds left" on the page's
progress bar and in the client API's stream, from the stage's own reports. The stage-11 estimate
of the whole video pass is rough before any clip was rendered here (and says so); after one pass
it is measured from the takes made, and falls within 2x of the next pass's measured time. The
rate field shows the rate in use, never a bare 0.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aiuteur.domain import CostEstimate, Stage
from aiuteur.pipeline.runner import Runner
from tests.browser.protocol import Page
from tests.browser.serving import film_filler, film_home, open_film, serve_film
from tests.pipeline.film_fixtures import FakeVideo

pytestmark = pytest.mark.browser

LEFT = re.compile(r"keyframe \d+ of (\d+) \(shot [^)]+\), (a few seconds|about \d+ (s|min)) left$")


class SlowVideo(FakeVideo):
    """A video model that takes a fixed time per clip plus a little per frame (wall time, not CPU)."""

    model_id = "slow-video"

    def render(self, start: Image.Image, end: Image.Image | None, prompt: str, out_path: Path, *,
               num_frames: int, fps: int, seed: int, progress: Any = None) -> Path:
        time.sleep(1.5 + 0.05 * num_frames)
        return super().render(start, end, prompt, out_path, num_frames=num_frames, fps=fps, seed=seed,
                              progress=progress)


@dataclass
class Film:
    url: str
    runner: Runner
    pid: str
    sid: str


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Film]:
    with film_home(tmp_path_factory, video=SlowVideo(), unset=["AIUTEUR_GPU_RATE"]) as home, serve_film(home) as url:
        yield Film(url, home.runner, home.pid, home.script.scenes[0].id)


def opened(film: Film) -> Page:
    page = Page(film.url)
    page.fill = film_filler(film.pid, film.sid)
    return open_film(page, film.sid)


def keyframe_lines(lines: list[str]) -> list[str]:
    return [x for x in lines if "keyframe " in x and " of " in x]  # the client API prefixes the scene


def test_keyframes_report_item_counts_and_time_left_in_the_page_and_the_client_api(film: Film) -> None:
    page = opened(film)
    made = page.call(page.dep_named("frames_generate")["id"])
    assert made.success, made.error
    lines = keyframe_lines(made.progress)
    assert lines, made.progress
    timed = [x for x in lines if LEFT.search(x)]
    assert timed, lines  # "keyframe 3 of 8 (shot 1B, start frame), a few seconds left"
    total = int(LEFT.search(timed[0]).group(1))  # type: ignore[union-attr]
    assert total >= 2
    # the client API's /frames streams the same lines ("Scene 1 · …: keyframe 2 of 8 (…), a few seconds left")
    api = page.call(page.dep_named("frames")["id"])
    assert api.success, api.error
    lines = keyframe_lines(api.progress)
    assert [x for x in lines if LEFT.search(x)], lines


def test_the_estimate_learns_from_the_pass_and_falls_within_2x_of_the_next(film: Film) -> None:
    page = opened(film)
    if not film.runner.view(film.pid).data(Stage.FRAMES, film.sid):
        assert page.call(page.dep_named("frames_generate")["id"]).success

    def estimate() -> CostEstimate:
        out = page.call(page.dep_named("confirm_estimate")["id"])
        assert out.success, out.error
        return CostEstimate.model_validate(film.runner.view(film.pid).data(Stage.CONFIRM, film.sid))

    def rendered() -> float:
        assert page.call(page.dep_named("confirm_scene")["id"]).success
        t0 = time.monotonic()
        out = page.call(page.dep_named("video_render")["id"])
        took = time.monotonic() - t0
        assert out.success and "✅" in str(out.data), out.error or out.data
        assert any(x.startswith("clip ") for x in out.progress), out.progress
        return took

    rate = page.by_id[page.dep_named("confirm_estimate")["id"]]["inputs"][-1]
    assert page.values.get(rate) == pytest.approx(2.5)  # the rate in use, not a 0 that reads "0.00 USD"
    first = estimate()
    assert not any(first.measured.values())
    assert "Rough" in str(page.values.values())
    took = rendered()
    second = estimate()
    assert all(second.measured.values())  # learned from the clips just made
    assert any("as the last pass took here" in a for a in second.assumptions)
    took_next = rendered()
    for measured in (took, took_next):
        ratio = second.wall_seconds / measured
        print(f"estimate {second.wall_seconds:.1f} s; measured pass {measured:.1f} s; ratio {ratio:.2f}")
        assert 0.5 <= ratio <= 2.0
