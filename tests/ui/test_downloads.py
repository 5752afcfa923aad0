"""The writer's and the editor's files from the tabs, through the running app (gradio_client):
the script tab's Fountain, PDF and Final Draft downloads, and the video tab's cut for editors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client

from aiuteur.domain import Script, ShotList, Stage
from aiuteur.pipeline.actions import Estimate, MakeKeyframes, RenderScene
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import import_screenplay, script_summary
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.pipeline.film_fixtures import DownText, FakeEmbedding, FakeImage, FakeVideo, film_project
from tests.pipeline.phase_b_fixtures import FakeMatting

otio = pytest.importorskip("opentimelineio")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Runner, str]]:
    """A two-scene film made with quick image and video doubles (real ffmpeg clips), served."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("AIUTEUR_HOME", str(home))
    mp.setenv("AIUTEUR_PROFILE", "tiny")
    store = Store(DataHome(home, "test"))
    engines = FakeEngines(text=DownText(), image=FakeImage(), matting=FakeMatting(), embedding=FakeEmbedding(),
                          video=FakeVideo())
    runner = Runner(store, engines=engines)
    pid, script = film_project(runner)
    for sc in script.scenes:
        for stage, action in ((Stage.FRAMES, MakeKeyframes()), (Stage.CONFIRM, Estimate(fps=2, confirm=True)),
                              (Stage.VIDEO, RenderScene(fps=2, animatic_fps=4))):
            result = runner.run(pid, stage, sc.id, action, seed=2)
            assert result.ok, (stage, result.errors)
    demo = build_app(store, engines_factory=lambda: engines)
    demo.queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            ssr_mode=False, _frontend=False)  # no HEAD / check: slow when the machine is busy
    try:
        client = patient_client(url)  # patient on a busy machine
        client.predict("Scratch", "", "__all__", api_name="/dashboard_create_project")  # refreshes the project list
        assert "Opened" in str(client.predict(pid, api_name="/open_project"))
        yield client, runner, pid
    finally:
        demo.close()
        mp.undo()


def test_the_script_tab_downloads_fountain_pdf_and_final_draft_with_every_scene(
        served: tuple[Client, Runner, str]) -> None:
    client, runner, pid = served
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    headings = [s.heading.upper() for s in script.scenes]
    for api, ext in (("/script_export_fountain", ".fountain"), ("/script_export_pdf", ".pdf"),
                     ("/script_export_fdx", ".fdx")):
        path, status = client.predict(api_name=api)
        assert str(path).endswith(ext) and status.startswith("Exported "), (api, status)
        again = import_screenplay(Path(path).read_bytes(), Path(path).name)
        assert [s.heading.upper() for s in again.scenes] == headings
        assert script_summary(again)["characters"] == script_summary(script)["characters"]


def test_a_pdf_whose_fonts_lack_a_character_says_which_in_the_script_tab(served: tuple[Client, Runner, str]) -> None:
    client, runner, pid = served
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    rev = runner.view(pid).revision(Stage.SCRIPT)
    first = script.scenes[0]
    action = first.elements[0].model_copy(update={"text": first.elements[0].text + " The rune ᚠ glows."})
    edited = script.model_copy(update={"scenes": [first.model_copy(update={"elements": [action, *first.elements[1:]]}),
                                                  *script.scenes[1:]]})
    runner.save(pid, Stage.SCRIPT, edited, base_revision=rev)
    try:
        path, status = client.predict(api_name="/script_export_pdf")
        assert str(path).endswith(".pdf")
        assert "no glyph for 1 character" in status and "ᚠ" in status, status
    finally:
        runner.save(pid, Stage.SCRIPT, script, base_revision=runner.view(pid).revision(Stage.SCRIPT))


def test_the_video_tab_downloads_the_cut_for_editors_with_its_media(served: tuple[Client, Runner, str]) -> None:
    client, runner, pid = served
    files, status = client.predict(api_name="/video_export_cut")
    paths = [Path(f) for f in files]
    names = [p.name for p in paths]
    assert names[:3] == ["The_Lamp_Keeper_Timeline.otio", "The_Lamp_Keeper_Timeline.xml", "The_Lamp_Keeper_Timeline.edl"]
    assert status.startswith("✅ The cut for editors"), status
    shots = [s for sid in runner.view(pid).state.scene_ids
             for s in ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid)).shots]
    timeline = otio.adapters.read_from_file(str(paths[1]), "fcp_xml")
    video = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)
    clips = [c for c in video if isinstance(c, otio.schema.Clip)]
    assert len(clips) == len(shots)
    assert [m.name for c in clips for m in c.markers] == [f"Shot {s.number}" for s in shots]
    media = {Path(c.media_reference.target_url).name for c in clips}
    assert media <= set(names)  # relinkable: every clip the cut names came with it
    edl = otio.adapters.read_from_file(str(paths[2]), "cmx_3600", rate=24)
    assert len([c for t in edl.tracks for c in t if isinstance(c, otio.schema.Clip)]) == len(shots)
