"""No event takes more than six inputs: the app's own config, as the page and clients read it.

A handler with eight or eleven positional inputs is hard to read and easy to wire wrong; a form
is grouped instead (what the form showed as one state, the statuses' scene read from it). The
served app's `/config` lists every event with the component ids it sends; this fails for any
event over the limit that is not in `ALLOWED`, and for an allowance no longer needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui.app import build_app, launch_kwargs
from tests.clients import CLIENT_TIMEOUT_S
from tests.serving import serve

MAX_INPUTS = 6

#: Forms that genuinely send more: every field is one the filmmaker edits and they are saved as
#: one record, so splitting them would save half a form. api_name -> (inputs, why).
ALLOWED: dict[str, tuple[int, str]] = {
    # stage 1: the whole story input (text, mode, brief sections, parameters) is one StoryInput
    "save_input": (23, "stage 1's form: the story, its mode, seven brief sections and six parameters"),
    # stage 2: the three treatments' titles, loglines and prose; saving (or choosing one) saves
    # all three so an edit typed in another column is never lost
    "treatment_save": (12, "three treatments x (title, logline, prose), saved together"),
    "treatment_choose_1": (12, "choosing a treatment saves the three as typed (see treatment_save)"),
    "treatment_choose_2": (12, "choosing a treatment saves the three as typed (see treatment_save)"),
    "treatment_choose_3": (12, "choosing a treatment saves the three as typed (see treatment_save)"),
    # stage 5: the written style is one Style (capsule, six words fields, images, influence)
    "save_style": (12, "stage 5's style form: capsule, medium, look, palette, lighting, era, references, "
                       "images, influence"),
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("AIUTEUR_HOME", str(home))
    mp.setenv("AIUTEUR_PROFILE", "tiny")
    try:
        demo = build_app(Store(DataHome(home, "test")))
        with serve(demo, **launch_kwargs()) as url:
            yield httpx.get(f"{url.rstrip('/')}/config", timeout=CLIENT_TIMEOUT_S).raise_for_status().json()
    finally:
        mp.undo()


def _name(dep: dict[str, Any]) -> str:
    return str(dep.get("api_name") or f"#{dep['id']}")


def test_no_event_takes_more_than_six_inputs(config: dict[str, Any]) -> None:
    deps = config["dependencies"]
    counts = {_name(d): len(d["inputs"]) for d in deps}
    over = {n: k for n, k in counts.items() if k > MAX_INPUTS}
    allowed_here = {n: k for n, k in over.items() if n in ALLOWED and k <= ALLOWED[n][0]}
    print(f"\n{len(deps)} events; {len(over)} over {MAX_INPUTS} inputs, all allowed forms: {sorted(allowed_here)}")
    assert over == allowed_here, {n: k for n, k in over.items() if n not in allowed_here}


def test_every_allowance_is_still_needed(config: dict[str, Any]) -> None:
    counts = {_name(d): len(d["inputs"]) for d in config["dependencies"]}
    stale = {n: counts.get(n) for n in ALLOWED if counts.get(n, 0) <= MAX_INPUTS}
    assert not stale, f"allowed but within {MAX_INPUTS} inputs now (or gone): remove them from ALLOWED: {stale}"
