"""Stage 7 with voices: lines spoken in each character's voice time the shots; long lines split
without changing a word; bad lines and a failing voice never lose audio."""

from __future__ import annotations

from typing import Any

import pytest

from aiuteur.domain import Asset, AssetCategory, AssetRegistry, ShotList, Stage, StyleAndAssets, VoiceChoice
from aiuteur.engines.base import EngineError
from aiuteur.engines.voice import ToneVoice, read_wav
from aiuteur.pipeline.actions import PreviewVoice, SetVoice
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.shot_list import check_shots, in_frame, scene_units
from aiuteur.pipeline.timing import MAX_SHOT_S, PAD_S, estimate_seconds, shot_timing, split_line
from aiuteur.pipeline.voices import assign_voices, cast_voices, delivery, set_voice, with_default_voices
from aiuteur.screenplay import import_screenplay
from tests.fakes import FakeEngines
from tests.pipeline.phase_b_fixtures import project_with_script

LONG = ("I walked the whole valley looking for you, past the river and the mill, and nobody had seen you. "
        "Then the baker said you had gone to the hills; I ran until I could not breathe, calling your name "
        "into the wind, and still there was nothing but the crows, the cold, and the long grey road home.")


def screenplay(*blocks: str) -> str:
    return "INT. KITCHEN - NIGHT\n\nMara stands at the sink.\n\n" + "\n\n".join(blocks) + "\n"


def run_shots(runner: Runner, engines: FakeEngines, text: str, *, seed: int = 5,
              registry: AssetRegistry | None = None) -> tuple[str, Any, ShotList]:
    pid, script = project_with_script(runner, text, "k.fountain")
    if registry is not None:
        runner.save(pid, Stage.ASSETS, StyleAndAssets(registry=registry))
    engines.scripted.enqueue(EngineError("no model here: the deterministic split"))
    result = runner.run(pid, Stage.SHOTS, script.scenes[0].id, seed=seed)
    assert result.ok, result.errors
    return pid, script, ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, script.scenes[0].id))


def test_split_line_keeps_every_word_and_cuts_at_sentences_first() -> None:
    parts = split_line(LONG)
    assert len(parts) > 2
    assert " ".join(parts) == LONG
    assert all(estimate_seconds(p) <= 6.0 for p in parts)
    assert all(p[-1] in ",.;" for p in parts)  # cut at sentence ends and phrase marks, never mid-phrase
    huge = " ".join(["Yes, no, maybe; perhaps, well"] * 200)
    assert " ".join(split_line(huge)) == huge
    assert split_line("Short one.") == ["Short one."]


def test_a_shots_duration_follows_its_line(runner: Runner, engines: FakeEngines) -> None:
    text = screenplay("MARA\nNo.", "JOE\nI said I would be home before the rain, and here I am, soaked to the bone.")
    _, script, shots = run_shots(runner, engines, text)
    scene = script.scenes[0]
    units = scene_units(scene)
    by_line = {ln.dialogue: ln for ln in shots.lines}
    assert by_line[1].seconds > 2 * by_line[0].seconds > 0
    for shot in shots.shots:
        timing = shot_timing(shot, units, shots.lines)
        if timing.lines:
            assert shot.duration_s >= timing.speech_s + PAD_S - 0.01
            assert shot.duration_s <= MAX_SHOT_S
            assert shot.duration_s <= max(1.5, timing.speech_s + PAD_S, 4.0) + 0.01
    durations = {shot.dialogue[0]: shot.duration_s for shot in shots.shots if shot.dialogue}
    assert durations[1] > durations[0]
    for line in shots.lines:  # every line's audio is a wav as long as it says
        assert line.audio and line.take
        wav = read_wav(runner.store.media_path(line.audio).read_bytes())
        assert wav.seconds == pytest.approx(line.seconds, abs=0.01)


def test_a_long_line_splits_across_shots_without_changing_a_word(runner: Runner, engines: FakeEngines) -> None:
    _, script, shots = run_shots(runner, engines, screenplay(f"MARA\n{LONG}"))
    scene = script.scenes[0]
    check_shots(shots, scene)
    units = scene_units(scene)
    spoken = [units[i].text for s in shots.shots for i in s.units if units[i].kind == "dialogue"]
    assert len(spoken) > 2 and len([s for s in shots.shots if s.dialogue == [0]]) == len(spoken)
    assert " ".join(spoken) == scene.dialogue[0].text == LONG
    assert " ".join(ln.text for ln in shots.lines) == LONG
    assert all(s.duration_s <= MAX_SHOT_S for s in shots.shots)


def test_lines_without_words_and_a_huge_line_get_clear_notes(runner: Runner, engines: FakeEngines) -> None:
    huge = " ".join(f"Word{i % 10} goes here, and then it goes on." for i in range(120))  # ~5,000 characters
    assert len(huge) > 4500
    _, script, shots = run_shots(runner, engines, screenplay("MARA\n...", "JOE\n🙂🙂", f"MARA\n{huge}"))
    scene = script.scenes[0]
    silent = [ln for ln in shots.lines if ln.dialogue in (0, 1)]
    assert all(ln.audio is None and "no words to speak" in ln.note and ln.seconds > 0 for ln in silent)
    assert " ".join(ln.text for ln in shots.lines if ln.dialogue == 2) == scene.dialogue[2].text
    assert all(s.duration_s <= MAX_SHOT_S for s in shots.shots)
    check_shots(shots, scene)


class BrokenVoice(ToneVoice):
    def speak(self, *args: Any, **kwargs: Any) -> Any:
        raise EngineError("the voice model file is corrupt")


def test_a_voice_that_fails_keeps_the_earlier_audio(runner: Runner, engines: FakeEngines) -> None:
    text = screenplay("MARA\nWhere were you?", "JOE\nOut.")
    pid, script, first = run_shots(runner, engines, text)
    engines._voice = BrokenVoice()
    engines.scripted.enqueue(EngineError("no model"))
    result = runner.run(pid, Stage.SHOTS, script.scenes[0].id, seed=9)
    again = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, script.scenes[0].id))
    assert again.lines == first.lines  # unchanged lines are not spoken again, so nothing is lost
    engines.scripted.enqueue(EngineError("no model"))
    scene = script.scenes[0]
    elements = [e.model_copy(update={"text": "Out walking."}) if e.text == "Out." else e for e in scene.elements]
    runner.save(pid, Stage.SCRIPT, script.model_copy(update={"scenes": [scene.model_copy(update={"elements": elements})]}))
    result = runner.run(pid, Stage.SHOTS, script.scenes[0].id, seed=9)
    failed = [t for t in result.takes if not t.ok]
    assert failed and "corrupt" in failed[0].error
    again = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, script.scenes[0].id))
    assert "corrupt" in again.voice_note and "keep their earlier audio" in again.voice_note
    assert again.lines[0] == first.lines[0]  # Mara's line keeps its audio
    assert again.lines[1].audio is None and "timed from its words" in again.lines[1].note


def test_characters_get_distinct_voices_then_distinct_pitch_and_rate() -> None:
    got = assign_voices(["a", "b", "c", "d", "e", "f"], ["v1", "v2", "v3"], {})
    keys = {(c.voice, c.pitch, c.rate) for c in got.values()}
    assert len(keys) == 6
    assert [got[k].voice for k in "abc"] == ["v1", "v2", "v3"] and all(got[k].pitch == 0 for k in "abc")
    chosen = {"b": VoiceChoice(voice="v1", chosen=True)}
    again = assign_voices(["a", "b", "c"], ["v1", "v2", "v3"], chosen)
    assert again["b"] == chosen["b"] and again["a"].voice != "v1"


def test_a_large_cast_on_one_voice_never_shares_a_pitch_and_rate() -> None:
    keys = [f"c{i}" for i in range(60)]
    got = assign_voices(keys, ["joe"], {})
    assert len({(c.voice, c.pitch, c.rate) for c in got.values()}) == 60
    assert all(-12 <= c.pitch <= 12 and 0.5 <= c.rate <= 2 for c in got.values())
    assert (got["c0"].pitch, got["c0"].rate) == (0.0, 1.0)  # the first speaks in the voice's own way


def test_voices_from_another_engine_stay_distinct_on_this_one() -> None:
    """Defaults made on Kokoro (many voices, all at pitch 0) meet on Piper's one voice: still distinct."""
    script = import_screenplay(screenplay("MARA\nHi.", "JOE\nHey.", "ANNA\nYo.").encode(), "k.fountain")
    kokoro = ["af_heart", "am_michael", "bf_emma"]
    reg = with_default_voices(AssetRegistry(assets=[Asset(name=n, category=AssetCategory.CHARACTER)
                                                    for n in ("Mara", "Joe", "Anna")]), script, kokoro)
    assert [a.voice.voice for a in reg.assets if a.voice] == kokoro
    on_piper = cast_voices(script, reg, ["joe"])
    assert len({(c.voice, c.pitch, c.rate) for c in on_piper.values()}) == 3
    # A carried-over pitch and rate that is still free is kept.
    moved = reg.model_copy(update={"assets": [reg.assets[0].model_copy(update={
        "voice": VoiceChoice(voice="af_heart", pitch=-4.0, rate=0.94)}), *reg.assets[1:]]})
    assert cast_voices(script, moved, ["joe"])["MARA"] == VoiceChoice(voice="joe", pitch=-4.0, rate=0.94)


def test_default_voices_are_stored_on_speaking_characters() -> None:
    script = import_screenplay(screenplay("MARA\nHi.", "JOE\nHey.").encode(), "k.fountain")
    reg = AssetRegistry(assets=[Asset(name="Mara", category=AssetCategory.CHARACTER),
                                Asset(name="Joe Brown", category=AssetCategory.CHARACTER),
                                Asset(name="Sink", category=AssetCategory.PROP)])
    out = with_default_voices(reg, script, ["tone-a", "tone-b"])
    assert [a.voice.voice if a.voice else None for a in out.assets] == ["tone-a", "tone-b", None]
    assert cast_voices(script, out, ["tone-a", "tone-b"]) == {"MARA": out.assets[0].voice,
                                                              "JOE": out.assets[1].voice}


def test_parentheticals_and_extensions_are_honoured(runner: Runner, engines: FakeEngines) -> None:
    assert delivery("(whispering)", None).volume < delivery("", None).volume < delivery("(shouting)", None).volume
    assert delivery("", "V.O.").lip_sync is False and delivery("", "O.S.").muffled
    text = screenplay("MARA (V.O.)\nI knew then.", "JOE\n(beat)\nI knew then.")
    _, script, shots = run_shots(runner, engines, text)
    mara, joe = shots.lines
    assert not mara.lip_sync and joe.lip_sync and joe.delivery == "(beat)"
    units = [u for u in scene_units(script.scenes[0]) if u.kind == "dialogue"]
    cast = [Asset(id="as_m", name="Mara", category=AssetCategory.CHARACTER),
            Asset(id="as_j", name="Joe", category=AssetCategory.CHARACTER)]
    assert in_frame(units[:1], cast)[0] == [] and in_frame(units[1:], cast)[0] == ["as_j"]  # a V.O. is not seen
    assert joe.seconds == pytest.approx(mara.seconds + 0.5, abs=0.3)  # the beat is a pause before the line


def test_stage5_voice_choice_preview_and_bundle(runner: Runner, engines: FakeEngines, tmp_path: Any) -> None:
    from aiuteur.exports.bundle import export_bundle, import_bundle

    reg = AssetRegistry(assets=[Asset(id="as_mara", name="Mara", category=AssetCategory.CHARACTER),
                                Asset(id="as_joe", name="Joe", category=AssetCategory.CHARACTER)])
    pid, script, shots = run_shots(runner, engines, screenplay("MARA\nWhere were you?", "JOE\nOut."), registry=reg)
    preview = runner.run(pid, Stage.ASSETS, action=PreviewVoice(asset_id="as_mara", voice="tone-c", pitch=3))
    assert preview.ok and preview.takes[0].media and preview.takes[0].output
    assert preview.takes[0].output["text"] == "Where were you?"  # her own first line
    bad = runner.run(pid, Stage.ASSETS, action=PreviewVoice(asset_id="as_mara", text="🙂"))
    assert bad.ok and "no words to speak" in (bad.takes[0].output or {}).get("note", "")
    with pytest.raises(Exception, match="no voice called 'nobody'"):
        runner.run(pid, Stage.ASSETS, action=SetVoice(asset_id="as_mara", voice="nobody"))
    assert runner.run(pid, Stage.ASSETS, action=SetVoice(asset_id="as_mara", voice="tone-c", rate=1.2)).ok
    saved = StyleAndAssets.model_validate(runner.view(pid).data(Stage.ASSETS))
    mara = saved.registry.get("as_mara")
    assert mara.voice == VoiceChoice(voice="tone-c", rate=1.2, chosen=True)
    # Stage 7 again: Mara's line is spoken in her new voice; Joe's line keeps its audio.
    engines.scripted.enqueue(EngineError("no model"))
    assert runner.run(pid, Stage.SHOTS, script.scenes[0].id, seed=6).ok
    again = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, script.scenes[0].id))
    assert again.lines[0].voice is not None and again.lines[0].voice.voice == "tone-c"
    assert again.lines[0].audio != shots.lines[0].audio and again.lines[1] == shots.lines[1]
    # A bundle carries the voices and the spoken lines.
    copy = import_bundle(runner.store, export_bundle(runner.store, pid, tmp_path / "b.zip"))
    view = runner.view(copy.id)
    assert StyleAndAssets.model_validate(view.data(Stage.ASSETS)).registry.get("as_mara").voice == mara.voice
    lines = ShotList.model_validate(view.data(Stage.SHOTS, script.scenes[0].id)).lines
    assert lines == again.lines and all(runner.store.media_path(ln.audio or "").is_file() for ln in lines)


def test_voices_and_spoken_lines_carry_into_a_new_branch(runner: Runner, engines: FakeEngines) -> None:
    reg = AssetRegistry(assets=[Asset(id="as_mara", name="Mara", category=AssetCategory.CHARACTER),
                                Asset(id="as_joe", name="Joe", category=AssetCategory.CHARACTER)])
    pid, script, _ = run_shots(runner, engines, screenplay("MARA\nWhere were you?", "JOE\nOut."), registry=reg)
    sid = script.scenes[0].id
    mara = VoiceChoice(voice="tone-c", pitch=2.0, rate=1.1, chosen=True)
    with runner.edit(pid) as ed:  # Mara's voice chosen in stage 5, then the lines spoken again
        ed.put(Stage.ASSETS, StyleAndAssets(registry=set_voice(reg, "as_mara", "tone-c", 2.0, 1.1)))
    engines.scripted.enqueue(EngineError("no model"))
    assert runner.run(pid, Stage.SHOTS, sid, seed=6).ok
    spoken = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid))
    assert spoken.lines[0].voice is not None and spoken.lines[0].voice.voice == "tone-c"
    for stage, scene in ((Stage.INPUT, None), (Stage.SCRIPT, None), (Stage.ASSETS, None), (Stage.HUB, None),
                         (Stage.SHOTS, sid)):
        runner.lock(pid, stage, scene)
    main = runner.view(pid).branch
    fork = runner.unlock(pid, Stage.ASSETS, mode="branch")
    view = runner.view(pid)
    assert view.branch.id == fork.id != main.id
    assert StyleAndAssets.model_validate(view.data(Stage.ASSETS)).registry.get("as_mara").voice == mara
    assert ShotList.model_validate(view.data(Stage.SHOTS, sid)).lines == spoken.lines  # the audio comes along
    # A new voice in the branch leaves the approved branch's voice and lines as they were.
    bundle = StyleAndAssets.model_validate(view.data(Stage.ASSETS))
    runner.save(pid, Stage.ASSETS, bundle.model_copy(update={"registry": set_voice(bundle.registry, "as_mara",
                                                                                   "tone-d")}))
    runner.switch_branch(pid, main.id)
    view = runner.view(pid)
    assert StyleAndAssets.model_validate(view.data(Stage.ASSETS)).registry.get("as_mara").voice == mara
    assert ShotList.model_validate(view.data(Stage.SHOTS, sid)).lines == spoken.lines


class FailsToLoad(ToneVoice):
    """A voice whose model cannot be loaded (what a corrupt or missing voice file does)."""

    def voices(self) -> list[str]:
        raise EngineError("The Piper voice joe.onnx could not be loaded: INVALID_PROTOBUF")


def test_a_voice_that_fails_to_load_keeps_every_spoken_line(runner: Runner, engines: FakeEngines) -> None:
    text = screenplay("MARA\nWhere were you?", "JOE\nOut.")
    pid, script, first = run_shots(runner, engines, text)
    sid = script.scenes[0].id
    engines._voice = FailsToLoad()
    scene = script.scenes[0]
    elements = [e.model_copy(update={"text": "Out walking."}) if e.text == "Out." else e for e in scene.elements]
    runner.save(pid, Stage.SCRIPT, script.model_copy(update={"scenes": [scene.model_copy(update={"elements": elements})]}))
    engines.scripted.enqueue(EngineError("no model"))
    result = runner.run(pid, Stage.SHOTS, sid, seed=9)
    assert result.ok, result.errors  # the shot list is made all the same
    again = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, sid))
    assert again.voice_note.startswith("The voice could not be loaded: ") and "INVALID_PROTOBUF" in again.voice_note
    assert again.lines[0] == first.lines[0]  # Mara's line keeps its audio
    assert again.lines[1].audio is None and "timed from its words" in again.lines[1].note
    assert runner.store.media_path(first.lines[1].audio or "").is_file()  # the earlier audio is still stored


def test_a_voice_that_fails_to_load_is_stood_in_for_by_the_profiles_fallback(runner: Runner, tmp_path: Any) -> None:
    from dataclasses import replace

    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.registry import EngineCache, Engines
    from aiuteur.settings import DataHome
    from tests.pipeline.phase_b_fixtures import DownText

    class OfflineVoice(Engines):  # the offline profile's voice table, its model file missing
        def text(self, purpose: str = "text") -> Any:
            return DownText()

    base = load_profile("offline")
    table = {"backend": "piper", "model": "missing-voice.onnx", "fallback": ["tone"]}
    engines = OfflineVoice(replace(base, tables={**base.tables, "voice": table}), DataHome(tmp_path, "test"),
                           cache=EngineCache())
    runner = Runner(runner.store, engines=engines)
    pid, script = project_with_script(runner, screenplay("MARA\nWhere were you?"), "k.fountain")
    assert runner.run(pid, Stage.SHOTS, script.scenes[0].id, seed=1).ok
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, script.scenes[0].id))
    assert "missing-voice.onnx" in shots.voice_note and "spoken by the tone voice instead" in shots.voice_note
    assert shots.lines[0].audio and shots.voice_model.startswith("tone-voice")


def test_an_empty_line_is_a_silent_beat_that_says_so(runner: Runner, engines: FakeEngines) -> None:
    pid, script, _ = run_shots(runner, engines, screenplay("MARA\nWhere were you?", "JOE\nOut."))
    scene = script.scenes[0]
    elements = [e.model_copy(update={"text": "  "}) if e.text == "Out." else e for e in scene.elements]
    runner.save(pid, Stage.SCRIPT, script.model_copy(update={"scenes": [scene.model_copy(update={"elements": elements})]}))
    engines.scripted.enqueue(EngineError("no model"))
    assert runner.run(pid, Stage.SHOTS, scene.id, seed=2).ok
    shots = ShotList.model_validate(runner.view(pid).data(Stage.SHOTS, scene.id))
    joe = [ln for ln in shots.lines if ln.character == "JOE"]
    assert joe, "the empty line keeps its place"
    assert joe[0].audio is None and "The line is empty." in joe[0].note and joe[0].seconds > 0
    assert shots.lines[0].audio  # Mara's line is unchanged
