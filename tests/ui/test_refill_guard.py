"""Every in-app action that would replace a form's unsaved typing asks first: the app's own config, as
the page reads it.

A form is a block with the class `aiu-saves-<save id>`. An event whose answer fills (or whose
chained `.then` fills) a field of a form it does not read, or hides a column holding one, would
replace what was typed there; its trigger must carry `aiu-refills-<save id>` (a tab's opening: its
tab bar carries `aiu-tab-refills--<tab id>--<save id>`), which the page's guard reads
(`aiuteur/ui/unsaved.py`; the browser tests in `tests/browser/test_unsaved_guard.py` drive it).
This test finds those events from the config itself, not from the app's own list, so an event
added without the guard (or after `guard_refills` ran) fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from aiuteur.ui.app import build_app
from tests.serving import app_home

CONTAINERS = {"column", "row", "group", "accordion"}  # their visibility hides what they hold


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with app_home(tmp_path_factory.mktemp("home")) as store:
        yield build_app(store).get_config_file()


def _classes(c: dict[str, Any]) -> list[str]:
    got = c.get("props", {}).get("elem_classes") or []
    return [got] if isinstance(got, str) else list(got)


def unguarded(config: dict[str, Any]) -> dict[str, list[str]]:
    """Event name -> what is missing on its triggers, for every event that may replace a form's typing."""
    comps = {c["id"]: c for c in config["components"]}
    parent: dict[int, int] = {}

    def walk(node: dict[str, Any]) -> None:
        for child in node.get("children", []) or []:
            parent[child["id"]] = node["id"]
            walk(child)

    walk(config["layout"])

    def forms(cid: int) -> set[str]:
        found: set[str] = set()
        while cid in comps:
            found |= {x[len("aiu-saves-"):] for x in _classes(comps[cid]) if x.startswith("aiu-saves-")}
            if cid not in parent:
                break
            cid = parent[cid]
        return found

    def held(cid: int) -> set[str]:
        inside = {x for x in comps if _within(x, cid, parent)}
        return {f for x in inside for f in forms(x)}

    deps = {d["id"]: d for d in config["dependencies"]}
    risk: dict[int, set[str]] = {}
    for d in deps.values():
        read = set(d["inputs"])
        own: set[str] = set()
        for out in d["outputs"]:
            if out in read:
                continue
            own |= forms(out)
            if comps.get(out, {}).get("type") in CONTAINERS:
                own |= held(out)
        own -= {f for x in read for f in forms(x)}
        head = d["id"]
        while deps[head].get("trigger_after") is not None:
            head = deps[head]["trigger_after"]
        if own:
            risk.setdefault(head, set()).update(own)

    missing: dict[str, list[str]] = {}
    for head, at_risk in risk.items():
        d = deps[head]
        name = str(d.get("api_name") or f"#{head}")
        for target, _event in d["targets"]:
            comp = comps.get(target)
            if comp is None:  # the page's own load: nothing is typed yet
                continue
            if comp["type"] == "tabitem":
                bar = comps[parent[target]]
                tab = comp["props"].get("id")
                want = {f"aiu-tab-refills--{tab}--{f}" for f in at_risk}
                have = set(_classes(bar))
            else:
                want = {f"aiu-refills-{f}" for f in at_risk} | {"aiu-refills"}
                have = set(_classes(comp))
            if want - have:
                missing.setdefault(name, []).extend(sorted(want - have))
    return missing


def _within(cid: int, ancestor: int, parent: dict[int, int]) -> bool:
    while cid in parent:
        cid = parent[cid]
        if cid == ancestor:
            return True
    return False


def refilling(config: dict[str, Any]) -> set[str]:
    """The names of the events whose triggers say they may replace a form (what the page guards)."""
    comps = {c["id"]: c for c in config["components"]}
    tagged = {cid for cid, c in comps.items() if "aiu-refills" in _classes(c)}
    tab_bars = {cid for cid, c in comps.items() if "aiu-tab-refills" in _classes(c)}
    names: set[str] = set()
    for d in config["dependencies"]:
        for target, _event in d["targets"]:
            if target in tagged or (comps.get(target, {}).get("type") == "tabitem"
                                    and any(f"--{comps[target]['props'].get('id')}--" in x
                                            for b in tab_bars for x in _classes(comps[b]))):
                names.add(str(d.get("api_name") or f"#{d['id']}"))
    return names


def test_every_event_that_would_replace_typing_asks_first(config: dict[str, Any]) -> None:
    missing = unguarded(config)
    assert not missing, f"events that would replace unsaved typing without asking: {missing}"
    names = refilling(config)
    # the actions a filmmaker meets first are among them (so this cannot pass on an empty list)
    for name in ("choose_scene", "hub_open_scene", "open_project", "close_project", "switch_branch",
                 "treatment_generate", "treatment_variant_1", "beats_generate", "shot_list_generate",
                 "prompts_pick", "asset_states_pick", "show_asset", "script_first_visit"):
        assert name in names, name
    # an edit that reads the form it answers (a save, a move) needs no question for that form
    assert "treatment_save" not in names and "beats_move_up" not in names
    print(f"\n{len(names)} of {len(config['dependencies'])} events start from a control that asks before replacing unsaved typing")


def test_an_event_added_without_the_guard_is_found() -> None:
    """The check itself: a refilling event on a Blocks the guard never saw is reported."""
    from aiuteur.ui.tab_api import form_classes
    from aiuteur.ui.unsaved import guard_refills

    def build(guarded: bool) -> dict[str, Any]:
        with gr.Blocks() as demo:
            text = gr.Textbox(elem_classes=form_classes("aiu-save-x"))
            gr.Button("Save", elem_id="aiu-save-x").click(lambda t: t, [text], [text], api_name="save_x")
            gr.Button("Reload").click(lambda: "saved", None, [text], api_name="reload_x")
            if guarded:
                guard_refills(demo)
        return demo.get_config_file()

    assert unguarded(build(False)) == {"reload_x": ["aiu-refills", "aiu-refills-aiu-save-x"]}
    assert unguarded(build(True)) == {}
    assert refilling(build(True)) == {"reload_x"}
