"""Stages 10-12 in the UI: badges flag low scores, the estimate reads in words, markers as
timecodes, and every event is named for the API with model events on the gpu queue."""

from __future__ import annotations

from pathlib import Path

from aiuteur.domain import CostEstimate, Frame, Frames, Shot, ShotList
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui import confirm_tab, frames_tab, video_tab


def test_consistency_badges_flag_low_scores_and_name_the_weakest_asset() -> None:
    assert frames_tab.badge(None) == "–" and frames_tab.badge(0.93) == "0.93"
    assert frames_tab.badge(0.41).startswith("⚠") and "low" in frames_tab.badge(0.41)
    shots = ShotList(shots=[Shot(id="sh_a", number="1A"), Shot(id="sh_b", number="1B")])
    frames = Frames(frames=[Frame(shot_id="sh_a", which="start", takes=["t1"], image="x.png", consistency=0.95),
                            Frame(shot_id="sh_b", which="start", takes=["t2", "t3"], image="y.png", consistency=0.5,
                                  asset_scores={"as_leo": 0.5, "as_martha": 0.9})])
    text = frames_tab.overview_markdown(shots, frames, {"as_leo": "Leo"})
    assert "⚠ 1 frame below" in text and "weakest: Leo" in text and "1A start" in text
    assert [v for _, v in frames_tab.frame_choices(shots, frames)] == ["sh_a:start", "sh_b:start"]


def test_the_estimate_reads_per_shot_and_in_total() -> None:
    shots = ShotList(shots=[Shot(id="sh_a", number="1A"), Shot(id="sh_b", number="1B")])
    est = CostEstimate(per_shot_seconds={"sh_a": 900.0, "sh_b": 30.0}, total_seconds=930.0, rate_per_hour=3.6,
                       model_id="wan", measured={"sh_a": True, "sh_b": False}, assumptions=["Rough."])
    assert confirm_tab.rows(est, shots) == [["1A", "15 min 0 s", "0.90 USD", "measured here"],
                                            ["1B", "30 s", "0.03 USD", "rough table"]]
    total = confirm_tab.total_markdown(est)
    assert "15 min 30 s" in total and "0.93 USD" in total and "Not confirmed" in total
    assert confirm_tab.duration(7600) == "2 h 06 min"
    assert confirm_tab.assumptions_markdown(est) == "- Rough."


def test_shot_markers_are_timecodes() -> None:
    shots = ShotList(shots=[Shot(number="1A", duration_s=2.5), Shot(number="1B", duration_s=4)])
    assert video_tab.markers_markdown(shots, 24) == "- `00:00:00:00` Shot 1A\n- `00:00:02:12` Shot 1B"


def test_every_film_event_has_an_api_name_and_model_events_share_the_gpu_queue(tmp_path: Path) -> None:
    from aiuteur.ui.app import build_app

    demo = build_app(Store(DataHome(tmp_path / "home", "test")))
    fns = {str(getattr(f, "api_name", "")): f for f in demo.fns.values()}
    for name in ("frames_generate", "frames_regenerate_frame", "frames_regenerate_shot", "frames_choose",
                 "frames_pick", "confirm_estimate", "confirm_scene", "video_render", "video_animatic",
                 "video_rerender_shot", "video_pick", "video_export"):
        assert name in fns, name
    for name in ("frames_generate", "frames_regenerate_frame", "frames_regenerate_shot", "video_render",
                 "video_animatic", "video_rerender_shot"):
        assert fns[name].concurrency_id == "gpu", name
    assert not [n for n in fns if n.startswith("/")]
