"""Stage 5's character descriptions, made again by today's code from the registries saved in eval runs.

A saved run keeps each character's description as the model of its day wrote it. This applies
`story_look.described` (the story's own words for each character's look first, the model's words
only where they do not contradict them) to each saved registry with the story's text, and
measures `metrics.described` before and after: how many labelled characters' descriptions use a
word the story says of their look.

    python -m aiuteur.evals.described evals/runs/*.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aiuteur.domain import Asset
from aiuteur.evals import metrics
from aiuteur.evals.corpus import CORPUS_DIR, load_corpus
from aiuteur.pipeline.story_look import described

Data = dict[str, Any]


def redescribe(assets: Data | None, story: str) -> Data | None:
    """A saved stage-5 artifact (StyleAndAssets as JSON) with its descriptions made by today's code."""
    registry = (assets or {}).get("registry")
    if not registry or not registry.get("assets"):
        return assets
    now = described([Asset.model_validate(a) for a in registry["assets"]], story)
    return {**(assets or {}), "registry": {**registry, "assets": [a.model_dump(mode="json") for a in now]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiuteur.evals.described", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="saved eval results (evals/runs/*.json)")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    parser.add_argument("--show", action="store_true", help="print each character's description after")
    args = parser.parse_args(argv)
    corpus = {s.slug: s for s in load_corpus(args.corpus)}
    totals = [0, 0, 0]
    for path in args.runs:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for row in doc.get("stories") or []:
            story = corpus.get(row.get("slug", ""))
            assets = (row.get("artifacts") or {}).get("assets")
            if story is None or not assets:
                continue
            before = metrics.described(story.labels, assets)
            after = metrics.described(story.labels, redescribe(assets, story.text))
            totals = [totals[0] + before["described"], totals[1] + after["described"], totals[2] + after["labelled"]]
            print(f"{path.name} {story.slug}: described {before['described']}/{before['labelled']} -> "
                  f"{after['described']}/{after['labelled']}; missing after: {', '.join(after['missing']) or '-'}")
            if args.show:
                for r in after["characters"]:
                    print(f"    {r['character']}: {r['description']}")
    print(f"all: described {totals[0]}/{totals[2]} -> {totals[1]}/{totals[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
