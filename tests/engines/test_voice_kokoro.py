"""The Kokoro voice backend, run for real on a tiny random-weight Kokoro (models/tiny_kokoro.py).

The model is loaded the way local Kokoro-82M weights are (kokoro.KModel with config.json and the
.pth, KPipeline, voice packs from voices/*.pt), phonemes come from espeak-ng (the espeakng-loader
wheel) because misaki's English G2P needs spaCy's en_core_web_sm, which no package registry here
serves. Random weights speak noise, so the checks are about the wiring: voices found and chosen,
24 kHz, length grows with the text, rate and pitch, each voice distinct, each take repeatable.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiuteur.engines.base import EngineError
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import EngineCache, Engines
from aiuteur.engines.voice import KokoroVoice, NothingToSay, VoiceSpec
from aiuteur.settings import DataHome

from .conftest import load_builder

pytestmark = pytest.mark.skipif(importlib.util.find_spec("kokoro") is None,
                                reason="the kokoro package is an extra: pip install -r requirements-kokoro.txt")

SHORT = "Hello."
MEDIUM = "Hello there, old friend."
LONG = "Hello there, my old friend, it has been a long time."


@pytest.fixture(scope="module")
def kokoro_dir(models_dir: Path) -> Path:
    return Path(load_builder("tiny_kokoro").build(models_dir))


@pytest.fixture(scope="module")
def engines(kokoro_dir: Path, models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Engines:
    """The studio profile's [voice] table (American English, g2p auto) pointed at the tiny folder, as a
    user points it at local weights; no fallback voice, so a broken Kokoro fails here."""
    profile = load_profile("studio")
    table = {**profile.tables["voice"], "model": "tiny/kokoro", "fallback": []}
    profile = replace(profile, tables={**profile.tables, "voice": table})
    return Engines(profile, DataHome(tmp_path_factory.mktemp("kokoro-home"), "test"), cache=EngineCache())


@pytest.fixture(scope="module")
def voice(engines: Engines) -> Any:
    return engines.voice()


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_the_folder_is_loaded_through_kokoro_and_its_voices_are_found(voice: Any, kokoro_dir: Path) -> None:
    builder = load_builder("tiny_kokoro")
    assert voice.voices() == sorted(builder.VOICES)
    engine = voice.engine if hasattr(voice, "engine") else voice
    assert isinstance(engine, KokoroVoice)
    if importlib.util.find_spec("en_core_web_sm") is None:  # misaki can't load here: espeak-ng stands in
        assert engine.g2p == "espeak" and engine.model_id == "kokoro:kokoro (espeak-ng phonemes)"
    assert engine.memory_bytes > 50 << 20  # the decoder keeps Kokoro's widths: tens of millions of weights


def test_a_line_is_24khz_audio_that_grows_with_the_text(voice: Any) -> None:
    short = voice.speak(SHORT, VoiceSpec("af_tiny"), seed=0)
    long = voice.speak(LONG, VoiceSpec("af_tiny"), seed=0)
    assert short.sample_rate == long.sample_rate == 24000
    assert short.samples.dtype == np.float32 and short.samples.ndim == 1
    assert len(short.samples) % 600 == 0  # Kokoro's frames: 600 samples (25 ms at 24 kHz) each
    assert 0.1 < short.seconds < 2.0
    assert long.seconds > 3 * short.seconds
    assert _rms(long.samples) > 1e-3 and np.isfinite(long.samples).all()


def test_each_voice_sounds_different_and_each_take_repeats(voice: Any) -> None:
    takes = {name: voice.speak(SHORT, VoiceSpec(name), seed=0).samples for name in ("af_tiny", "am_tiny", "bf_tiny")}
    for a, b in (("af_tiny", "am_tiny"), ("af_tiny", "bf_tiny"), ("am_tiny", "bf_tiny")):
        n = min(len(takes[a]), len(takes[b]))
        assert _rms(takes[a][:n] - takes[b][:n]) > 0.2 * _rms(takes[a][:n]), (a, b)
    again = voice.speak(SHORT, VoiceSpec("af_tiny"), seed=0).samples
    assert np.array_equal(again, takes["af_tiny"])
    other_seed = voice.speak(SHORT, VoiceSpec("af_tiny"), seed=1).samples
    assert not np.array_equal(other_seed, takes["af_tiny"])


def test_rate_shortens_and_pitch_keeps_the_length(voice: Any) -> None:
    plain = voice.speak(MEDIUM, VoiceSpec("bm_tiny"), seed=0)
    fast = voice.speak(MEDIUM, VoiceSpec("bm_tiny", rate=2.0), seed=0)
    high = voice.speak(MEDIUM, VoiceSpec("bm_tiny", pitch=4.0), seed=0)
    assert 0.35 < fast.seconds / plain.seconds < 0.7
    assert 0.75 < high.seconds / plain.seconds < 1.25


def test_bad_input_and_unknown_voices_say_so(voice: Any) -> None:
    with pytest.raises(NothingToSay):
        voice.speak("?!…", VoiceSpec("af_tiny"), seed=0)
    with pytest.raises(EngineError, match="af_tiny, am_tiny, bf_tiny, bm_tiny"):
        voice.speak(SHORT, VoiceSpec("af_heart"), seed=0)


def test_a_folder_without_weights_or_voices_says_what_is_missing(tmp_path: Path, kokoro_dir: Path) -> None:
    (tmp_path / "voices").mkdir()
    with pytest.raises(EngineError, match="no voices"):
        KokoroVoice(str(tmp_path), g2p="espeak")
    with pytest.raises(EngineError, match=r"config\.json and a \.pth"):
        KokoroVoice(str(tmp_path), ["af_tiny"], g2p="espeak")
    with pytest.raises(EngineError, match="choose auto, misaki or espeak"):
        KokoroVoice(str(kokoro_dir), g2p="phonetic")


def test_misaki_alone_without_spacys_model_says_what_to_install(kokoro_dir: Path) -> None:
    if importlib.util.find_spec("en_core_web_sm") is not None:
        pytest.skip("spaCy's en_core_web_sm is installed here, so misaki's English G2P loads")
    with pytest.raises(EngineError, match="en_core_web_sm"):
        KokoroVoice(str(kokoro_dir), lang_code="a", g2p="misaki")
