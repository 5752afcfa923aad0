"""Stage 3's mending of the model's beat sheet, applied again to the beat sheets saved in eval runs.

Runs today's code (`beats.without_retold_beats`, then `beats.placed_by_story` with the corpus story)
over each saved beat sheet, in the order a run does, and prints per story what it changes (beats
dropped, places changed) and what the loop metrics say before and after: `metrics.beat_spread`
(beats, distinct passages, thirds covered) and how many labelled places the beats are set at.

    python -m aiuteur.evals.beat_mending evals/runs/*.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aiuteur.domain import BeatSheet
from aiuteur.evals import metrics
from aiuteur.evals.corpus import CORPUS_DIR, StoryLabels, load_corpus
from aiuteur.pipeline.beats import placed_by_story, without_retold_beats

Data = dict[str, Any]


def prose_of(treatment: Data | None) -> str:
    """The chosen treatment variant's prose ('' when none)."""
    variants = (treatment or {}).get("variants") or []
    chosen = int((treatment or {}).get("chosen") or 0)
    return str(variants[chosen].get("prose") or "") if 0 <= chosen < len(variants) else ""


def remend(beats: Data, prose: str, story: str) -> tuple[BeatSheet, list[str], list[str]]:
    """The saved beat sheet as today's code leaves it, with the beats dropped and the places changed."""
    sheet = BeatSheet.model_validate(beats)
    kept, dropped = without_retold_beats(list(sheet.beats), prose)
    placed, moved = placed_by_story(kept, story)
    return BeatSheet(beats=placed), dropped, moved


def places_set(labels: StoryLabels, sheet: Data) -> int:
    """How many labelled places some beat is set at."""
    places = [str(b.get("place") or "") for b in sheet.get("beats") or []]
    return sum(1 for p in labels.places if any(metrics.mentions(x, p.names) for x in places))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    corpus = {c.slug: c for c in load_corpus(CORPUS_DIR)}
    totals = {"stories": 0, "dropped": 0, "moved": 0}
    for path in args.runs:
        for row in json.loads(path.read_text(encoding="utf-8")).get("stories") or []:
            artifacts = row.get("artifacts") or {}
            saved = artifacts.get("beats")
            if not saved or not saved.get("beats"):
                continue
            c = corpus.get(str(row.get("slug")))
            treatment = artifacts.get("treatment")
            mended, dropped, moved = remend(saved, prose_of(treatment), c.text if c else "")
            now = mended.model_dump(mode="json")
            was, after = metrics.beat_spread(treatment, saved), metrics.beat_spread(treatment, now)
            at = f", places set {places_set(c.labels, saved)}->{places_set(c.labels, now)} of {len(c.labels.places)}" if c else ""
            totals["stories"] += 1
            totals["dropped"] += len(dropped)
            totals["moved"] += len(moved)
            print(f"{path.name} {row.get('slug')}: dropped {len(dropped)}, places changed {len(moved)}; beats "
                  f"{was['beats']}->{after['beats']}, distinct passages {was['distinct_passages']}->"
                  f"{after['distinct_passages']}, thirds {was['thirds_covered']}->{after['thirds_covered']}{at}")
            for line in dropped:
                print(f"    dropped {line}")
            for line in moved:
                print(f"    set {line}")
    print(f"all: {totals['stories']} beat sheets, {totals['dropped']} beats dropped, {totals['moved']} places changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
