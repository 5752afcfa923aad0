"""Stage 6, script hub: the scenes to produce, where each stands, and opening one to work on.

Nothing here is stored as a status: each scene's statuses come from the stage graph, and "where
it stands" is the first per-scene stage that is not finished (or, once the filmmaker has worked
on the scene, the stage where they left it). Deferring a scene is saved in the HubState artifact,
where a scene was left in the branch. The runner opens and defers scenes with these functions
(`Runner.open_scene`, `Runner.set_deferred`, each one locked change); nothing here calls it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiuteur.domain import STAGE_ORDER, AssetCategory, HubState, Stage, Status
from aiuteur.pipeline import graph
from aiuteur.pipeline.graph import ProjectState

PER_SCENE = [s for s in STAGE_ORDER if s.per_scene]


@dataclass(frozen=True)
class SceneRow:
    """One scene of the hub, derived."""

    scene_id: str
    number: str
    heading: str
    statuses: dict[Stage, Status]
    stands_at: Stage
    locations: list[str]
    characters: list[str]
    deferred: bool
    shots: int

    @property
    def where(self) -> str:
        """'Stage 8 · Scene assets', or 'Deferred'."""
        if self.deferred:
            return "Deferred"
        return f"Stage {self.stands_at.number} · {self.stands_at.title}"

    @property
    def status(self) -> Status:
        """The scene's status: the status of the stage it stands at (skipped when deferred)."""
        return Status.SKIPPED if self.deferred else self.statuses[self.stands_at]


def hub_state(state: ProjectState) -> HubState:
    data = state.data(Stage.HUB)
    return HubState.model_validate(data) if data else HubState()


def remembered_stage(state: ProjectState, scene_id: str) -> Stage | None:
    """Where the filmmaker left the scene (any of stages 7-12), when they have worked on it.

    The branch remembers it on every visit; projects from before that kept it in the hub's state."""
    stage = state.branch.scene_positions.get(scene_id)
    if stage is not None and stage.per_scene:
        return stage
    name = hub_state(state).scene_positions.get(scene_id)
    try:
        return Stage(name) if name else None
    except ValueError:
        return None


def stands_at(state: ProjectState, scene_id: str) -> Stage:
    """The stage to open a scene on: where it was left, else the first unfinished per-scene stage."""
    return remembered_stage(state, scene_id) or graph.scene_stage(state, scene_id)


def _speakers(scene: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(str(e["character"]) for e in scene.get("elements", [])
                              if e.get("kind") == "dialogue" and e.get("character")))


def _named_in_action(scene: dict[str, Any], names: dict[str, list[str]]) -> list[str]:
    """Who of `names` (name -> the words that name them) the scene's action lines mention."""
    action = " ".join(str(e.get("text", "")) for e in scene.get("elements", []) if e.get("kind") == "action")
    return [name for name, words in names.items()
            if any(w and re.search(rf"(?<![\w'’]){re.escape(w)}(?![\w'’])", action, re.IGNORECASE) for w in words)]


def scene_rows(state: ProjectState) -> list[SceneRow]:
    """Every scene of the script with its derived statuses, registry places and people.

    People are everyone in the scene, speaking or not: the registry's characters of the scene,
    and every known character (registry, or before stage 5 anyone who speaks in the script) that
    its action lines name ("Maya and Leo sit in silence")."""
    assets = [a for a in state.registry_assets() if not a.get("removed")]
    characters = {str(a["name"]): [str(a["name"]), *map(str, a.get("aliases", []))] for a in assets
                  if a.get("category") == AssetCategory.CHARACTER.value}
    if not characters:  # before stage 5: the script's speakers, by the name their cues use
        characters = {c: [c] for scene in state.scenes for c in _speakers(scene)}
    deferred = state.deferred
    rows = []
    for scene in state.scenes:
        sid = scene["id"]
        mine = [a for a in assets if sid in a.get("scenes", [])]
        places = [a["name"] for a in mine if a.get("category") == AssetCategory.LOCATION.value]
        people = [a["name"] for a in mine if a.get("category") == AssetCategory.CHARACTER.value]
        if not people:  # before stage 5 (or none registered here): the speakers of the scene
            people = _speakers(scene)
        people = list(dict.fromkeys([*people, *_named_in_action(scene, characters)]))
        if not places and scene.get("location"):
            places = [str(scene["location"]).title()]
        shots = len((state.data(Stage.SHOTS, sid) or {}).get("shots", []))
        rows.append(SceneRow(sid, str(scene.get("number", "")), str(scene.get("heading", "")),
                             graph.scene_statuses(state, sid), stands_at(state, sid), places, people,
                             sid in deferred, shots))
    return rows


def with_deferred(hub: HubState, scene_id: str, deferred: bool) -> HubState:
    """The hub with `scene_id` deferred (its per-scene stages show as skipped) or taken up again."""
    ids = [s for s in hub.deferred if s != scene_id] + ([scene_id] if deferred else [])
    return hub.model_copy(update={"deferred": ids})


__all__ = ["SceneRow", "hub_state", "scene_rows", "stands_at", "with_deferred"]
