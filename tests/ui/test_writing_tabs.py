"""Stage 2-4 tabs: pure formatting, and the events end to end through the Gradio client."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from gradio_client import Client

from aiuteur.domain import BeatSheet, Script, Stage, Treatment
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui import beats_tab, script_tab
from aiuteur.ui.app import build_app
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.pipeline.writing_fixtures import IDEA, beats_out, plan_out, scene_out, treatment_out

FOUNTAIN = "INT. LAMP ROOM - NIGHT\n\nMartha climbs.\n\nMARTHA\n(softly)\nHold the light.\n"


def test_screenplay_preview_has_heading_action_cue_parenthetical_and_dialogue() -> None:
    html = script_tab.preview(FOUNTAIN)
    for part in ('class="h">INT. LAMP ROOM - NIGHT', 'class="a">Martha climbs.', 'class="c">MARTHA',
                 'class="p">(softly)', 'class="d">Hold the light.'):
        assert part in html
    assert "<script" not in script_tab.preview("INT. X - DAY\n\n<script>alert(1)</script>\n")


def test_beat_table_edits_keep_ids() -> None:
    sheet = BeatSheet.model_validate(beats_out())
    rows = beats_tab.rows(sheet)
    assert beats_tab.sheet_from_rows(rows) == sheet
    moved = beats_tab.move(sheet, 2, -1)
    assert [b.id for b in moved.beats] == [sheet.beats[1].id, sheet.beats[0].id, sheet.beats[2].id]
    assert len(beats_tab.add_after(sheet, 1).beats) == 4 and len(beats_tab.delete(sheet, 3).beats) == 2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Store, FakeEngines]]:
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("AIUTEUR_HOME", str(home))
    mp.setenv("AIUTEUR_PROFILE", "tiny")
    store = Store(DataHome(home, "test"))
    engines = FakeEngines()
    demo = build_app(store, engines_factory=lambda: engines)
    demo.queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            ssr_mode=False, _frontend=False)  # no HEAD / check: it times out on a busy machine
    try:
        yield patient_client(url), store, engines  # generous: CI may be loaded
    finally:
        demo.close()
        mp.undo()


def test_treatment_beats_and_script_through_their_api_names(served: tuple[Client, Store, FakeEngines]) -> None:
    client, store, engines = served
    runner = Runner(store, engines=engines)
    client.predict("Lamp", "", "__all__", api_name="/dashboard_create_project")  # creates and opens it here
    pid = next(p["id"] for p in client.predict("", api_name="/project_list") if p["title"] == "Lamp")
    runner.save(pid, Stage.INPUT, IDEA)

    engines.scripted.enqueue(treatment_out())
    client.predict("", api_name="/treatment_generate")
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    runner.save(pid, Stage.TREATMENT, t.model_copy(update={"chosen": 0}))

    engines.scripted.enqueue(beats_out())
    client.predict("", api_name="/beats_generate")
    assert runner.view(pid).data(Stage.BEATS)

    engines.scripted.enqueue(plan_out(2), scene_out(1), scene_out(2))
    out = client.predict("", api_name="/script_generate")
    assert "HARBOUR WALL" in str(out)
    script = Script.model_validate(runner.view(pid).data(Stage.SCRIPT))
    assert len(script.scenes) == 2

    assert 'class="c">MARTHA' in client.predict(FOUNTAIN, api_name="/script_preview")
    exported, said = client.predict(api_name="/script_export_fountain")
    assert str(exported).endswith(".fountain") and said.startswith("Exported ")


def test_a_weak_treatment_is_kept_and_marked_in_the_app(served: tuple[Client, Store, FakeEngines]) -> None:
    client, store, engines = served
    runner = Runner(store, engines=engines)
    client.predict("Weak", "", "__all__", api_name="/dashboard_create_project")
    pid = next(p["id"] for p in client.predict("", api_name="/project_list") if p["title"] == "Weak")
    runner.save(pid, Stage.INPUT, IDEA)
    first, _, third = treatment_out()
    engines.scripted.enqueue(first, first, first, first, third)  # treatment 2 repeats 1 on every try
    out = [str(x) for x in client.predict("", api_name="/treatment_generate")]
    assert any("Treatment 2 is weak" in x for x in out)  # the tab's banner
    assert any(x.startswith("✅ Written. ⚠️ Treatment 2 is weak") for x in out)  # the status line
    t = Treatment.model_validate(runner.view(pid).data(Stage.TREATMENT))
    assert t.variants[1].weak and not t.variants[0].weak and len(t.variants) == 3
