"""Every deliverable from a two-scene script on the tiny profile's real engines; the bundle keeps
it all; `run --until video` works headless on a real screenplay."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aiuteur.domain import STAGE_ORDER, Clips, Frames, ShotList, Stage, Status
from aiuteur.engines.animatic import probe
from aiuteur.exports import export_all
from aiuteur.exports.bundle import export_bundle, import_bundle
from aiuteur.pipeline import graph
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderScene
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from tests.engines._image_fixtures import (  # noqa: F401
    image_models_dir,
    tiny_image_builder,
    tiny_image_models,
    tiny_video_models,
    u2netp,
)
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import (
    FIXTURE_SCREENPLAY,
    DownText,
    FakeEmbedding,
    FakeImage,
    FakeVideo,
    TinyFilm,
    film_project,
)
from tests.pipeline.phase_b_fixtures import FakeMatting

CLIP_NAME = re.compile(r"^The_Lamp_Keeper_Sc0[12]_Shot[12][A-Z]_v\d\d\.mp4$")


@pytest.fixture(scope="module")
def film(tiny_image_models: Path, tiny_video_models: Path, u2netp: Path,  # noqa: F811
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Runner, str]:
    """The two-scene film made once for the module: real tiny image, u2netp, EfficientNet, tiny Wan."""
    import torch

    mp = pytest.MonkeyPatch()
    mp.setenv("AIUTEUR_MODELS", str(tiny_image_models))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on shared CI cores: more threads only wait on each other
    home = DataHome(tmp_path_factory.mktemp("film") / "home", "test")
    runner = Runner(Store(home), engines=TinyFilm(home))
    pid, script = film_project(runner)
    for sc in script.scenes:
        for stage, action in ((Stage.FRAMES, MakeKeyframes()), (Stage.CONFIRM, Estimate(fps=2, confirm=True)),
                              (Stage.VIDEO, RenderScene(fps=2, animatic_fps=4))):
            result = runner.run(pid, stage, sc.id, action, seed=2)
            assert result.ok, (stage, result.errors)
    torch.set_num_threads(threads)
    yield runner, pid
    mp.undo()


def test_a_two_scene_script_becomes_clips_cuts_and_animatics_on_the_tiny_profile(film: tuple[Runner, str]) -> None:
    runner, pid = film
    state = runner.view(pid).state
    for sid in state.scene_ids:
        assert graph.status(state, Stage.VIDEO, sid) == Status.DONE
        frames = Frames.model_validate(state.data(Stage.FRAMES, sid))
        assert all(f.image and f.consistency is not None for f in frames.frames)  # real EfficientNet scores
        clips = Clips.model_validate(state.data(Stage.VIDEO, sid))
        shots = ShotList.model_validate(state.data(Stage.SHOTS, sid)).shots
        n, _ = probe(runner.store.media_path(clips.scene_cut or ""))
        assert n == sum(max(2, round(s.duration_s * 2)) for s in shots)
        assert all(c.model_id == "tiny/wan" for c in clips.clips)
    engines = runner.engines
    assert engines.calls["keyframe"] >= 4 and engines.calls["video"] >= 4


def test_export_all_writes_every_deliverable_and_the_timeline_reads_back(film: tuple[Runner, str],
                                                                         tmp_path: Path) -> None:
    import opentimelineio as otio
    from pypdf import PdfReader

    runner, pid = film
    written, missing = export_all(runner, pid, tmp_path)
    assert missing == []
    names = sorted(p.name for p in written)
    for suffix in ("_Screenplay.fountain", "_Screenplay.pdf", "_Screenplay.fdx", "_Timeline.xml", "_Timeline.edl", "_ShotList.csv", "_ShotList.pdf", "_Storyboard.pdf",
                   "_Sc01_Animatic.mp4", "_Sc02_Scene.mp4", "_Timeline.otio", "_bundle.zip"):
        assert f"The_Lamp_Keeper{suffix}" in names, suffix
    clips = [n for n in names if re.search(r"_Sc\d+_Shot", n)]
    assert clips and all(CLIP_NAME.match(n) for n in clips), clips
    rows = list(csv.reader((tmp_path / "The_Lamp_Keeper_ShotList.csv").open(encoding="utf-8")))
    shots = [s for sid in runner.view(pid).state.scene_ids
             for s in ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid)).shots]
    assert len(rows) == len(shots) + 1 and rows[0][:3] == ["Scene", "Shot", "Size"]
    board = " ".join(page.extract_text() for page in PdfReader(tmp_path / "The_Lamp_Keeper_Storyboard.pdf").pages)
    assert all(f"SHOT {s.number}" in board for s in shots) and "Hold it steady, Leo." in board
    timeline = otio.adapters.read_from_file(str(tmp_path / "The_Lamp_Keeper_Timeline.otio"))
    track = timeline.tracks[0]
    assert len(track) == len(shots) == len(clips)
    assert [c.media_reference.target_url for c in track] == sorted(clips, key=lambda n: n)
    assert [m.name for c in track for m in c.markers] == [f"Shot {s.number}" for s in shots]
    assert all((tmp_path / c.media_reference.target_url).is_file() for c in track)
    assert timeline.duration().value == sum(max(2, round(s.duration_s * 2)) for s in shots)
    # The same cut for editors, read back with OpenTimelineIO's FCP7 XML and CMX 3600 adapters.
    want = [(c.name, c.media_reference.target_url, c.source_range.duration.value * 12) for c in track]  # 2 fps -> 24
    xml = otio.adapters.read_from_file(str(tmp_path / "The_Lamp_Keeper_Timeline.xml"), "fcp_xml")
    video = next(t for t in xml.tracks if t.kind == otio.schema.TrackKind.Video)
    got = [(c.name, c.media_reference.target_url.split("/")[-1], c.source_range.duration.value)
           for c in video if isinstance(c, otio.schema.Clip)]
    assert got == want
    assert [m.name for c in video for m in c.markers] == [f"Shot {s.number}" for s in shots]
    edl = otio.adapters.read_from_file(str(tmp_path / "The_Lamp_Keeper_Timeline.edl"), "cmx_3600", rate=24)
    assert [(c.name, c.source_range.duration.value) for c in edl.tracks[0]] == [(n, d) for n, _, d in want]


def _everything(store: Store, pid: str) -> dict[str, Any]:
    with store.read(pid) as tx:
        records = [r.model_dump() for r in tx.records()]
        takes = {f"{st.value}:{sid}": [t.model_dump() for t in tx.takes(st, sid)]
                 for st in STAGE_ORDER for sid in [None, *[r["scene_id"] for r in records if r["scene_id"]]]}
    media = sorted({k for t in takes.values() for take in t for k in take["media"]})
    return {"records": records, "takes": takes, "media": {k: store.media_path(k).read_bytes() for k in media}}


def test_bundle_export_then_import_gives_the_identical_project(film: tuple[Runner, str], tmp_path: Path) -> None:
    runner, pid = film
    zpath = export_bundle(runner.store, pid, tmp_path / "film.zip")
    other = Store(DataHome(tmp_path / "elsewhere", "test"))
    project = import_bundle(other, zpath)
    assert project.id == pid
    mine, theirs = _everything(runner.store, pid), _everything(other, pid)
    assert theirs["records"] == mine["records"] and theirs["takes"] == mine["takes"]
    assert theirs["media"] == mine["media"] and len(mine["media"]) > 10
    stages = {r["stage"] for r in mine["records"]}
    assert {"frames", "confirm", "video"} <= {getattr(s, "value", s) for s in stages}
    view = Runner(other).view(pid)
    assert graph.status(view.state, Stage.VIDEO) == Status.DONE


def test_cli_run_until_video_works_headless_on_a_real_screenplay(home: DataHome, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m aiuteur run --script FILE --until video --json`: no text model at all (stages 5, 7 and 8
    take their fallbacks), quick image and video doubles, the real animatic, ffmpeg and exports."""
    import aiuteur.cli as cli
    from aiuteur.store import open_store

    engines = FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                          video=FakeVideo())
    monkeypatch.setattr(cli, "_runner", lambda: Runner(open_store(), engines=engines))
    args = ["run", "--script", str(FIXTURE_SCREENPLAY), "--until", "video", "--confirm", "--json", "--quiet"]
    rc = cli.main(args)
    out = json.loads(capsys.readouterr().out)
    if rc != 0:  # stage 5 reported its failed model calls; its artifact is saved, so resume
        assert out["stopped"]["stage"] == "assets", out
        rc = cli.main(["run", "--project", out["project"], "--until", "video", "--confirm", "--json", "--quiet"])
        out = json.loads(capsys.readouterr().out)
    assert rc == 0 and "stopped" not in out, out
    assert out["stages"]["frames"] == out["stages"]["confirm"] == out["stages"]["video"] == "done"
    assert out["frames"] >= out["shots"] >= 4
    assert any(p.endswith(".mp4") for p in out["outputs"])
    assert cli.main(["export", out["project"], "--all", str(tmp_path / "deliver")]) == 0
    printed = capsys.readouterr()
    assert "not exported" not in printed.err
    assert any(line.endswith("_Timeline.otio") for line in printed.out.splitlines())
    assert io.StringIO(printed.out).read().count(".mp4") >= out["shots"]
