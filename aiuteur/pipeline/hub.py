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

from aiuteur.domain import STAGE_ORDER, AssetCategory, ElementKind, HubState, Scene, Stage, Status
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
    return state.artifacts().hub or HubState()


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


def _named_in_action(scene: Scene, names: dict[str, list[str]]) -> list[str]:
    """Who of `names` (name -> the words that name them) the scene's action lines mention."""
    action = " ".join(e.text for e in scene.elements if e.kind == ElementKind.ACTION)
    return [name for name, words in names.items()
            if any(w and re.search(rf"(?<![\w'’]){re.escape(w)}(?![\w'’])", action, re.IGNORECASE) for w in words)]


def scene_rows(state: ProjectState) -> list[SceneRow]:
    """Every scene of the script with its derived statuses, registry places and people.

    People are everyone in the scene, speaking or not: the registry's characters of the scene,
    and every known character (registry, or before stage 5 anyone who speaks in the script) that
    its action lines name ("Maya and Leo sit in silence")."""
    saved = state.artifacts()
    bundle, script = saved.assets, saved.script
    assets = [a for a in (bundle.registry.assets if bundle else []) if not a.removed]
    scenes = script.scenes if script else []
    characters = {a.name: [a.name, *a.aliases] for a in assets if a.category == AssetCategory.CHARACTER}
    if not characters:  # before stage 5: the script's speakers, by the name their cues use
        characters = {c: [c] for scene in scenes for c in scene.characters}
    deferred = state.deferred
    rows = []
    for scene in scenes:
        sid = scene.id
        mine = [a for a in assets if sid in a.scenes]
        places = [a.name for a in mine if a.category == AssetCategory.LOCATION]
        people = [a.name for a in mine if a.category == AssetCategory.CHARACTER]
        if not people:  # before stage 5 (or none registered here): the speakers of the scene
            people = scene.characters
        people = list(dict.fromkeys([*people, *_named_in_action(scene, characters)]))
        if not places and scene.location:
            places = [scene.location.title()]
        shot_list = saved.of_scene(sid).shots
        rows.append(SceneRow(sid, scene.number, scene.heading, graph.scene_statuses(state, sid),
                             stands_at(state, sid), places, people, sid in deferred,
                             len(shot_list.shots) if shot_list else 0))
    return rows


def with_deferred(hub: HubState, scene_id: str, deferred: bool) -> HubState:
    """The hub with `scene_id` deferred (its per-scene stages show as skipped) or taken up again."""
    ids = [s for s in hub.deferred if s != scene_id] + ([scene_id] if deferred else [])
    return hub.model_copy(update={"deferred": ids})


__all__ = ["SceneRow", "hub_state", "scene_rows", "stands_at", "with_deferred"]
