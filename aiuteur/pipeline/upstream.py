"""What each stage is made from, read once: the one loader of a stage's inputs.

A stage's loader reads its upstream records from the branch's saved state, each through
`_Reader.read(name, stage, scene, pick)`: the record becomes one the stage may see, and `pick`
of it becomes the named input its artifact is fingerprinted by. The runner gives the stage
`Loaded.state` (those records and the stage's own earlier work, nothing else) and saves
`Loaded.fingerprint` with what it made, from the same read; the graph's staleness
(`graph.fingerprints`) asks the same loader. So a stage cannot read a record its fingerprint
does not watch: reading one its loader did not read raises `UndeclaredRead`, and the run fails
saying so.

Fingerprints are compared name by name, and only the names an artifact was saved with (see
`graph.is_stale`): an input added here later is watched from the artifact's next save on, and
never makes a saved artifact stale by itself. A name that was fingerprinted before keeps its
value (what it hashes must not change), or every saved artifact would turn stale on upgrade.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiuteur.domain import ArtifactRecord, InputMode, Stage, content_hash
from aiuteur.pipeline.state import Artifacts, ProjectState, SceneId

Data = dict[str, Any] | None
Key = tuple[Stage, SceneId]


def _whole(data: Data) -> Any:
    return data


@dataclass
class Loaded:
    """One read of a stage's inputs: the records the stage may see and the named inputs they gave."""

    base: ProjectState
    stage: Stage
    scene_id: SceneId
    seen: dict[Key, ArtifactRecord] = field(default_factory=dict)  # read and saved
    declared: set[Key] = field(default_factory=set)  # read, saved or not
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> dict[str, str]:
        """A hash of each named input: saved with the artifact; it is stale when one changes."""
        return {name: content_hash(value) for name, value in self.values.items()}

    def hash_of(self, name: str) -> str | None:
        """The fingerprint of one named input (None: this loader has no such input)."""
        return content_hash(self.values[name]) if name in self.values else None

    @property
    def state(self) -> ProjectState:
        """What the stage sees: the records its loader read, and its own saved work (to keep or
        redo part of it). Reading any other record raises `UndeclaredRead`."""
        records = dict(self.seen)
        own = (self.stage, self.scene_id if self.stage.per_scene else None)
        if own in self.base.records:
            records[own] = self.base.records[own]
        where = f"{self.stage.title} (scene {self.scene_id})" if self.scene_id else self.stage.title
        return ProjectState(self.base.branch, records, readable=frozenset({*self.declared, own}), reader=where,
                            _models=self.base._models)

    @property
    def inputs(self) -> Artifacts:
        """The same records as domain models (`ctx.inputs`): each parsed once, from this read."""
        return self.state.artifacts(self.scene_id)


class _Reader:
    def __init__(self, loaded: Loaded) -> None:
        self._loaded = loaded

    def read(self, name: str, stage: Stage, scene_id: SceneId = None, pick: Callable[[Data], Any] = _whole) -> Data:
        """The record of `stage` (for `scene_id`), which the stage may now see; `pick` of it is the
        input `name` of the fingerprint. Returns the record's data (None: nothing saved)."""
        data = self._see(stage, scene_id)
        self._loaded.values[name] = pick(data)
        return data

    def read_many(self, name: str, keys: list[Key], pick: Callable[[list[tuple[Key, Data]]], Any]) -> None:
        """Several records (earlier scenes' work) as one named input."""
        self._loaded.values[name] = pick([(key, self._see(*key)) for key in keys])

    def _see(self, stage: Stage, scene_id: SceneId) -> Data:
        key = (stage, scene_id if stage.per_scene else None)
        self._loaded.declared.add(key)
        rec = self._loaded.base.records.get(key)
        if rec is not None:
            self._loaded.seen[key] = rec
        return rec.data if rec is not None else None


# --- picks: the part of a record a stage's staleness watches ----------------------------------


def _get(data: Data, *path: str, default: Any = None) -> Any:
    value: Any = data or {}
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return default if value is None else value


def _rules(data: Data) -> Any:
    return _get(data, "story_rules", default=[])


def _brief_rules(data: Data) -> Any:
    return _get(data, "brief", "story_rules", default="")


def _chosen_variant(data: Data) -> Any:
    if not data or data.get("chosen") is None:
        return None
    return data["variants"][data["chosen"]]


def _scene_of(scene_id: str) -> Callable[[Data], Any]:
    return lambda data: next((s for s in _get(data, "scenes", default=[]) if s.get("id") == scene_id), None)


def _in_scene(data: Data, scene_id: str) -> list[dict[str, Any]]:
    """The registry's assets in the scene (removed ones too, as before), from the stage-5 record."""
    return [a for a in _get(data, "registry", "assets", default=[]) if scene_id in a.get("scenes", [])]


CAST_FIELDS = ("id", "name", "category", "aliases", "description", "voice")


def _cast(scene_id: str) -> Callable[[Data], Any]:
    """Who and what is in the scene, as words and voices (not the reference images, which change
    as the filmmaker makes takes in stage 5 and do not change a shot list or a spoken line)."""
    return lambda data: [{f: a.get(f) for f in CAST_FIELDS} for a in _in_scene(data, scene_id) if not a.get("removed")]


def _framed_cast(scene_id: str, shots: Data) -> Callable[[Data], Any]:
    """The cast as words (`_cast`), with any asset a shot of the scene puts in frame besides:
    the prompts name and describe each of them, and the keyframes place them by kind."""
    framed = {aid for shot in _get(shots, "shots", default=[]) for aid in shot.get("assets", [])}
    return lambda data: [{f: a.get(f) for f in CAST_FIELDS} for a in _get(data, "registry", "assets", default=[])
                         if (scene_id in a.get("scenes", []) or a.get("id") in framed) and not a.get("removed")]


def _story_people(data: Data) -> Any:
    """The story text stage 5 reads the story's people from (none for an imported screenplay)."""
    if not data or data.get("mode") == InputMode.SKIP_TO_SCRIPT.value:
        return None
    primary = next((s for s in data.get("sources", []) if s.get("role") == "primary"), None)
    return primary.get("text") if primary else None


def _earlier_images(ids: set[Any]) -> Callable[[list[tuple[Key, Data]]], Any]:
    """Continuity input: the chosen images of this scene's assets in every earlier scene.

    A scene's default reference is the latest of these, so choosing a new image in scene 3 makes
    scene 4's asset states and prompts stale.
    """
    def pick(datas: list[tuple[Key, Data]]) -> Any:
        out: list[Any] = []
        for (_, sid), data in datas:
            for st in (data or {}).get("states", []):
                if st.get("asset_id") in ids:
                    out.append((sid, st.get("asset_id"), st.get("image"), st.get("use_master", False)))
        return out

    return pick


# --- one loader per stage ---------------------------------------------------------------------


def _treatment(r: _Reader, state: ProjectState, scene_id: SceneId) -> None:
    r.read("input", Stage.INPUT)


def _beats(r: _Reader, state: ProjectState, scene_id: SceneId) -> None:
    r.read("treatment", Stage.TREATMENT, pick=_chosen_variant)
    r.read("rules", Stage.INPUT, pick=_rules)
    r.read("brief_rules", Stage.INPUT, pick=_brief_rules)
    r.read("params", Stage.INPUT, pick=lambda d: _get(d, "params"))


def _script(r: _Reader, state: ProjectState, scene_id: SceneId) -> None:
    if not state.skips_writing:
        r.read("beats", Stage.BEATS)
    r.read("input", Stage.INPUT)


def _assets(r: _Reader, state: ProjectState, scene_id: SceneId) -> None:
    r.read("script", Stage.SCRIPT)
    r.read("rules", Stage.INPUT, pick=_rules)
    r.read("brief_rules", Stage.INPUT, pick=_brief_rules)
    r.read("story_people", Stage.INPUT, pick=_story_people)


def _hub(r: _Reader, state: ProjectState, scene_id: SceneId) -> None:
    r.read("scenes", Stage.SCRIPT, pick=lambda d: [s["id"] for s in _get(d, "scenes", default=[])])


def _shots(r: _Reader, state: ProjectState, scene_id: str) -> None:
    r.read("scene", Stage.SCRIPT, pick=_scene_of(scene_id))
    r.read("cast", Stage.ASSETS, pick=_cast(scene_id))
    r.read("rules", Stage.INPUT, pick=_rules)
    r.read("brief_rules", Stage.INPUT, pick=_brief_rules)


def _before(state: ProjectState, scene_id: str) -> list[Key]:
    before = state.scene_ids[: state.scene_ids.index(scene_id)] if scene_id in state.scene_ids else state.scene_ids
    return [(Stage.ASSET_STATES, sid) for sid in before]


def _earlier(r: _Reader, state: ProjectState, scene_id: str, in_scene: list[dict[str, Any]]) -> None:
    r.read_many("earlier", _before(state, scene_id), _earlier_images({a.get("id") for a in in_scene}))


def _earlier_looks(ids: set[Any]) -> Callable[[list[tuple[Key, Data]]], Any]:
    """How this scene's assets looked as each earlier scene ended (its description and changes):
    stage 8 starts a scene's description from the latest of them."""
    def pick(datas: list[tuple[Key, Data]]) -> Any:
        return [(sid, st.get("asset_id"), st.get("description"), [c.get("description") for c in st.get("changes", [])])
                for (_, sid), data in datas for st in (data or {}).get("states", []) if st.get("asset_id") in ids]

    return pick


def _asset_states(r: _Reader, state: ProjectState, scene_id: str) -> None:
    r.read("scene", Stage.SCRIPT, pick=_scene_of(scene_id))
    r.read("shots", Stage.SHOTS, scene_id)
    assets = r.read("assets", Stage.ASSETS, pick=lambda d: _in_scene(d, scene_id))
    _earlier(r, state, scene_id, _in_scene(assets, scene_id))
    r.read_many("earlier_looks", _before(state, scene_id), _earlier_looks({a.get("id") for a in _in_scene(assets, scene_id)}))
    r.read("style", Stage.ASSETS, pick=lambda d: _get(d, "style"))  # the scene's images are made in it
    r.read("rules", Stage.INPUT, pick=_rules)
    r.read("brief_rules", Stage.INPUT, pick=_brief_rules)


def _references(scene_id: str) -> Callable[[Data], Any]:
    return lambda d: [(a.get("id"), a.get("master_ref"), a.get("master_ref_white")) for a in _in_scene(d, scene_id)]


def _prompts(r: _Reader, state: ProjectState, scene_id: str) -> None:
    shots = r.read("shots", Stage.SHOTS, scene_id)
    r.read("asset_states", Stage.ASSET_STATES, scene_id)
    r.read("style", Stage.ASSETS, pick=lambda d: _get(d, "style"))
    r.read("rules", Stage.INPUT, pick=_rules)
    assets = r.read("references", Stage.ASSETS, pick=_references(scene_id))
    _earlier(r, state, scene_id, _in_scene(assets, scene_id))
    r.read("brief_rules", Stage.INPUT, pick=_brief_rules)
    r.read("scene", Stage.SCRIPT, pick=_scene_of(scene_id))
    r.read("cast", Stage.ASSETS, pick=_framed_cast(scene_id, shots))


def _frames(r: _Reader, state: ProjectState, scene_id: str) -> None:
    r.read("prompts", Stage.PROMPTS, scene_id)
    shots = r.read("shots", Stage.SHOTS, scene_id)
    r.read("scene", Stage.SCRIPT, pick=_scene_of(scene_id))
    r.read("style", Stage.ASSETS, pick=lambda d: _get(d, "style"))
    r.read("references", Stage.ASSETS, pick=_references(scene_id))
    r.read("cast", Stage.ASSETS, pick=_framed_cast(scene_id, shots))
    r.read("aspect", Stage.INPUT, pick=lambda d: _get(d, "params", "aspect_ratio"))


def _confirm(r: _Reader, state: ProjectState, scene_id: str) -> None:
    r.read("frames", Stage.FRAMES, scene_id)
    r.read("shots", Stage.SHOTS, scene_id)
    r.read("scene", Stage.SCRIPT, pick=_scene_of(scene_id))


def _video(r: _Reader, state: ProjectState, scene_id: str) -> None:
    r.read("frames", Stage.FRAMES, scene_id)
    r.read("confirm", Stage.CONFIRM, scene_id)
    r.read("prompts", Stage.PROMPTS, scene_id)
    r.read("shots", Stage.SHOTS, scene_id)
    r.read("scene", Stage.SCRIPT, pick=_scene_of(scene_id))
    r.read("cast", Stage.ASSETS, pick=_cast(scene_id))


_PROJECT_LOADERS: dict[Stage, Callable[[_Reader, ProjectState, SceneId], None]] = {
    Stage.INPUT: lambda r, s, sc: None,
    Stage.TREATMENT: _treatment,
    Stage.BEATS: _beats,
    Stage.SCRIPT: _script,
    Stage.ASSETS: _assets,
    Stage.HUB: _hub,
}

_SCENE_LOADERS: dict[Stage, Callable[[_Reader, ProjectState, str], None]] = {
    Stage.SHOTS: _shots,
    Stage.ASSET_STATES: _asset_states,
    Stage.PROMPTS: _prompts,
    Stage.FRAMES: _frames,
    Stage.CONFIRM: _confirm,
    Stage.VIDEO: _video,
}


def load(state: ProjectState, stage: Stage, scene_id: SceneId = None) -> Loaded:
    """Read what `stage` (for `scene_id`) is made from, once: its state and its fingerprint."""
    loaded = Loaded(state, stage, scene_id)
    reader = _Reader(loaded)
    if stage.per_scene:
        assert scene_id is not None, f"{stage} needs a scene"
        _SCENE_LOADERS[stage](reader, state, scene_id)
    else:
        _PROJECT_LOADERS[stage](reader, state, scene_id)
    return loaded
