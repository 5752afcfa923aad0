"""Stages 10-12 on the issue-17 families through the runner: multi-reference keyframes keep their
consistency score and say which image is whom; a model that ignores end frames is refused for the
shots that have one, and stage 11 says so; clips past the per-call GPU limit are split or refused
in the estimate, and refused by stage 12 before anything renders."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiuteur.domain import CostEstimate, Frames, InputError, Prompts, Stage
from aiuteur.engines import zerogpu
from aiuteur.engines.image_edit import DiffusersEditImage
from aiuteur.engines.video import DiffusersVideo
from aiuteur.pipeline.actions import Estimate
from aiuteur.pipeline.runner import Runner
from tests.engines._image_fixtures import SmallImage, image_models_dir, klein_spec, tiny_image_builder  # noqa: F401
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting


@pytest.fixture(scope="module")
def family_dir(image_models_dir: Path, tiny_image_builder: ModuleType) -> Path:  # noqa: F811
    for name in ("flux2-klein", "wan22-ti2v", "wan22-i2v"):
        tiny_image_builder.build_family(image_models_dir, name)
    return image_models_dir


@pytest.fixture
def video_spec() -> dict[str, Any]:
    return {"backend": "diffusers-wan", "model": "tiny/wan22-ti2v", "steps": 2, "max_side": 32}


@pytest.fixture
def engines(family_dir: Path, video_spec: dict[str, Any]) -> FakeEngines:
    edit = DiffusersEditImage.from_spec(klein_spec(), family_dir)
    return FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                       video=DiffusersVideo.from_spec(video_spec, family_dir), vision=SmallImage(edit))


def _frames(runner: Runner, engines: FakeEngines, *, edit: bool) -> tuple[str, str]:
    pid, script = film_project(runner)
    sid = script.scenes[0].id
    prompts = Prompts.model_validate(runner.view(pid).data(Stage.PROMPTS, sid))
    if not any(p.end_prompt for p in prompts.prompts):  # give the first shot an end frame
        first = prompts.prompts[0].model_copy(update={"end_prompt": prompts.prompts[0].start_prompt + " The lamp is lit."})
        runner.save(pid, Stage.PROMPTS, prompts.model_copy(update={"prompts": [first, *prompts.prompts[1:]]}), sid)
    if edit:
        engines._image = engines._vision  # stage 10 on the multi-reference engine
    result = runner.run(pid, Stage.FRAMES, sid, seed=1)
    assert result.ok, result.errors
    return pid, sid


def test_multi_reference_keyframes_name_their_inputs_and_keep_the_consistency_score(
    runner: Runner, engines: FakeEngines
) -> None:
    pid, sid = _frames(runner, engines, edit=True)
    takes = [t for t in runner.takes(pid, Stage.FRAMES, sid) if t.ok]
    with_refs = [t for t in takes if t.output and t.output.get("references")]
    assert with_refs, "the film fixture has shots with references"
    for take in with_refs:
        out = take.output or {}
        assert out["consistency"] is not None  # the score stays in the loop on this family
        assert out["inputs"] and out["inputs"][0].startswith("image 1 ")
    request = engines._vision.requests[0]
    assert all(r.name for r in request.references)  # the engine can say which image is whom
    kinds = [r.kind for r in sorted(request.references, key=lambda r: -r.importance)]
    assert kinds == sorted(kinds, key=lambda k: {"character": 0, "prop": 1, "location": 2}[k])


def test_a_model_that_ignores_end_frames_is_refused_for_them_and_stage_11_says_so(
    runner: Runner, engines: FakeEngines
) -> None:
    pid, sid = _frames(runner, engines, edit=False)
    frames = Frames.model_validate(runner.view(pid).data(Stage.FRAMES, sid))
    assert any(f.which == "end" and f.image for f in frames.frames), "the fixture has end frames"
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    est = CostEstimate.model_validate(runner.view(pid).data(Stage.CONFIRM, sid))
    words = " ".join(est.assumptions)
    assert "ignores the end frame" in words and "Stage 12 will refuse to render them" in words
    with pytest.raises(InputError, match=r"Shot \S+ has an end frame\. .*ignores the end frame.*Nothing was rendered"):
        runner.run(pid, Stage.VIDEO, sid)
    assert engines.calls["video"] == 0
    assert engines._video.pipe is None  # the model was never even loaded


@pytest.mark.parametrize("video_spec", [{"backend": "diffusers-wan", "model": "tiny/wan22-i2v", "steps": 2,
                                         "max_side": 32, "seconds_per_frame": 4000.0}])
def test_clips_past_the_per_call_limit_are_split_or_refused_in_the_estimate_and_before_rendering(
    runner: Runner, engines: FakeEngines, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, sid = _frames(runner, engines, edit=False)
    monkeypatch.setattr(zerogpu.TIMINGS, "_sums", {})  # plan from the profile's figure, not earlier tests' renders
    monkeypatch.setenv("AIUTEUR_GPU_CALL_LIMIT_S", "120")
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    words = " ".join(CostEstimate.model_validate(runner.view(pid).data(Stage.CONFIRM, sid)).assumptions)
    assert "One GPU call may last 120 s here" in words
    assert "will be rendered in" in words or "refused before it starts" in words
    monkeypatch.setenv("AIUTEUR_GPU_CALL_LIMIT_S", "15")  # not even one short segment fits now
    assert runner.run(pid, Stage.CONFIRM, sid, action=Estimate(confirm=True)).ok
    words = " ".join(CostEstimate.model_validate(runner.view(pid).data(Stage.CONFIRM, sid)).assumptions)
    assert "refused before it starts" in words and "more than the 15 s one GPU call may last" in words
    with pytest.raises(InputError, match=r"more than the 15 s one GPU call may last.*Nothing was rendered"):
        runner.run(pid, Stage.VIDEO, sid)
    assert engines.calls["video"] == 0
