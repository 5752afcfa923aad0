"""Drive a whole Aiuteur project to its animatic through the client API.

    python examples/client.py --url http://127.0.0.1:7860 --script film.fountain
    python examples/client.py --url http://127.0.0.1:7860 --story idea.md [--out DIR]

Prints one JSON line, {"project": ID, "animatic": PATH}, with the animatic downloaded to a local
path (for a film of several scenes, "animatic" is the first scene's and "animatics" lists them
all, in script order). Progress goes to stderr with --verbose. An error prints one line on
stderr and exits non-zero. Needs only `pip install gradio_client`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

LAST_STAGE = "video"


def drive(url: str, *, story: Path | None, script: Path | None, out: Path, seed: int = 0,
          verbose: bool = False) -> dict[str, Any]:
    """Create a project from a story or a screenplay, run it to the animatic and download it."""
    from gradio_client import Client, handle_file

    def say(what: str) -> None:
        if verbose:
            print(what, file=sys.stderr, flush=True)

    client = Client(url, verbose=False)
    # 1. The input: a screenplay is imported (skip to script); a story is saved as the idea.
    if script is not None:
        summary = client.predict("", handle_file(str(script)), api_name="/import_script")
        pid = str(summary["project"])
        say(f"imported {len(summary['scenes'])} scene(s) into {pid}")
    else:
        assert story is not None
        text = story.read_text(encoding="utf-8")
        title = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), story.stem)[:80]
        pid = str(client.predict(title, api_name="/create_project"))
        client.predict(pid, text, "", 0, api_name="/set_story")  # 0: the input revision it replaces (none yet)
        say(f"created {pid}")
    # 2. Every stage with default choices, up to the video (stage 12), which makes the animatic.
    result = client.predict(pid, LAST_STAGE, seed, api_name="/run_until")
    say(json.dumps(result["stages"]))
    if "stopped" in result:
        raise RuntimeError(f"the run stopped at {result['stopped']['stage']}: {result['stopped']['why']}")
    # 3. The animatic of each scene: the client downloads the files; keep them under `out`.
    files = client.predict(pid, "", api_name="/animatics")
    out.mkdir(parents=True, exist_ok=True)
    kept = []
    for i, f in enumerate(files if isinstance(files, list) else [files], start=1):
        src = Path(f if isinstance(f, str) else f["path"])
        dest = out / f"{pid}_scene{i:02d}_animatic{src.suffix or '.mp4'}"
        shutil.copyfile(src, dest)
        kept.append(str(dest.resolve()))
    if not kept:
        raise RuntimeError("the project has no animatic")
    line: dict[str, Any] = {"project": pid, "animatic": kept[0]}
    if len(kept) > 1:
        line["animatics"] = kept
    return line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Drive an Aiuteur project to its animatic through gradio_client.")
    p.add_argument("--url", required=True, help="the app, e.g. http://127.0.0.1:7860")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--story", type=Path, metavar="FILE", help="an idea or story (.txt, .md)")
    src.add_argument("--script", type=Path, metavar="FILE", help="a screenplay (.fountain, .fdx, .pdf, .txt)")
    p.add_argument("--out", type=Path, default=Path("."), help="where to keep the animatic (default: here)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="progress on stderr")
    args = p.parse_args(argv)
    given = args.story or args.script
    if not given.is_file():
        print(f"error: {given}: no such file", file=sys.stderr)
        return 2
    try:
        line = drive(args.url, story=args.story, script=args.script, out=args.out, seed=args.seed,
                     verbose=args.verbose)
    except Exception as e:  # one line for the user, never a traceback
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 1
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
