"""Voices: which voice each character speaks in, and speaking one line as a take.

Stage 5 gives every speaking character a voice: the filmmaker picks one (with a preview), and
the rest get defaults so that no two speaking characters share a voice while the engine has
enough of them; after that they share a voice with a distinct pitch and rate. Choices live on
the character's asset in the registry, so branches and bundles carry them.

A spoken line is a take (text, voice, seed, model) with its wav as media. The parenthetical
sets the delivery ((whispering) softer and slower, (shouting) louder and quicker, (beat) a pause
before); O.S. is softer and muffled; V.O. is not lip-synced. A line with no words (empty, only
punctuation or emoji) becomes a silent beat that says so; a voice that fails leaves the earlier
audio where it was and says why.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiuteur.domain import (
    Asset,
    AssetCategory,
    AssetRegistry,
    LineAudio,
    Script,
    Stage,
    Take,
    VoiceChoice,
    content_hash,
)
from aiuteur.domain.names import asset_forms, is_called
from aiuteur.engines.base import EngineError
from aiuteur.engines.voice import NothingToSay, Speech, VoiceSpec, stretch, wav_bytes
from aiuteur.pipeline import timing
from aiuteur.pipeline.actions import PreviewVoice, SetVoice

log = logging.getLogger(__name__)

#: Pitch (semitones) and rate of the 2nd, 3rd … character sharing one voice: each pair is distinct.
VARIATIONS: tuple[tuple[float, float], ...] = (
    (0.0, 1.0), (-4.0, 0.94), (4.0, 1.06), (-7.0, 0.9), (7.0, 1.1), (-2.0, 1.12), (2.0, 0.88), (-10.0, 0.97),
    (10.0, 1.03), (-5.0, 1.16), (5.0, 0.84), (-8.0, 1.08), (8.0, 0.92),
)
SILENT_BEAT_S = 0.8  # a line with no words holds this long
PREVIEW_TEXT = "Hello. This is how I sound when I speak a line of this film."


# --- the engine, with fallbacks -----------------------------------------------------------------------


@dataclass
class VoiceEngineChoice:
    engine: Any | None  # a VoiceEngine, or None when none could be loaded
    note: str = ""  # why a fallback is speaking, or why there is no voice


def load_voice(engines: Any) -> VoiceEngineChoice:
    """The profile's voice engine, loaded now; else its fallbacks in order; else None, saying why."""
    get = getattr(engines, "voice", None)
    if get is None:  # an engine provider without voices (tests' fakes): the test voice
        from aiuteur.engines.voice import ToneVoice

        return VoiceEngineChoice(ToneVoice())
    engine = get("voice")
    try:
        engine.voices()
        return VoiceEngineChoice(engine)
    except EngineError as e:
        why = str(e)
    profile = getattr(engines, "profile", None)
    table = profile.tables.get("voice", {}) if profile is not None else {}
    fallbacks = table.get("fallback", [])
    for backend in [fallbacks] if isinstance(fallbacks, str) else list(fallbacks):
        try:
            fb = engines.cache.get("voice", {"backend": str(backend)}, engines.models_dir)
            fb.voices()
        except Exception as e:
            why += f" The {backend} voice could not stand in either: {e}"
            continue
        return VoiceEngineChoice(fb, f"The voice could not be loaded ({why}); lines are spoken by the "
                                     f"{backend} voice instead.")
    return VoiceEngineChoice(None, f"The voice could not be loaded: {why}")


# --- who sounds how ------------------------------------------------------------------------------------


def speaker_asset(cue: str, assets: Iterable[Asset]) -> Asset | None:
    """The character asset a dialogue cue names (name, alias or a word of the name, any case)."""
    people = [a for a in assets if a.category == AssetCategory.CHARACTER and not a.removed]
    return next((a for a in people if is_called(cue, asset_forms(a, people))), None)


def speakers(script: Script) -> list[str]:
    """Every speaking cue of the script, in order of first line."""
    seen: dict[str, None] = {}
    for scene in script.scenes:
        for cue in scene.characters:
            seen.setdefault(cue, None)
    return list(seen)


def _key(choice: VoiceChoice) -> tuple[str, float, float]:
    return (choice.voice, round(choice.pitch, 2), round(choice.rate, 3))


def _variations() -> list[tuple[float, float]]:
    """VARIATIONS, then every other whole-semitone pitch at five rates (nearest the voice's own first):
    enough distinct (pitch, rate) pairs that a cast of over a hundred never shares one voice."""
    more = [(float(p), r) for p in sorted(range(-12, 13), key=lambda p: (abs(p), p < 0))
            for r in (1.0, 0.93, 1.07, 0.86, 1.14)]
    return list(VARIATIONS) + [v for v in more if v not in VARIATIONS]


def assign_voices(keys: Sequence[str], voices: Sequence[str], given: dict[str, VoiceChoice],
                  hints: dict[str, VoiceChoice] | None = None) -> dict[str, VoiceChoice]:
    """A voice for every key: its given one, else its hint if nobody has that yet, else the first
    (voice, pitch, rate) nobody has yet.

    Voices are used plain first, one character each; only when every voice is taken does a
    voice come back with a distinct pitch and rate. `hints` are choices carried over from another
    engine (mapped onto this one's voices): kept where they stay distinct, replaced where two meet.
    """
    if not voices:
        raise EngineError("The voice engine offers no voices.")
    hints = hints or {}
    out: dict[str, VoiceChoice] = {}
    taken = {_key(c) for c in given.values()}
    candidates = [VoiceChoice(voice=v, pitch=p, rate=r) for p, r in _variations() for v in voices]
    for k in keys:
        if k in given:
            out[k] = given[k]
    for k in keys:  # carried-over choices next, before any default can take theirs
        hint = hints.get(k)
        if k not in out and hint is not None and _key(hint) not in taken:
            taken.add(_key(hint))
            out[k] = hint
    for k in keys:
        if k in out:
            continue
        pick = next((c for c in candidates if _key(c) not in taken), None)
        if pick is None:  # more characters than variations: reuse in order
            pick = candidates[len(out) % len(candidates)]
        taken.add(_key(pick))
        out[k] = pick
    return {k: out[k] for k in keys}


def cast_voices(script: Script, registry: AssetRegistry, voices: Sequence[str]) -> dict[str, VoiceChoice]:
    """Cue name -> voice for every speaking character of the script (registry choices first).

    A choice naming a voice this engine lacks (made on another profile) keeps its pitch and
    rate on a voice of this engine, unless another character already sounds exactly so there
    (two Kokoro voices meeting on Piper's one): then it gets the next distinct pitch and rate.
    """
    given: dict[str, VoiceChoice] = {}
    hints: dict[str, VoiceChoice] = {}
    keys: list[str] = []
    by_asset: dict[str, list[str]] = {}
    for cue in speakers(script):
        asset = speaker_asset(cue, registry.assets)
        key = asset.id if asset is not None else f"cue:{cue}"
        if key not in by_asset:
            keys.append(key)
        by_asset.setdefault(key, []).append(cue)
        if asset is not None and asset.voice is not None:
            choice = asset.voice
            if choice.voice in voices:
                given[key] = choice
            else:  # made on another profile: its pitch and rate on a voice of this engine, if still distinct
                hints[key] = choice.model_copy(update={"voice": voices[sum(map(ord, choice.voice)) % len(voices)]})
    assigned = assign_voices(keys, voices, given, hints)
    return {cue: assigned[key] for key, cues in by_asset.items() for cue in cues}


def with_default_voices(registry: AssetRegistry, script: Script, voices: Sequence[str]) -> AssetRegistry:
    """The registry with a default voice stored on every speaking character that has none."""
    cast = cast_voices(script, registry, voices)
    assets = []
    for a in registry.assets:
        if a.category == AssetCategory.CHARACTER and a.voice is None and not a.removed:
            cue = next((c for c in cast if speaker_asset(c, [a]) is not None), None)
            if cue is not None:
                a = a.model_copy(update={"voice": cast[cue]})
        assets.append(a)
    return registry.model_copy(update={"assets": assets})


def set_voice(registry: AssetRegistry, asset_id: str, voice: str, pitch: float = 0.0, rate: float = 1.0,
              *, voices: Sequence[str] = ()) -> AssetRegistry:
    """Store the filmmaker's voice choice on one character (InputError in one sentence when it is wrong)."""
    from aiuteur.domain import InputError

    try:
        asset = registry.get(asset_id)
    except KeyError:
        raise InputError("That asset is no longer in the registry; reload and try again.") from None
    if asset.category != AssetCategory.CHARACTER:
        raise InputError(f"{asset.name} is a {asset.category.value}; only characters have a voice.")
    if voices and voice not in voices:
        raise InputError(f"There is no voice called {voice!r}; choose one of: {', '.join(voices)}.")
    try:
        choice = VoiceChoice(voice=voice, pitch=pitch, rate=rate, chosen=True)
    except ValueError:
        raise InputError(f"Pitch {pitch} or rate {rate} is out of range (pitch -12 to 12 semitones, rate 0.5 to 2)."
                         ) from None
    return registry.model_copy(update={"assets": [asset.model_copy(update={"voice": choice}) if a.id == asset_id
                                                  else a for a in registry.assets]})


# --- delivery ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How a line is spoken: loudness, a rate factor, a pause before, muffled (off screen), lip-synced."""

    volume: float = 0.8
    rate: float = 1.0
    pause_s: float = 0.0
    muffled: bool = False
    lip_sync: bool = True


_DELIVERY: tuple[tuple[str, dict[str, float]], ...] = (
    (r"whisper|under (his|her|their) breath|hushed", {"volume": 0.4, "rate": 0.92}),
    (r"shout|yell|scream|bellow|roar", {"volume": 1.0, "rate": 1.08}),
    (r"quiet|soft|mutter|murmur|mumbl", {"volume": 0.55}),
    (r"slow|drawl|hesitant", {"rate": 0.85}),
    (r"quick|fast|rapid|hurried|blurt", {"rate": 1.15}),
    (r"\bbeat\b|\bpause\b|a moment", {"pause_s": 0.5}),
)


def delivery(parenthetical: str, extension: str | None) -> Delivery:
    """The delivery a parenthetical and a cue extension ask for."""
    got: dict[str, Any] = {}
    text = parenthetical.lower()
    for pattern, change in _DELIVERY:
        if re.search(pattern, text):
            got.update(change)
    ext = (extension or "").upper().replace(" ", "")
    if "O.S" in ext or "O.C" in ext or "OFF" in ext:
        got.setdefault("volume", 0.65)
        got.update(muffled=True, lip_sync=False)
    if "V.O" in ext or "VOICEOVER" in ext:
        got["lip_sync"] = False
    return Delivery(**got)


def _muffle(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """A simple low-pass (one pole at ~1.2 kHz): speech heard through a wall."""
    a = float(np.exp(-2 * np.pi * 1200 / sample_rate))
    out = np.empty_like(samples)
    y = 0.0
    for i, x in enumerate(samples):  # short lines only; a few thousand samples a second
        y = (1 - a) * float(x) + a * y
        out[i] = y
    return out


# --- speaking a line ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    """One piece of dialogue to speak: where it is, who says it and how."""

    dialogue: int
    part: int
    parts: int
    character: str
    text: str
    parenthetical: str = ""
    extension: str | None = None


def line_inputs(req: LineRequest, choice: VoiceChoice, model_id: str, seed: int) -> dict[str, Any]:
    return {"text": req.text, "voice": choice.model_dump(mode="json", exclude={"chosen"}), "model": model_id,
            "seed": seed, "paren": req.parenthetical, "ext": req.extension or ""}


def speak_line(req: LineRequest, choice: VoiceChoice, engine: Any, *, seed: int, stage: Stage, scene_id: str,
               put_media: Callable[[bytes, str], str], max_seconds: float | None = None) -> tuple[Take, LineAudio]:
    """Speak one line (part) as a take; the LineAudio says what it is and how long it lasts.

    Never raises for bad text or a failing voice: a line with no words is a silent beat with a
    note, and a failure is a failed take (the caller keeps the earlier audio).
    """
    how = delivery(req.parenthetical, req.extension)
    model_id = str(getattr(engine, "model_id", ""))
    inputs = line_inputs(req, choice, model_id, seed)
    target = f"line:{req.dialogue}.{req.part}"
    base = LineAudio(dialogue=req.dialogue, part=req.part, parts=req.parts, character=req.character, text=req.text,
                     voice=choice, seed=seed, model_id=model_id, lip_sync=how.lip_sync,
                     delivery=req.parenthetical)
    who = f"{req.character}'s line {req.dialogue + 1}"
    t0 = time.perf_counter()
    rate = max(0.5, min(2.0, choice.rate * how.rate))
    try:
        speech: Speech = engine.speak(req.text, VoiceSpec(choice.voice, choice.pitch, rate), seed=seed)
    except NothingToSay as e:
        note = f"{who} has no words to speak ({e}); it is a silent beat of {SILENT_BEAT_S:g} s."
        take = Take(stage=stage, scene_id=scene_id, target=target, purpose="line", inputs_hash=content_hash(inputs),
                    engine="code", model_id=model_id, seed=seed, output={"seconds": SILENT_BEAT_S, "note": note})
        return take, base.model_copy(update={"seconds": SILENT_BEAT_S, "take": take.id, "note": note})
    except Exception as e:
        take = Take(stage=stage, scene_id=scene_id, target=target, purpose="line", inputs_hash=content_hash(inputs),
                    engine=str(getattr(engine, "backend", "voice")), model_id=model_id, seed=seed, ok=False,
                    seconds=round(time.perf_counter() - t0, 3), error=f"{who} could not be spoken: {e}")
        return take, base
    samples = speech.samples * how.volume / max(1e-6, float(np.abs(speech.samples).max(initial=0.0)) or 1.0)
    if how.muffled:
        samples = _muffle(samples, speech.sample_rate)
    note = ""
    if max_seconds is not None and len(samples) / speech.sample_rate + how.pause_s > max_seconds:
        tempo = (len(samples) / speech.sample_rate) / max(0.5, max_seconds - how.pause_s)
        samples = stretch(samples, speech.sample_rate, tempo)
        note = f"{who} runs long for one shot, so it is spoken {tempo:.2f}× faster to fit {max_seconds:g} s."
    if how.pause_s:
        samples = np.concatenate([np.zeros(round(how.pause_s * speech.sample_rate), np.float32), samples])
    spoken = Speech(samples.astype(np.float32), speech.sample_rate)
    key = put_media(wav_bytes(spoken), "wav")
    seconds = round(spoken.seconds, 3)
    take = Take(stage=stage, scene_id=scene_id, target=target, purpose="line", inputs_hash=content_hash(inputs),
                engine=str(getattr(engine, "backend", "voice")), model_id=model_id, seed=seed,
                seconds=round(time.perf_counter() - t0, 3), media=[key],
                output={"audio": key, "seconds": seconds, "text": req.text, "voice": choice.voice, "note": note})
    return take, base.model_copy(update={"audio": key, "seconds": seconds, "take": take.id, "note": note,
                                         "took_s": take.seconds})


# --- stage 7: speak the scene's lines and time its shots ---------------------------------------------------


@dataclass
class TimedShots:
    shots: Any  # ShotList
    takes: list[Take]
    notes: list[str]


def _same_line(prev: LineAudio | None, req: LineRequest, choice: VoiceChoice, model_id: str) -> bool:
    if prev is None or prev.take is None or prev.voice is None:
        return False
    same_voice = _key(prev.voice) == _key(choice)
    return (prev.text == req.text and same_voice and prev.model_id == model_id and prev.delivery == req.parenthetical
            and (prev.audio is not None or bool(prev.note)))


def time_shots(shots: Any, scene: Any, script: Script, registry: AssetRegistry | None, engines: Any, *, seed: int,
               put_media: Callable[[bytes, str], str], previous: Any | None = None,
               report: Callable[[float, str], None] | None = None, stage: Stage = Stage.SHOTS,
               only: str | None = None) -> TimedShots:
    """Speak every line part of the scene in its character's voice and fit the shots to them.

    Lines whose text, voice, delivery and model are unchanged keep their earlier audio (no new
    take); `only` ('<line>.<part>') speaks that one again with a new seed. A shot whose lines run
    past 8 s is cut at a line boundary; every shot with lines lasts its lines plus the pad.
    Never loses earlier audio: when the voice fails, lines keep what they had and the note says why.
    """
    from aiuteur.domain import ShotList
    from aiuteur.pipeline.shot_list import scene_units, split_shot

    units = scene_units(scene)
    old = {(ln.dialogue, ln.part): ln for ln in (previous.lines if previous is not None else [])}
    chosen = load_voice(engines)
    notes = [chosen.note] if chosen.note else []
    takes: list[Take] = []
    lines: list[LineAudio] = []
    engine = chosen.engine
    cast = cast_voices(script, registry or AssetRegistry(), engine.voices()) if engine is not None else {}
    model_id = str(getattr(engine, "model_id", "")) if engine is not None else ""
    failed = engine is None
    dialogue_units = [u for u in units if u.kind == "dialogue" and u.dialogue_index is not None]
    for n, u in enumerate(dialogue_units):
        assert u.dialogue_index is not None
        key = (u.dialogue_index, u.part)
        req = LineRequest(u.dialogue_index, u.part, u.parts, u.character or "", u.text, u.parenthetical, u.extension)
        prev = old.get(key)
        voice = cast.get(u.character or "") if not failed else None
        if voice is not None and (only is None or only != f"{key[0]}.{key[1]}") and _same_line(prev, req, voice,
                                                                                                model_id):
            assert prev is not None
            lines.append(prev)
            continue
        if failed or voice is None:
            lines.append(_kept(prev, req))
            continue
        if report is not None:
            report(n / max(1, len(dialogue_units)), f"speaking {req.character}'s line {req.dialogue + 1}")
        line_seed = seed + 1000 * u.dialogue_index + u.part
        take, line = speak_line(req, voice, engine, seed=line_seed, stage=stage, scene_id=scene.id,
                                put_media=put_media, max_seconds=timing.MAX_SHOT_S - timing.PAD_S)
        takes.append(take)
        if not take.ok:
            failed = True
            notes.append(take.error + " Lines keep their earlier audio; shots are timed from word counts where "
                         "a line has none.")
            lines.append(_kept(prev, req))
            continue
        if line.note:
            notes.append(line.note)
        lines.append(line)
    out = ShotList.model_validate(shots.model_dump() | {"lines": [ln.model_dump() for ln in lines],
                                                        "voice_model": model_id or (previous.voice_model
                                                                                    if previous else "")})
    # A shot whose lines run past 8 s is cut at a line boundary (no word moves, no line is lost).
    for _ in range(len(units) + 1):
        cut = next(((s, timing.cut_points(s, units, lines)) for s in out.shots
                    if timing.cut_points(s, units, lines)), None)
        if cut is None:
            break
        shot, points = cut
        out = split_shot(out, scene, shot.id, at=points[0])
    fitted = [timing.fit_duration(s, units, lines) for s in out.shots]
    return TimedShots(out.model_copy(update={"shots": fitted, "voice_note": " ".join(dict.fromkeys(notes))}),
                      takes, notes)


def _kept(prev: LineAudio | None, req: LineRequest) -> LineAudio:
    """The earlier audio of a line when its text is the same, else a line timed from its words (silent)."""
    if prev is not None and prev.text == req.text:
        return prev
    return LineAudio(dialogue=req.dialogue, part=req.part, parts=req.parts, character=req.character, text=req.text,
                     seconds=timing.estimate_seconds(req.text), delivery=req.parenthetical,
                     lip_sync=delivery(req.parenthetical, req.extension).lip_sync,
                     note="Not spoken yet: timed from its words.")


# --- stage 5: choosing and hearing a voice -----------------------------------------------------------------


def first_line(script: Script, asset: Asset) -> str:
    """The character's first line in the script (a preview speaks it), or a stock sentence."""
    for scene in script.scenes:
        for e in scene.dialogue:
            if e.character and speaker_asset(e.character, [asset]) is not None and any(ch.isalnum() for ch in e.text):
                return e.text if len(e.text) <= 300 else e.text[:300].rsplit(" ", 1)[0]
    return PREVIEW_TEXT


def run_voice_action(ctx: Any, current: Any, action: SetVoice | PreviewVoice) -> Any:
    """Stage 5 actions SetVoice (store voice/pitch/rate) and PreviewVoice (a wav take)."""
    from aiuteur.domain import InputError, StyleAndAssets
    from aiuteur.pipeline.stage import StageOutcome

    asset_id = action.asset_id

    bundle: StyleAndAssets = current
    chosen = load_voice(ctx.engines)
    if chosen.engine is None:
        raise InputError(chosen.note)
    names = chosen.engine.voices()
    try:
        asset = bundle.registry.get(asset_id)
    except KeyError:
        raise InputError("That asset is no longer in the registry; reload and try again.") from None
    script = ctx.inputs.script or Script()
    default = cast_voices(script, bundle.registry, names)
    cue = next((c for c in default if speaker_asset(c, [asset]) is not None), None)
    base = asset.voice or (default[cue] if cue else VoiceChoice(voice=names[0]))
    voice = action.voice or base.voice
    pitch = base.pitch if action.pitch is None else action.pitch
    rate = base.rate if action.rate is None else action.rate
    if isinstance(action, SetVoice):
        # Store everyone's defaults first, so choosing one voice never moves another character's.
        registry = set_voice(with_default_voices(bundle.registry, script, names), asset_id, voice, pitch, rate,
                             voices=names)
        take = Take(stage=Stage.ASSETS, target=f"voice:{asset_id}", purpose="voice", engine="user",
                    inputs_hash=content_hash({"asset": asset_id, "voice": voice, "pitch": pitch, "rate": rate}),
                    output={"asset_id": asset_id, "voice": voice, "pitch": pitch, "rate": rate})
        return StageOutcome(takes=[take], artifact=bundle.model_copy(update={"registry": registry}))
    if voice not in names:
        raise InputError(f"There is no voice called {voice!r}; choose one of: {', '.join(names)}.")
    try:
        choice = VoiceChoice(voice=voice, pitch=pitch, rate=rate)
    except ValueError:
        raise InputError(f"Pitch {pitch} or rate {rate} is out of range (pitch -12 to 12, rate 0.5 to 2).") from None
    text = action.text or first_line(script, asset)
    req = LineRequest(dialogue=0, part=0, parts=1, character=asset.name, text=text)
    take, _ = speak_line(req, choice, chosen.engine, seed=ctx.seed, stage=Stage.ASSETS, scene_id="",
                         put_media=ctx.put_media)
    take = take.model_copy(update={"target": f"voice_preview:{asset_id}", "scene_id": None,
                                   "purpose": "voice_preview",
                                   "output": {**(take.output or {}), "voices": names, "voice": voice, "pitch": pitch,
                                              "rate": rate, "text": text}})
    return StageOutcome(takes=[take])


__all__ = [
    "PREVIEW_TEXT",
    "Delivery",
    "LineRequest",
    "TimedShots",
    "VoiceEngineChoice",
    "assign_voices",
    "cast_voices",
    "delivery",
    "first_line",
    "line_inputs",
    "load_voice",
    "run_voice_action",
    "set_voice",
    "speak_line",
    "speaker_asset",
    "speakers",
    "time_shots",
    "with_default_voices",
]
