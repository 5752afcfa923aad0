"""Stage 5's voice picker through the running app: play a character's line, save a voice."""

from __future__ import annotations

from pathlib import Path

from aiuteur.domain import Asset, AssetCategory, AssetRegistry, InputMode, Stage, StoryInput, StyleAndAssets
from aiuteur.engines.voice import read_wav
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import import_screenplay
from aiuteur.ui.app import build_app, launch_kwargs
from tests.clients import patient_client
from tests.fakes import FakeEngines
from tests.serving import app_home, serve

SCRIPT = "INT. KITCHEN - NIGHT\n\nMara stands at the sink.\n\nMARA\nWhere were you?\n\nJOE\nOut.\n"


def test_play_and_save_a_characters_voice(tmp_path: Path) -> None:
    with app_home(tmp_path) as store, serve(build_app(store, engines_factory=FakeEngines),
                                            allowed_paths=[str(store.home.media)], **launch_kwargs()) as url:
        client = patient_client(url)  # generous: CI may be loaded
        client.predict("Kitchen", "", "__all__", api_name="/dashboard_create_project")
        pid = next(p["id"] for p in client.predict("", api_name="/project_list") if p["title"] == "Kitchen")
        runner = Runner(store, engines=FakeEngines())
        runner.save(pid, Stage.INPUT, StoryInput(mode=InputMode.SKIP_TO_SCRIPT))
        runner.save(pid, Stage.SCRIPT, import_screenplay(SCRIPT.encode(), "k.fountain"))
        runner.save(pid, Stage.ASSETS, StyleAndAssets(registry=AssetRegistry(assets=[
            Asset(id="as_mara", name="Mara", category=AssetCategory.CHARACTER),
            Asset(id="as_joe", name="Joe", category=AssetCategory.CHARACTER)])))
        client.predict(pid, api_name="/open_project")
        other = patient_client(url)  # a second tab on the same project, opened before the save below
        other.predict("", "__all__", api_name="/list_projects")
        other.predict(pid, api_name="/open_project")
        client.predict("Sink", "prop", "A steel sink.", api_name="/add_asset")  # fills the tab's asset list
        _, audio, said = client.predict("as_mara", "tone-b", 2.0, 1.1, api_name="/voice_preview")
        assert "Where were you?" in said and "tone-b" in said
        assert read_wav(Path(audio).read_bytes()).seconds > 0.5
        said = client.predict("as_mara", "tone-b", 2.0, 1.1, api_name="/voice_save")
        assert said.startswith("✅")
        before = Runner(store).view(pid).revision(Stage.ASSETS)
        said = other.predict("as_mara", "tone-a", 0, 1.0, api_name="/voice_save")  # it never saw Sink nor tone-b
        assert said.startswith("⚠️ Style & assets was changed by someone else") and "not saved" in said, said
        assert "\n" not in said and Runner(store).view(pid).revision(Stage.ASSETS) == before
        other.predict(pid, api_name="/open_project")  # shows the registry again: its save goes through
        assert other.predict("as_mara", "tone-b", 2.0, 1.1, api_name="/voice_save").startswith("✅")
        client.predict(pid, api_name="/open_project")  # the first tab, now behind the second's save, reloads
        said = client.predict("as_mara", "nobody", 0, 1.0, api_name="/voice_save")
        assert "no voice called 'nobody'" in said
    saved = StyleAndAssets.model_validate(Runner(store, engines=FakeEngines()).view(pid).data(Stage.ASSETS))
    mara = saved.registry.get("as_mara").voice
    assert mara is not None and (mara.voice, mara.pitch, mara.rate, mara.chosen) == ("tone-b", 2.0, 1.1, True)
    assert saved.registry.get("as_joe").voice is not None  # the others' defaults are stored too
