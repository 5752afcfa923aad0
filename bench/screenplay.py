"""Screenplay import benchmark: time and peak memory by size, to show import is linear.

    python bench/screenplay.py [--scenes 200 2000 8000 32000] [--pdf-pages 2000] [--repeat 3]

Each size is a generated screenplay of scenes like a real one (heading, action, a few speeches
with parentheticals and extensions, a dual-dialogue pair, a transition, a note and a lyric every
few scenes), imported through `import_screenplay` (the path the UI, the client API and the CLI
take) with the scene and page caps raised so that sizes beyond them can be timed. Then the
refusals: the same files under the default caps, and a PDF whose page tree claims 100,000
pages. CPU seconds (process time) are reported; the machine is shared, so read the "per 1k
scenes" column as the ratio that matters. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiuteur.screenplay import ScreenplayError, import_screenplay, to_fdx, to_pdf

_SCENE = """\
{n} INT. ROOM {i} - {time} [LATER]

Ada crosses to the window and looks out over the harbour, where the boats are coming in.

ADA
(quietly)
They're late again. Every night this week.

BOB (O.S.)
You counted?

ADA (CONT'D)
Someone has to.

{extra}

"""
_EXTRAS = [
    "CUT TO:",
    "BRICK ^\nLeft!\n\nSTEEL ^\nRight!",
    "[[check the boats]] The lamp flickers.\n\n~Row, row, row the boat",
    "> INTERMISSION <",
]


def fountain(scenes: int) -> bytes:
    parts = ["Title: Bench Harbour\nCredit: written by\nAuthor: Aiuteur bench\n\nFADE IN:\n\n"]
    for i in range(scenes):
        time_of_day = ("DAY", "NIGHT", "DUSK")[i % 3]
        parts.append(_SCENE.format(n="", i=i, time=time_of_day, extra=_EXTRAS[i % len(_EXTRAS)]).lstrip())
    return "".join(parts).encode()


def measure(data: bytes, name: str, repeat: int, **caps: int) -> tuple[float, float, int]:
    """(median CPU seconds over `repeat` runs, peak RSS MiB of the process, scenes), each size in
    a fresh Python process so that peaks do not carry over from one size to the next."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(path), "--repeat", str(repeat), "--caps", json.dumps(caps)],
            check=True, capture_output=True, text=True,
        ).stdout
    seconds, peak, scenes = json.loads(out)
    return seconds, peak, scenes


def _one(path: Path, repeat: int, caps: dict[str, int]) -> None:
    data = path.read_bytes()
    times = []
    scenes = 0
    for _ in range(repeat):
        t = time.process_time()
        scenes = len(import_screenplay(data, path.name, **caps).scenes)
        times.append(time.process_time() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps([statistics.median(times), peak, scenes]))


def refusal(data: bytes, name: str) -> tuple[float, str]:
    t = time.process_time()
    try:
        import_screenplay(data, name)
    except ScreenplayError as exc:
        return time.process_time() - t, str(exc)
    return time.process_time() - t, "accepted"


def lying_pdf(pages: int) -> bytes:
    """A small PDF whose page tree says it has `pages` pages, all pointing at one page."""
    kids = " ".join("3 0 R" for _ in range(pages))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, nargs="+", default=[200, 2000, 8000, 32000])
    parser.add_argument("--pdf-pages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--caps", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.repeat, json.loads(args.caps))
        return
    unlimited = {"max_bytes": 1 << 31, "max_scenes": 10**7, "max_pdf_pages": 10**7}

    print("| input | size | scenes | CPU s (median) | per 1k scenes | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for n in args.scenes:
        data = fountain(n)
        seconds, peak, scenes = measure(data, "bench.fountain", args.repeat if n <= 8000 else 1, **unlimited)
        print(f"| Fountain | {len(data) / 1e6:.1f} MB | {scenes:,} | {seconds:.2f} | "
              f"{seconds / scenes * 1000:.3f} | {peak:.0f} |")
    base = import_screenplay(fountain(200), "base.fountain")
    fdx = to_fdx(base)
    seconds, peak, scenes = measure(fdx, "bench.fdx", args.repeat, **unlimited)
    print(f"| FDX | {len(fdx) / 1e6:.1f} MB | {scenes:,} | {seconds:.2f} | {seconds / scenes * 1000:.3f} | {peak:.0f} |")
    pdf = to_pdf(base)
    seconds, peak, scenes = measure(pdf, "bench.pdf", args.repeat, **unlimited)
    print(f"| PDF | {len(pdf) / 1e6:.1f} MB | {scenes:,} | {seconds:.2f} | {seconds / scenes * 1000:.3f} | {peak:.0f} |")

    # A PDF of about --pdf-pages pages (the 200-scene script is ~{pages} pages; repeat it).
    per = max(1, len(__import__("pypdf").PdfReader(__import__("io").BytesIO(pdf)).pages))
    big = import_screenplay(fountain(max(1, 200 * args.pdf_pages // per)), "big.fountain", **unlimited)
    big_pdf = to_pdf(big)
    pages = len(__import__("pypdf").PdfReader(__import__("io").BytesIO(big_pdf)).pages)
    seconds, peak, scenes = measure(big_pdf, "big.pdf", 1, **unlimited)
    print(f"| PDF | {pages:,} pages, {len(big_pdf) / 1e6:.1f} MB | {scenes:,} | {seconds:.2f} | "
          f"{seconds / scenes * 1000:.3f} | {peak:.0f} |")

    print()
    print("| refused input | CPU s | message |")
    print("|---|---|---|")
    for what, data, name in (
        ("32,000-scene Fountain", fountain(32000), "huge.fountain"),
        (f"{pages:,}-page PDF", big_pdf, "big.pdf"),
        ("PDF claiming 100,000 pages", lying_pdf(100_000), "lying.pdf"),
        ("21 MB text", b"INT. A - DAY\n\n" + b"x" * (21 * 1024 * 1024), "big.txt"),
    ):
        seconds, message = refusal(data, name)
        print(f"| {what} | {seconds:.2f} | {message} |")


if __name__ == "__main__":
    main()
