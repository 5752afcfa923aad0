"""Screenplay PDF export: embedded fonts (Courier Prime + fallbacks) against the built-in Courier.

    python bench/screenplay_pdf.py [--scenes 200] [--repeat 3]

The same screenplays are rendered by `render_pdf` with the fonts this machine has and with none
(the built-in Courier the PDF used before, where everything beyond Latin-1 printed "?"),
alternating, each the median CPU time of `--repeat` runs in this process. Three scripts: English,
the same with Cyrillic and Greek dialogue, and the same with Japanese dialogue (the CJK font, 5 MB,
is parsed for every document that uses it). The machine is shared: read the ratio column.
Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiuteur.screenplay import fonts, import_screenplay
from aiuteur.screenplay.pdf import render_pdf
from bench.screenplay import fountain

_LINES = {
    "English": None,
    "Cyrillic and Greek": "Садись, Έρχεται καταιγίδα.",
    "Japanese": "明日、灯台へ行きます。雨が降っている。",
}


def _cpu(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    found = fonts.faces()
    print(f"fonts: {', '.join(f.name for f in found) or 'none'}")
    print("| script | scenes | pages | embedded fonts s | built-in Courier s | ratio | characters missing (fonts / built-in) |")
    print("|---|---|---|---|---|---|---|")
    base = fountain(args.scenes).decode()
    for label, line in _LINES.items():
        text = base if line is None else base.replace("They're late again. Every night this week.", line)
        script = import_screenplay(text.encode(), "bench.fountain", max_scenes=args.scenes + 10)
        embedded = _cpu(lambda s=script: render_pdf(s), args.repeat)
        pdf, missing = render_pdf(script)
        original = fonts.faces
        fonts.faces = lambda: ()  # type: ignore[assignment]  # as if none were installed
        try:
            builtin = _cpu(lambda s=script: render_pdf(s), args.repeat)
            _, lost = render_pdf(script)
        finally:
            fonts.faces = original  # type: ignore[assignment]
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        print(f"| {label} | {len(script.scenes)} | {pages} | {embedded:.2f} | {builtin:.2f} | "
              f"{embedded / builtin:.1f} | {len(missing)} / {len(lost)} |")


if __name__ == "__main__":
    main()
