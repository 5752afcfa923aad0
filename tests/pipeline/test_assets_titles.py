"""Stage 5: one person is one asset whatever title their name carries ("Master Ozias Fell" and
"Ozias Fell"; "Nana Ruth Okonedo", "Ruth Okonedo" and "Nana"), named by the fullest form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiuteur.domain import Asset, AssetCategory, Stage
from aiuteur.pipeline.actions import Extract
from aiuteur.pipeline.assets import Candidate, merge_candidates
from aiuteur.pipeline.runner import Runner
from aiuteur.screenplay import parse_fountain
from tests.fakes import FakeEngines
from tests.pipeline.assets_fixtures import (
    FakeImage,
    FakeMatting,
    FakeVision,
    ResponderText,
    project_with_script,
    saved_assets,
)

REPO = Path(__file__).resolve().parents[2]

SHOP = """Title: Maps

INT. MAP SHOP - DAY

Master Ozias Fell bends over a map by the window.

WREN
I will fix it.

EXT. RIVER SALLOW - DAY

Ozias Fell watches from the bank as Wren walks the river.

WREN
Source to sea.

INT. UPSTAIRS FLAT - KITCHEN - NIGHT

Nana Ruth Okonedo ices the top tier of the cake.

NANA RUTH OKONEDO
Not a crumb on it.

INT. UPSTAIRS FLAT - LANDING - NIGHT

RUTH OKONEDO
Mind the stairs.

NANA
Slowly now.

MR. HOYLE
Tickets, please.
"""

FOUND = {
    "1": {"assets": [{"name": "Master Ozias Fell", "category": "character", "description": "An old mapmaker.",
                      "scenes": ["1"]}], "changes": []},
    "2": {"assets": [{"name": "Ozias Fell", "category": "character", "description": "", "scenes": ["2"]}],
          "changes": []},
    "3": {"assets": [{"name": "Ruth Okonedo", "category": "character", "description": "A grandmother in an apron.",
                      "scenes": ["3"]}], "changes": []},
    "4": {"assets": [{"name": "Mr. Fenwick Hoyle", "category": "character", "description": "A cloakroom attendant.",
                      "scenes": ["4"]}], "changes": []},
}


@pytest.fixture
def engines() -> FakeEngines:  # overrides conftest's
    return FakeEngines(text=ResponderText(FOUND), image=FakeImage(), matting=FakeMatting(), vision=FakeVision())


def test_a_name_with_and_without_its_title_is_one_asset_named_in_full(runner: Runner, engines: FakeEngines) -> None:
    script = parse_fountain(SHOP)
    pid = project_with_script(runner, script)
    result = runner.run(pid, Stage.ASSETS, action=Extract(references=False))
    assert result.ok, result.errors
    people = [a for a in saved_assets(runner, pid).registry.assets if a.category == AssetCategory.CHARACTER]
    assert sorted(a.name for a in people) == ["Master Ozias Fell", "Mr. Fenwick Hoyle", "Nana Ruth Okonedo", "Wren"]
    ids = [s.id for s in script.scenes]
    ozias = next(a for a in people if a.name == "Master Ozias Fell")
    assert "Ozias Fell" in ozias.aliases and ozias.scenes == ids[:2]
    nana = next(a for a in people if a.name == "Nana Ruth Okonedo")
    assert {"RUTH OKONEDO", "NANA"} <= set(nana.aliases) and nana.scenes == ids[2:]
    hoyle = next(a for a in people if a.name == "Mr. Fenwick Hoyle")
    assert "MR. HOYLE" in hoyle.aliases and hoyle.scenes == ids[3:]


def _merged_again(run: str, slug: str) -> tuple[list[Asset], int]:
    """The saved registry's characters as findings merged by today's code, and how many it had."""
    stories = json.loads((REPO / "evals/runs" / run).read_text(encoding="utf-8"))["stories"]
    saved = [a for a in next(s for s in stories if s["slug"] == slug)["artifacts"]["assets"]["registry"]["assets"]
             if a["category"] == "character"]
    found = [Candidate(AssetCategory.CHARACTER, surfaces={n: list(a["scenes"]) for n in [a["name"], *a["aliases"]]})
             for a in saved]
    return merge_candidates([], found, offer=False), len(saved)


def test_the_saved_real_registries_merged_again_have_one_asset_a_person() -> None:
    """The real run at 7cba731 registered "Master Ozias Fell" (4 scenes) and "Ozias Fell" (1) as
    two people, and the tuba replay at 073d46b "Hoyle" and "Mr. Fenwick Hoyle"; today's merging
    folds the same findings into one, named in full."""
    people, was = _merged_again("offline-7cba731-mapmaker-three-tier-salt.json", "the-mapmakers-apprentice")
    assert [(a.name, a.aliases) for a in people if "Ozias" in a.name] == [("Master Ozias Fell", ["Ozias Fell"])]
    assert len(people) == was - 1 == 3
    people, was = _merged_again("offline-replay-073d46b-tuba.json", "tuba-audition")
    assert [(a.name, a.aliases) for a in people if "Hoyle" in a.name] == [("Mr. Fenwick Hoyle", ["Hoyle", "MR. HOYLE"])]
    assert len(people) == was - 1 == 4
