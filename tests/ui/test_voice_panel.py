"""Stage 5's voice picker through the running app: play a character's line, save a voice."""

from __future__ import annotations

import socket
from pathlib import Path

from gradio_client import Client

from aiuteur.domain import Asset, AssetCategory, AssetRegistry, Stage, StyleAndAssets
from aiuteur.engines.voice import read_wav
from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import project_with_script

SCRIPT = "INT. KITCHEN - NIGHT\n\nMara stands at the sink.\n\nMARA\nWhere were you?\n\nJOE\nOut.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_play_and_save_a_characters_voice(tmp_path: Path) -> None:
    store = Store(DataHome(tmp_path, "test"))
    pid, _ = project_with_script(Runner(store, engines=FakeEngines()), SCRIPT, "k.fountain")
    Runner(store, engines=FakeEngines()).save(pid, Stage.ASSETS, StyleAndAssets(registry=AssetRegistry(assets=[
        Asset(id="as_mara", name="Mara", category=AssetCategory.CHARACTER),
        Asset(id="as_joe", name="Joe", category=AssetCategory.CHARACTER)])))
    demo = build_app(store, engines_factory=FakeEngines)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            ssr_mode=False, allowed_paths=[str(store.home.media)], **launch_kwargs())
    try:
        client = Client(url, verbose=False)
        voice, audio, said = client.predict(pid, "as_mara", "tone-b", 2.0, 1.1, api_name="/voice_preview")
        assert "Where were you?" in said and "tone-b" in said
        assert read_wav(Path(audio).read_bytes()).seconds > 0.5
        said = client.predict(pid, "as_mara", "tone-b", 2.0, 1.1, api_name="/voice_save")
        assert said.startswith("✅")
        said = client.predict(pid, "as_mara", "nobody", 0, 1.0, api_name="/voice_save")
        assert "no voice called 'nobody'" in said
    finally:
        demo.close()
    saved = StyleAndAssets.model_validate(Runner(store, engines=FakeEngines()).view(pid).data(Stage.ASSETS))
    mara = saved.registry.get("as_mara").voice
    assert mara is not None and (mara.voice, mara.pitch, mara.rate, mara.chosen) == ("tone-b", 2.0, 1.1, True)
    assert saved.registry.get("as_joe").voice is not None  # the others' defaults are stored too
