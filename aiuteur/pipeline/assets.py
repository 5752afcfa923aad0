"""Stage 5, style and assets: ONE extraction of characters, locations and props from the master
script, and master references of each on a clean background.

Extraction (DESIGN idea 4) runs in two passes:
  1. deterministic, no model: locations from scene headings, characters from character cues,
     aliases merged ("HAMLET", "Hamlet (V.O.)", "Prince Hamlet", "HAMLET'S VOICE" → Hamlet);
  2. one schema-constrained model call per chunk of scenes (purpose "extract_assets") adding
     props, non-speaking characters, descriptions, per-scene appearances and state changes.

It is incremental. A chunk is a short run of consecutive scenes whose boundaries depend only on
the scene ids (content-defined chunking: inserting a scene disturbs one chunk, not all that
follow); `registry.chunk_hashes` remembers the hash of each chunk's text. A run re-extracts only
the chunks whose text changed; nothing changed means no model call at all. Merging keeps the
user's decisions: a removed asset stays removed (it is matched by name and alias, never
re-added), an edited description is never overwritten, and an asset first found after the user
reviewed the list is *offered*: added with `offered=True, pregenerate=False`, shown as new until
the user keeps or removes it.

Master references (DESIGN idea 6): the prompt is built by code from `prompts/assets/ref_<category>`
(characters as a front/side/back sheet on white, locations as empty plates with no people,
props as product shots), with the style words and story rules; the image engine makes it
(purpose "master_reference"), the matting engine removes the background (not for locations: a
plate is all background), and both the RGBA cut-out and the white version are stored as PNG.
Every take stays in the asset's history; the first becomes the master until the user chooses.

Actions of `run` (models in `aiuteur.pipeline.actions`, through `Runner.run(..., action)`):
    Extract()                   extract, then one master reference per kept asset that has none
                                (`references=False` extracts only)
    MasterReferences()          one master reference per kept asset that has none
    MasterReference(asset_id)   one more master reference take for an asset
    UploadReference(asset_id, image_key, remove_background)  an uploaded image becomes the reference
    DescribeAsset(asset_id, image_key)  the vision engine proposes a description
    SetVoice(asset_id, voice, pitch, rate)  store a character's voice
    PreviewVoice(asset_id, ..., text)  speak a line of theirs in a voice: a take with a wav

Edits (checklist, remove, merge, split, add, choose a reference, style) are pure functions in
`aiuteur.pipeline.assets_ops`, saved with `Runner.save`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import string
import time
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from aiuteur.domain import (
    AiuteurError,
    Asset,
    AssetCategory,
    AssetRegistry,
    ElementKind,
    InputError,
    InputMode,
    Scene,
    Script,
    Stage,
    StateChange,
    StoryInput,
    StyleAndAssets,
    Take,
    VisualStyle,
    content_hash,
)
from aiuteur.domain.names import TITLES, asset_forms, name_forms, names, names_asset, spans
from aiuteur.engines.base import Cutout, EngineError, ImageEngine, ImageRequest, Reference, TextEngine
from aiuteur.pipeline.actions import (
    DescribeAsset,
    Extract,
    MasterReference,
    MasterReferences,
    PreviewVoice,
    ReferenceSize,
    SetVoice,
    UploadReference,
)
from aiuteur.pipeline.images_in import load_image
from aiuteur.pipeline.roster import Person, in_third_person, letter_voices, narrator, story_people
from aiuteur.pipeline.screen_words import (
    GARMENT,
    LOOK_CHANGE,
    align,
    content_words,
    garments,
    handled,
    head_noun,
    is_scenery,
    not_a_thing,
    says_look_change,
    says_the_same,
    sentences,
    sentences_whole,
    story_paragraphs,
    taken_off,
    told_as_i,
    unquoted,
)
from aiuteur.pipeline.stage import EngineProvider, StageContext, StageOutcome, describe_error
from aiuteur.pipeline.story_look import described
from aiuteur.pipeline.visual_style import style_words
from aiuteur.pipeline.writing import (
    TemplateSource,
    ask_bounded,
    default_templates,
    format_rules,
    make_take,
    messages_for,
    render,
    story_rules,
)
from aiuteur.screenplay.headings import place_of

#: Every variable each template of this stage gets; a test checks the files use exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "assets/extract_system": frozenset({"story_rules"}),
    "assets/extract_user": frozenset({"known", "labels", "scenes"}),
    "assets/ref_character": frozenset({"name", "description", "style", "rules"}),
    "assets/ref_location": frozenset({"name", "description", "style", "rules"}),
    "assets/ref_prop": frozenset({"name", "description", "style", "rules"}),
}

CHUNK_MOD = 3  # a chunk ends after a scene whose id hashes to 0 mod this …
MAX_CHUNK_SCENES = 5  # … or when it holds this many scenes
MAX_SCENE_CHARS = 2500  # scene text shown to the model (the hash covers all of it)
MAX_KNOWN = 60
#: Characters of a found asset's description. The prompt asks for "one short visual description";
#: at 400 the offline model wrote formula paragraphs that stage 5 drops for the story's own words
#: (`story_look.described`), and they were the most of the stage's output tokens (the mapmaker's
#: and three-tier's extraction: 3.5k completion tokens each, ~3 minutes, 72acc67).
MAX_DESCRIPTION = 200
REFERENCE_SIZE: dict[AssetCategory, tuple[int, int]] = {
    AssetCategory.CHARACTER: (768, 512),  # three views side by side
    AssetCategory.LOCATION: (768, 512),
    AssetCategory.PROP: (512, 512),
}
NEGATIVE: dict[AssetCategory, str] = {
    AssetCategory.CHARACTER: "background scenery, other people, crowd, furniture, text, watermark, cropped, blurry",
    AssetCategory.LOCATION: "people, person, figure, character, crowd, animal, text, watermark, blurry",
    AssetCategory.PROP: "hands, people, background scenery, clutter, text, watermark, cropped, blurry",
}

# --- names and aliases ------------------------------------------------------------------------------

#: Titles a person's key drops ("Master Ozias Fell" and "Ozias Fell" are one person). Words that are
#: often a name of their own ("Nana", "Granny", "Old") are not among them: `_bare` drops those too,
#: but only to join a name to the one fuller name it belongs to.
_TITLES = frozenset({
    "PRINCE", "PRINCESS", "KING", "QUEEN", "LORD", "LADY", "SIR", "DAME", "DR", "DOCTOR", "MR", "MRS", "MS",
    "MISS", "CAPTAIN", "CAPT", "COUNT", "COUNTESS", "DUKE", "DUCHESS", "PROFESSOR", "PROF", "SENOR", "SENORA",
    "MADAME", "MONSIEUR", "AGENT", "OFFICER", "DETECTIVE", "SERGEANT", "SGT", "GENERAL", "COLONEL", "SAINT",
    "MASTER", "MISTRESS", "MISTER", "MADAM", "MX", "AUNT", "AUNTIE", "UNCLE", "FATHER", "MOTHER", "BROTHER",
    "SISTER", "MAESTRA", "MAESTRO", "INSPECTOR", "LIEUTENANT", "LT", "REVEREND", "REV", "JUDGE", "SENORITA",
    "HERR", "FRAU", "MADEMOISELLE", "BARON", "BARONESS", "CONSTABLE",
})
#: Everything the names rule (`domain.names.TITLES`) knows as a word before a name, in upper case.
_NAME_TITLES = frozenset(t.upper() for t in TITLES) | _TITLES
_ARTICLES = ("THE ", "A ", "AN ")
_PARENS = re.compile(r"\([^()]*\)")
_VOICE = re.compile(r"(?:['’]S)?\s+VOICE$|^VOICE\s+OF\s+")
_NON_WORD = re.compile(r"[^\w'’ ]+")


def norm(name: str) -> str:
    """A name as a key: upper case, parentheticals ("(V.O.)") dropped, single spaces."""
    text = _PARENS.sub(" ", name.replace("\u00a0", " ")).upper()
    return " ".join(_NON_WORD.sub(" ", text).split()).strip(" '’")


def canonical(name: str, category: AssetCategory) -> str:
    """The key aliases share: voices and titles of characters, and leading articles, dropped.

    >>> canonical("Prince Hamlet", AssetCategory.CHARACTER), canonical("HAMLET'S VOICE", AssetCategory.CHARACTER)
    ('HAMLET', 'HAMLET')
    """
    key = norm(name)
    for article in _ARTICLES:
        if key.startswith(article) and len(key) > len(article):
            key = key[len(article):]
    if category == AssetCategory.CHARACTER:
        key = _VOICE.sub("", key).strip() or key
        words = key.split()
        while len(words) > 1 and words[0].rstrip(".") in _TITLES:
            words = words[1:]
        key = " ".join(words)
    return key


def _bare(key: str) -> str:
    """A character key without any leading word the names rule knows as a title, "Nana" and "Old"
    too ("NANA RUTH OKONEDO" -> "RUTH OKONEDO"), a word of the name always kept."""
    words = key.split()
    while len(words) > 1 and words[0].rstrip(".") in _NAME_TITLES:
        words = words[1:]
    return " ".join(words)


def _is_voice(surface: str) -> bool:
    key = norm(surface)
    return _VOICE.sub("", key).strip() != key


def fuller_name(surfaces: Iterable[str]) -> str | None:
    """Of the names one person is written under, the fullest as a person writes it (mixed case,
    not a voice, not led by an article): the most words, then the first. "Master Ozias Fell" over
    "Ozias Fell"; None when every name is a cue in capitals."""
    written = [s for s in surfaces if not s.isupper() and not _is_voice(s)
               and not any(norm(s).startswith(a) for a in _ARTICLES)]
    return max(written, key=lambda s: len(norm(s).split()), default=None)


def _fuller_of(surface: str, name: str) -> bool:
    """True when `surface` is a fuller way to write the person `name` names: more words, written
    as a person writes it (`fuller_name`), and the same name with a title left off ("Ozias Fell"
    of "Master Ozias Fell") or the first or last word of it ("Hoyle" of "Mr. Fenwick Hoyle")."""
    ks, kn = canonical(surface, AssetCategory.CHARACTER), canonical(name, AssetCategory.CHARACTER)
    if len(norm(surface).split()) <= len(norm(name).split()) or fuller_name([name, surface]) != surface:
        return False
    return _bare(ks) == _bare(kn) or (" " not in kn and kn in (ks.split()[0], ks.split()[-1]))


def display_name(surface: str) -> str:
    """A cue as a person writes the name: 'HAMLET' -> 'Hamlet'; mixed case is kept as typed."""
    text = " ".join(_PARENS.sub(" ", surface).split())
    return string.capwords(text.lower()) if text.isupper() else text


# --- scenes and chunks ------------------------------------------------------------------------------


def scene_text(scene: Scene) -> str:
    """A scene as plain screenplay lines: heading, action, 'NAME: line', (parentheticals)."""
    lines = [scene.heading]
    for e in scene.elements:
        if e.kind == ElementKind.DIALOGUE:
            lines.append(f"{e.character or '?'}: {e.text}")
        elif e.kind == ElementKind.PARENTHETICAL:
            lines.append(f"({e.text.strip('()')})")
        elif e.kind in (ElementKind.ACTION, ElementKind.TRANSITION, ElementKind.CENTERED, ElementKind.LYRIC):
            lines.append(e.text)
    return "\n".join(line for line in lines if line.strip())


def scene_labels(script: Script) -> dict[str, str]:
    """Scene id -> the label the model sees: the scene number, or its position when numbers repeat."""
    numbers = [s.number.strip() for s in script.scenes]
    unique = len(set(numbers)) == len(numbers) and all(numbers)
    return {s.id: (s.number.strip() if unique else str(i)) for i, s in enumerate(script.scenes, start=1)}


@dataclass(frozen=True)
class Chunk:
    """A short run of consecutive scenes extracted by one model call."""

    key: str
    scenes: list[Scene]
    hash: str

    @property
    def scene_ids(self) -> list[str]:
        return [s.id for s in self.scenes]


def _ends_chunk(scene_id: str) -> bool:
    return int(hashlib.sha256(scene_id.encode("utf-8")).hexdigest()[:8], 16) % CHUNK_MOD == 0


def chunks(script: Script) -> list[Chunk]:
    """The script cut into chunks whose boundaries depend only on scene ids, each with its hash."""
    groups: list[list[Scene]] = []
    current: list[Scene] = []
    for scene in script.scenes:
        current.append(scene)
        if _ends_chunk(scene.id) or len(current) >= MAX_CHUNK_SCENES:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    out = []
    for group in groups:
        key = "chunk:" + hashlib.sha256("|".join(s.id for s in group).encode("utf-8")).hexdigest()[:12]
        text_hash = content_hash([[s.id, s.number, scene_text(s)] for s in group])
        out.append(Chunk(key, group, text_hash))
    return out


def changed_chunks(all_chunks: list[Chunk], registry: AssetRegistry) -> list[Chunk]:
    """The chunks (of `chunks(script)`) whose text is new or changed since the registry was extracted."""
    return [c for c in all_chunks if registry.chunk_hashes.get(c.key) != c.hash]


# --- the deterministic pass --------------------------------------------------------------------------


@dataclass
class Candidate:
    """One asset found in some scenes: its names as written (with the scenes of each) and more."""

    category: AssetCategory
    surfaces: dict[str, list[str]] = field(default_factory=dict)  # name as written -> scene ids
    description: str = ""
    changes: list[StateChange] = field(default_factory=list)
    key: str = ""  # the shared key of a character group ("HAMLET"), when the deterministic pass made it
    unsure: bool = False  # a model finding the scenes never name: offered, never forced

    @property
    def name(self) -> str:
        """A character group's key as a name; else the most used name whose key is canonical."""
        if self.key:
            exact = [s for s in self.surfaces if norm(s) == self.key and not s.isupper()]
            return fuller_name(self.surfaces) or (exact[0] if exact else display_name(self.key))
        if self.category == AssetCategory.CHARACTER and fuller_name(self.surfaces):
            return str(fuller_name(self.surfaces))
        keys = {s: canonical(s, self.category) for s in self.surfaces}
        plain = [s for s in self.surfaces if norm(s) == keys[s]] or sorted(self.surfaces, key=len)
        return display_name(max(plain, key=lambda s: (len(self.surfaces[s]), -len(s))))

    @property
    def scenes(self) -> list[str]:
        return list(dict.fromkeys(sid for ids in self.surfaces.values() for sid in ids))


def scene_place(scene: Scene) -> str:
    """The place of a scene as its heading names it, time of day, notes and INT./EXT. removed
    (the screenplay package's parser); '' when the heading names no place ("INT. - DUSK")."""
    return place_of(scene.location) or place_of(scene.heading)


def deterministic(scenes: Iterable[Scene]) -> list[Candidate]:
    """Characters from cues and locations from headings, aliases merged. No model."""
    characters: dict[str, Candidate] = {}
    locations: dict[str, Candidate] = {}
    for scene in scenes:
        place = scene_place(scene)
        if place:
            key = canonical(place, AssetCategory.LOCATION)
            cand = locations.setdefault(key, Candidate(AssetCategory.LOCATION))
            cand.surfaces.setdefault(place, []).append(scene.id)
        for cue in scene.characters:
            key = canonical(cue, AssetCategory.CHARACTER)
            if not key:
                continue
            cand = characters.setdefault(key, Candidate(AssetCategory.CHARACTER, key=key))
            ids = cand.surfaces.setdefault(cue, [])
            if scene.id not in ids:
                ids.append(scene.id)
    _merge_first_or_last_names(characters)
    for cand in locations.values():
        for ids in cand.surfaces.values():
            ids[:] = list(dict.fromkeys(ids))
    return [*characters.values(), *locations.values()]


def _merge_first_or_last_names(characters: dict[str, Candidate]) -> None:
    """'JOHN' joins 'JOHN SMITH' when exactly one multi-word name starts or ends with it, and a
    name joins the one fuller name it is with a title left off ('RUTH OKONEDO' joins 'NANA RUTH
    OKONEDO'); the group keeps the fuller key."""
    for key in sorted(characters, key=lambda k: len(k.split())):
        if key not in characters or " " not in key:
            continue
        fuller = [k for k in characters if k != key and len(k.split()) > len(key.split()) and _bare(k) == _bare(key)]
        if len(fuller) == 1:
            _join(characters, key, fuller[0])
    for key in [k for k in characters if " " not in k]:
        matches = [k for k in characters if " " in k and key in (k.split()[0], k.split()[-1])]
        if len(matches) == 1:
            _join(characters, key, matches[0])


def _join(characters: dict[str, Candidate], key: str, into: str) -> None:
    target = characters[into]
    for surface, ids in characters.pop(key).surfaces.items():
        target.surfaces.setdefault(surface, []).extend(i for i in ids if i not in target.surfaces.get(surface, []))


# --- the model pass: bounded schema -----------------------------------------------------------------

Label = Annotated[str, StringConstraints(min_length=1, max_length=8)]
AssetName = Annotated[str, StringConstraints(min_length=1, max_length=60)]


def bare_label(value: Any) -> Any:
    """A scene label as the chunk's text gives it, without the square brackets around it there or a
    word "Scene" before it: the real model wrote `"scenes": ["[1]"]` for label 1 (the wash bay at
    6b7605f), and each such answer cost a re-ask."""
    if not isinstance(value, str):
        return value
    text = value.strip().strip("[]").strip()
    return re.sub(r"(?i)^scene\s+", "", text) or value


class FoundAsset(BaseModel):
    """A character, location or prop seen in these scenes, with how it looks."""

    model_config = ConfigDict(extra="forbid")
    name: AssetName = Field(description="The name the scenes use for it, as short as they write it.")
    category: Literal["character", "location", "prop"]
    description: str = Field(default="", max_length=MAX_DESCRIPTION, description="What it looks like on screen; visual only.")
    scenes: list[Label] = Field(default_factory=list, max_length=12, description="Labels of the scenes it is in.")

    @field_validator("description", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        return whole_description(v) if isinstance(v, str) else v

    @field_validator("scenes", mode="before")
    @classmethod
    def _bare(cls, v: Any) -> Any:
        return [bare_label(x) for x in v] if isinstance(v, list) else v


class FoundChange(BaseModel):
    """From scene `scene` on, asset `asset` looks different."""

    model_config = ConfigDict(extra="forbid")
    asset: AssetName = Field(description="The asset's name exactly as listed.")
    scene: Label = Field(description="Label of the scene where the change is first seen.")
    description: str = Field(min_length=1, max_length=300, description="How it looks from then on.")

    @field_validator("scene", mode="before")
    @classmethod
    def _bare(cls, v: Any) -> Any:
        return bare_label(v)


class ChunkExtraction(BaseModel):
    """The assets of a few scenes of a screenplay, and how they change."""

    model_config = ConfigDict(extra="forbid")
    # Required (no default): the offline model answered `{}` (2 tokens) for a chunk of
    # tuba-audition when `assets` could be left out (docs/evals.md).
    assets: list[FoundAsset] = Field(max_length=40)
    changes: list[FoundChange] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _labels_and_names_exist(self, info: ValidationInfo) -> ChunkExtraction:
        ctx = info.context or {}
        if "labels" not in ctx:
            return self  # engines parse without context; the meaning checks run in `ask`
        problems = extraction_problems(self, set(ctx["labels"]), set(ctx.get("names", ())))
        if problems:
            raise ValueError("; ".join(problems[:4]))
        return self


@functools.lru_cache(maxsize=64)
def _chunk_schema(labels: tuple[str, ...]) -> type[ChunkExtraction]:
    label: Any = Literal[labels]  # type: ignore[valid-type]
    key = hashlib.sha256("|".join(labels).encode("utf-8")).hexdigest()[:10]
    found = create_model(f"FoundAsset_{key}", __base__=FoundAsset, __module__=__name__,
                         scenes=(list[label], Field(default_factory=list, max_length=12,
                                                    description="Labels of the scenes it is in.")))
    change = create_model(f"FoundChange_{key}", __base__=FoundChange, __module__=__name__,
                          scene=(label, Field(description="Label of the scene where the change is first seen.")))
    schema: type[ChunkExtraction] = create_model(
        f"ChunkExtraction_{key}", __base__=ChunkExtraction, __module__=__name__,
        assets=(list[found], Field(max_length=40)),  # type: ignore[valid-type]
        changes=(list[change], Field(default_factory=list, max_length=20)))  # type: ignore[valid-type]
    return schema


def chunk_schema(labels: Sequence[str]) -> type[ChunkExtraction]:
    """`ChunkExtraction` for a chunk whose scenes have `labels`: a scene label is one of them, so a
    constrained engine cannot write one the chunk lacks ("[1]" for 1 cost the wash bay two re-asks
    of ~25 s at 6b7605f); without labels, any label (and `extraction_problems` checks it)."""
    own = tuple(dict.fromkeys(x for x in labels if x.strip()))
    return _chunk_schema(own) if own else ChunkExtraction


def extraction_problems(x: ChunkExtraction, labels: set[str], names: set[str]) -> list[str]:
    """What does not fit the chunk: unknown scene labels, changes to assets nobody listed."""
    problems = []
    allowed = ", ".join(sorted(labels))
    listed = names | {canonical(a.name, AssetCategory(a.category)) for a in x.assets} | {norm(a.name) for a in x.assets}
    for a in x.assets:
        bad = [s for s in a.scenes if s.strip() not in labels]
        if bad:
            problems.append(f"asset {a.name!r} names scene(s) {', '.join(bad)}; use only the labels {allowed}")
    for c in x.changes:
        if c.scene.strip() not in labels:
            problems.append(f"the change to {c.asset!r} is in scene {c.scene!r}; use one of the labels {allowed}")
        if norm(c.asset) not in listed and canonical(c.asset, AssetCategory.CHARACTER) not in listed:
            problems.append(f"the change names {c.asset!r}, which is not in the assets list; list it or name it as listed")
    return problems


def repair_extraction(x: ChunkExtraction, labels: set[str], names: set[str]) -> ChunkExtraction:
    """Drop what still does not fit after the last re-ask (bad labels, changes to unknown assets)."""
    assets = [a.model_copy(update={"scenes": [s for s in a.scenes if s.strip() in labels]}) for a in x.assets]
    listed = names | {norm(a.name) for a in assets} | {canonical(a.name, AssetCategory(a.category)) for a in assets}
    changes = [c for c in x.changes if c.scene.strip() in labels
               and (norm(c.asset) in listed or canonical(c.asset, AssetCategory.CHARACTER) in listed)]
    return ChunkExtraction(assets=assets, changes=changes)


def whole_description(text: str, cap: int = MAX_DESCRIPTION) -> str:
    """A description that ends on a whole sentence or word: one the length bound (or a model that
    ignores it) cut short loses its cut sentence, or, when it is one sentence, its cut word."""
    text = " ".join(text.split())
    if len(text) < cap - 1:
        return text
    text = text[:cap]
    said = sentences_whole(text)
    if len(said) > 1 and not re.search(r"[.!?][\"'’”)\]]*$", said[-1]):
        return " ".join(said[:-1])
    cut = text.rsplit(" ", 1)[0] if " " in text else text
    return cut.rstrip(",;:-– ") + "."


def candidates_from_model(x: ChunkExtraction, chunk: Chunk, labels: dict[str, str],
                          known: dict[str, AssetCategory], unsure: Set[str] = frozenset()) -> list[Candidate]:
    """Model findings as candidates with scene ids (a finding without scenes: where it is mentioned)."""
    by_label = {labels[s.id]: s.id for s in chunk.scenes}
    out: dict[tuple[AssetCategory, str], Candidate] = {}
    for a in x.assets:
        cat = AssetCategory(a.category)
        ids = [by_label[s.strip()] for s in a.scenes if s.strip() in by_label]
        if not ids:
            forms = name_forms(a.name, person=cat == AssetCategory.CHARACTER)
            ids = [s.id for s in chunk.scenes if names(scene_text(s), forms, plural=True)] or [chunk.scenes[0].id]
        cand = out.setdefault((cat, canonical(a.name, cat)), Candidate(cat))
        surface = cand.surfaces.setdefault(a.name.strip(), [])
        surface.extend(i for i in ids if i not in surface)
        cand.description = cand.description or a.description.strip()
        cand.unsure = cand.unsure or a.name.strip() in unsure
    for c in x.changes:
        sid = by_label.get(c.scene.strip())
        if sid is None:
            continue
        target = next((cand for (cat, key), cand in out.items()
                       if key in (canonical(c.asset, cat), norm(c.asset))), None)
        if target is None:  # a change to a known asset the model did not list again
            known_cat = known.get(canonical(c.asset, AssetCategory.CHARACTER)) or known.get(norm(c.asset))
            if known_cat is None:
                continue
            target = out.setdefault((known_cat, canonical(c.asset, known_cat)),
                                    Candidate(known_cat, {c.asset.strip(): [sid]}))
        target.changes.append(StateChange(scene_id=sid, description=c.description.strip()))
    return list(out.values())


# --- what may be an asset -------------------------------------------------------------------------


def _dialogue_text(scenes: Iterable[Scene]) -> str:
    return "\n".join(e.text for s in scenes for e in s.elements if e.kind == ElementKind.DIALOGUE)


def _action_sentences(scenes: Iterable[Scene]) -> list[str]:
    return [x for s in scenes for e in s.elements
            if e.kind in (ElementKind.ACTION, ElementKind.CENTERED, ElementKind.LYRIC) for x in sentences(e.text)]


def _place_match(name: str, places: dict[str, str]) -> str | None:
    """The heading place (as written) a found location names, or None: by key, else the one place
    whose key holds the name's words (or the other way round)."""
    key = canonical(place_of(name) or name, AssetCategory.LOCATION)
    if not key:
        return None
    if key in places:
        return places[key]
    hits = {surface for k, surface in places.items()
            if re.search(rf"\b{re.escape(key)}\b", k) or re.search(rf"\b{re.escape(k)}\b", key)}
    return hits.pop() if len(hits) == 1 else None


def screen_findings(x: ChunkExtraction, chunk: Chunk, places: dict[str, str],
                    script_texts: Sequence[str] = (), labels: dict[str, str] | None = None) -> Screened:
    """Keep only what can be an asset, and say what was left out and why.

    Never an asset: a time of day, a heading or a fragment of one, a transition, a camera
    direction. Locations are the places of scene headings (`places`: key -> place as written): a
    found location is renamed to the heading's place it names, else left out. Props are objects
    the scenes name; scenery (walls, furniture, light, weather) only when a character handles it,
    a line mentions it, or it is in more than one scene. Characters are people the scenes name.
    A location's scenes are the scenes of this chunk whose heading names it (`labels`: scene id ->
    label), whatever the model said.
    """
    text = "\n".join(scene_text(s) for s in chunk.scenes)
    said = _dialogue_text(chunk.scenes)
    action = _action_sentences(chunk.scenes)
    changed = {norm(c.asset) for c in x.changes}
    kept: list[FoundAsset] = []
    dropped: list[str] = []
    notes: list[str] = []
    unsure: list[str] = []
    renamed: dict[str, str] = {}
    for a in x.assets:
        name = a.name.strip()
        why = not_a_thing(name)
        if not why and a.category == "location":
            place = _place_match(name, places)
            if place is None:
                why = "it is not the place of a scene heading"
            else:
                renamed[norm(name)] = place
                key = canonical(place, AssetCategory.LOCATION)
                own = [labels[s.id] for s in chunk.scenes
                       if labels and s.id in labels and canonical(scene_place(s), AssetCategory.LOCATION) == key]
                if not own:
                    why = "its scenes are not in this part of the script"  # described where its headings are
                a = a.model_copy(update={"name": place, "scenes": own})
        elif not why:
            # any case and number: whether the scenes name it at all (a role, "the waitress", too)
            forms = (name_forms(name, person=True) if a.category == "character"
                     else [name, _ARTICLE_RE.sub("", name), head_noun(name)])
            if not names(text, forms, plural=True) and not (
                    a.category == "character" and _described_in(a.description, text)):
                unsure.append(name)  # offered to the filmmaker, not forced: it may be a guess
                notes.append(f"{name} ({a.category}): offered, not added: the scenes never name it")
            if a.category == "prop" and is_scenery(name) and not (
                    any(handled(sentence, [name]) for sentence in action) or names(said, forms, plural=True)
                    or norm(name) in changed or sum(names(t, forms, plural=True) for t in script_texts) > 1):
                why = "it is scenery, part of the place (no one handles it)"
        if why:
            dropped.append(f"{name} ({a.category}): {why}")
        else:
            kept.append(a)
    gone = {norm(d.split(" (")[0]) for d in dropped}
    changes = [c.model_copy(update={"asset": renamed.get(norm(c.asset), c.asset)})
               for c in x.changes if norm(c.asset) not in gone]
    return Screened(ChunkExtraction(assets=kept, changes=changes), dropped, notes, unsure)


@dataclass(frozen=True)
class Screened:
    """A chunk's findings after `screen_findings`: what is kept, what was left out and why, and the
    names kept only as offers (the scenes never name them)."""

    value: ChunkExtraction
    dropped: list[str]
    notes: list[str]
    unsure: list[str]


_STOP = frozenset(["a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "with", "his", "her", "their", "its", "who", "is", "are", "was", "were", "very"])


def _described_in(description: str, text: str) -> bool:
    """True when at least two words of a description are in the text (an unnamed character the
    model names, as "a three-headed dog" named Cerberus)."""
    words = {w for w in re.findall(r"[\w'’-]{3,}", description.lower()) if w not in _STOP}
    return len([w for w in words if names(text, [w], plural=True)]) >= 2


_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_PRONOUN = re.compile(r"^(?:he|she|they|his|her|their|its)\b", re.IGNORECASE)


def look_changes(scene: Scene, characters: list[Asset]) -> list[tuple[str, str]]:
    """(asset id, sentence) for each action sentence that says a character's look changes
    ("She pulls on her grandmother's coat", "arrives dressed all in black"); a sentence that names
    nobody belongs to the one character named in the sentence before it."""
    out: list[tuple[str, str]] = []
    last: list[str] = []
    for e in scene.elements:
        if e.kind != ElementKind.ACTION:
            continue
        for sentence in sentences(e.text):
            named = [a.id for a in characters if names_asset(sentence, a, characters)]
            who = named or (last if len(last) == 1 and _PRONOUN.match(sentence) else [])
            if named:
                last = named
            first_word = sentence.split()[0] if sentence.split() else ""
            subject_first = bool(_PRONOUN.match(sentence)) or any(
                sentence.lower().startswith(f.lower()) for a in characters if a.id in who[:1] for f in asset_forms(a, characters))
            if who and first_word and says_look_change(sentence, subject_first):
                out.extend((aid, sentence[:300]) for aid in who[:1])
    return out


def add_look_changes(assets: list[Asset], scenes: Iterable[Scene]) -> list[Asset]:
    """Each look change the script states, as a state change of that character in that scene, where
    the model recorded none for it there (the model's own words win)."""
    by_id = {a.id: a for a in assets}
    for scene in scenes:
        cast = [a for a in by_id.values() if a.category == AssetCategory.CHARACTER and not a.removed
                and scene.id in a.scenes]
        for aid, sentence in look_changes(scene, cast):
            a = by_id[aid]
            if any(c.scene_id == scene.id for c in a.state_changes):
                continue
            by_id[aid] = a.model_copy(update={"state_changes": [
                *a.state_changes, StateChange(scene_id=scene.id, description=sentence)]})
    return [by_id[a.id] for a in assets]




_WHOSE_GARMENT = re.compile(r"(?:\s+[A-Z][\w-]*)*[’']s\s+(?:[\w-]+\s+){0,2}?" + GARMENT + r"\b")


def _subject_of(sentence: str, at: int, characters: list[Asset]) -> str | None:
    """The character named last before offset `at` of the sentence (who does what is said there)."""
    best: tuple[int, str] | None = None
    for a in characters:
        for start, end in spans(sentence, asset_forms(a, characters), proper=True):
            if _WHOSE_GARMENT.match(sentence, end):
                continue  # "took Lenny Okafor's cap": whose clothes, not who changes ("Oriel's hair" is)
            if start < at and (best is None or start > best[0]):
                best = (start, a.id)
    return best[1] if best else None


def alignment_text(scene: Scene) -> str:
    """A scene's words for finding the story paragraphs it tells: its lines and its synopsis."""
    synopsis = [e.text for e in scene.elements if e.kind == ElementKind.SYNOPSIS]
    return "\n".join([scene_text(scene), *synopsis])


def story_scenes(script: Script, characters: list[Asset], paragraphs: list[str]) -> list[int]:
    """The scene (index into the script) that tells each story paragraph (`screen_words.align`):
    by the words they share, the people both name, their order, and above all the place: a scene
    set where the paragraph happens (named there, or the place the story last named) wins over one
    that only copies its words (the real model's three-tier-disaster script copied the paragraph of
    Adaeze covered in cake into a scene in the upstairs flat; the story tells it in the car park)."""
    def who(text: str) -> set[str]:
        return {a.id for a in characters if names_asset(text, a, characters)}

    return align(paragraphs, [alignment_text(s) for s in script.scenes], places=[scene_place(s) for s in script.scenes],
                 casts=[who(alignment_text(s)) | {a.id for a in characters if any(
                     canonical(c, AssetCategory.CHARACTER) == canonical(a.name, AssetCategory.CHARACTER)
                     for c in s.characters)} for s in script.scenes],
                 people=[who(unquoted(p)) for p in paragraphs])


def story_look_changes(script: Script, characters: list[Asset], story_text: str,
                       people: Sequence[Person] | None = None) -> list[tuple[str, str, str]]:
    """(asset id, scene id, the story's words) for each look change the story tells of a character
    ("Dov put it on in the gents. The sleeves ended halfway down his forearms."): the sentence that
    says it and the two after it, in the scene that tells its paragraph (`story_scenes`). A
    sentence that names nobody belongs to the one character named before it in its paragraph, and
    "I" to the story's narrator (`roster.narrator`) or a letter's signer, "you" to the one it
    greets (`roster.letter_voices`); the words are given in the third person ("Adaeze is now
    wearing …", `roster.in_third_person`), so no later stage can read them as somebody else's.
    Words in quotes are talk, not a change. A scene's writer often drops the change (the-wash-bay:
    Teodora's driver's jacket never reached the script, so no scene showed it)."""
    if not story_text.strip() or not script.scenes or not characters:
        return []
    paragraphs = story_paragraphs(story_text)
    tells = story_scenes(script, characters, paragraphs)
    roster = list(people) if people is not None else story_people(story_text)  # read once
    teller = narrator(story_text, roster)  # "I" in a story told as "I"
    names_of = {a.id: a.name for a in characters}

    def asset_of(person: Person | None) -> str | None:
        return next((a.id for a in characters if person is not None and person.named_by([a.name, *a.aliases])), None)

    voices = [(asset_of(w), asset_of(r)) for w, r in letter_voices(paragraphs, roster)]  # a letter's "I" and "you"
    out: list[tuple[str, str, str]] = []
    for i, paragraph in enumerate(paragraphs):
        me, you = voices[i][0] or asset_of(teller), voices[i][1]
        said = sentences_whole(paragraph)
        last: str | None = None
        for k, sentence in enumerate(said):
            plain = unquoted(sentence)
            found = [m for m in LOOK_CHANGE.finditer(plain)]
            who = _subject_of(plain, found[0].start(), characters) if found else None
            named = _subject_of(plain, len(plain) + 1, characters)
            if who is None and found and last is not None and _PRONOUN.match(plain.strip()):
                who = last
            if who is None and found:  # "I am now wearing most of the top tier." / "you in those oilskins"
                person = [m for m in re.finditer(r"\b(I|you)\b", plain[:found[0].start()], re.IGNORECASE)
                          if (me if m.group(1) == "I" else you) is not None]
                who = (me if person[-1].group(1) == "I" else you) if person else None
            last = named or last
            subject_first = who is not None and (bool(_PRONOUN.match(plain.strip())) or (
                who == me and plain.strip().startswith("I ")) or (who == you and plain.strip().lower().startswith("you ")) or any(
                plain.strip().lower().startswith(f.lower()) for a in characters if a.id == who
                for f in asset_forms(a, characters)))
            if who is not None and says_look_change(plain, subject_first):
                first = _described_before(said, k)
                words = in_third_person(" ".join(said[first:k + 3]), names_of.get(me or ""), names_of.get(you or ""))
                out.append((who, script.scenes[tells[i]].id, _clip(words, 300)))
    return out


#: A change that puts on "it" or "them": the thing worn was named (and described) before.
_PUTS_IT_ON = re.compile(r"\b(?:put|puts|putting|pull|pulls|pulled|slip|slips|slipped|shrug|shrugs|shrugged|throw|throws"
                         r"|threw|tug|tugs|tugged|wear|wears|wore|try|tries|tried)\s+(?:it|them)\s+(?:on|into)?\b",
                         re.IGNORECASE)


def _described_before(said: list[str], k: int) -> int:
    """Where the words of the change in sentence `k` begin: at `k`, or, when it puts on "it" ("Gus
    took off his cardigan and put it on"), at the sentence up to two before it that names the
    thing worn, so its description comes too ("It was a jacket. Gold sequins, shoulder pads, a
    collar like a wing."): the picture needs what "it" looks like. Not when the sentence names
    what "it" is before it (a thing it takes off is not: "took off his cardigan and put it on")."""
    plain = unquoted(said[k])
    m = _PUTS_IT_ON.search(plain)
    if m is None or garments(plain[: m.start()]) - taken_off(plain):
        return k  # "took a reflective jacket … and Lenny Okafor's cap … and pulled it down": "it" is named here
    for j in range(k - 1, max(k - 3, -1), -1):
        if re.search(r"(?<![\w-])" + GARMENT + r"(?![\w-])", unquoted(said[j]), re.IGNORECASE):
            return j
    return k


def _clip(text: str, n: int) -> str:
    """`text` cut to at most `n` characters, at a word."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def add_story_look_changes(assets: list[Asset], script: Script, story_text: str, scene_ids: Set[str],
                           people: Sequence[Person] | None = None) -> list[Asset]:
    """Each look change the story tells (`story_look_changes`) in one of `scene_ids`, as a state
    change of that character there, unless a change recorded there already says it (the model's
    "he has taken off the jumper" does not say the new grey one: the story's words are added).
    One that says it as "I" or "you" (the model copied a letter's "I have taken off the green
    jumper") gives way to the story's words in the third person: stage 8 keeps no look told as "I".
    The character is in that scene from then on: the story puts them there, even where the
    script's lines never name them (a narrator the script calls nobody)."""
    characters = [a for a in assets if a.category == AssetCategory.CHARACTER and not a.removed]
    by_id = {a.id: a for a in assets}
    for aid, sid, words in story_look_changes(script, characters, story_text, people):
        a = by_id[aid]
        same = [c for c in a.state_changes if c.scene_id == sid and says_the_same(c.description, words)]
        if sid not in scene_ids or any(not told_as_i(c.description) for c in same):
            continue
        by_id[aid] = a.model_copy(update={
            "state_changes": [*(c for c in a.state_changes if c not in same), StateChange(scene_id=sid, description=words)],
            "scenes": list(dict.fromkeys([*a.scenes, sid]))})
    return [by_id[a.id] for a in assets]


def _story_changes_told(script: Script, characters: list[Asset], story_text: str, own: list[set[str]],
                        people: Sequence[Person] | None) -> list[tuple[str, str, str, int]]:
    """`story_look_changes` with the story paragraph that tells each (the one sharing the most of
    its content words; `own`: each paragraph's content words)."""
    return [(aid, sid, said, max(range(len(own)), key=lambda i: len(content_words(said) & own[i])))
            for aid, sid, said in story_look_changes(script, characters, story_text, people)]


def without_old_looks_again(assets: list[Asset], script: Script, story_text: str,
                            people: Sequence[Person] | None = None) -> list[Asset]:
    """Each character's recorded "change" in a scene after the one where the story changes their
    look, that says no change itself (`LOOK_CHANGE`) and retells the story from before that change
    (three or more of its content words, half of them or more, come only from the paragraphs
    before the change's), taken out: it puts the old look back. The real model recorded the
    lantern's opening ("Gus stands on a stool …, a small round man in a cardigan") as a change of
    the roof scene at 395d5d9, so stage 8 showed Gus back in his cardigan after the jacket scene."""
    paragraphs = story_paragraphs(story_text)
    if not paragraphs or not script.scenes:
        return assets
    characters = [a for a in assets if a.category == AssetCategory.CHARACTER and not a.removed]
    order = {sc.id: i for i, sc in enumerate(script.scenes)}
    own = [content_words(p) for p in paragraphs]
    names = {w for a in characters for n in [a.name, *a.aliases] for w in content_words(n)}
    first: dict[str, tuple[int, int]] = {}  # asset id -> (scene index, paragraph index) of its first story change
    for aid, sid, _said, told in _story_changes_told(script, characters, story_text, own, people):
        if sid in order and (aid not in first or order[sid] < first[aid][0]):
            first[aid] = (order[sid], told)
    out = []
    for a in assets:
        if a.id not in first:
            out.append(a)
            continue
        scene_at, told = first[a.id]
        before = set().union(*own[:told]) - set().union(*own[told:]) if told else set()
        kept = []
        for c in a.state_changes:
            words = content_words(c.description) - names
            old = words & before
            if (order.get(c.scene_id, -1) > scene_at and not LOOK_CHANGE.search(unquoted(c.description))
                    and len(old) >= 3 and 2 * len(old) >= len(words)):
                continue
            kept.append(c)
        out.append(a if len(kept) == len(a.state_changes) else a.model_copy(update={"state_changes": kept}))
    return out


#: Where a description's phrases begin: a comma, or a word that adds a thing to a look.
_PHRASE = re.compile(r"(?=,\s|\s(?:in|with|and|wearing|dressed|under|over|holding)\s)", re.IGNORECASE)
#: A phrase's opening word left without the phrase ("A woman, dressed" once "in a reflective jacket" went).
_DANGLING = re.compile(r"(?:[\s,]+(?:dressed|wearing|clad|in|with|and|holding|under|over))+[\s,]*$", re.IGNORECASE)


def masters_before_changes(assets: list[Asset], script: Script, story_text: str,
                           people: Sequence[Person] | None = None) -> list[Asset]:
    """Each character's master description without the new look of a change the story tells of
    them later: a change's new words are those of the paragraph that tells it (`story_look_changes`)
    that no paragraph before it says, names aside. In a sentence of the master holding three of
    them or more, each phrase with two or more goes, and so does a phrase that carries it on
    ("… cap over her hair"); a phrase after a comma starts afresh. The wash bay at 395d5d9: the
    model described Teodora, the narrator, of whom the story says nothing before her disguise, as
    "A woman in her reflective jacket with DRIVER on the back from hook nine and Lenny Okafor's cap
    over her hair", and every scene inherited the disguise from the first. A description the user
    edited is never touched."""
    paragraphs = story_paragraphs(story_text)
    characters = [a for a in assets if a.category == AssetCategory.CHARACTER and not a.removed]
    if not paragraphs or not script.scenes or not characters:
        return assets
    own = [content_words(p) for p in paragraphs]
    names = {w for a in characters for n in [a.name, *a.aliases] for w in content_words(n)}
    new: dict[str, set[str]] = {}
    for aid, _sid, said, told in _story_changes_told(script, characters, story_text, own, people):
        before = set().union(*own[:told]) if told else set()
        new.setdefault(aid, set()).update((content_words(said) & own[told]) - before - names)
    out = []
    for a in assets:
        fresh = new.get(a.id)
        if not fresh or a.user_edited or a.removed:
            out.append(a)
            continue
        kept: list[str] = []
        for sentence in sentences(a.description):
            if len(content_words(sentence) & fresh) < 3:
                kept.append(sentence)
                continue
            parts = [p for p in _PHRASE.split(sentence) if p]
            left: list[str] = []
            dropped = False
            for k, part in enumerate(parts):
                goes = len(content_words(part) & fresh) >= 2 or (dropped and not part.startswith(","))
                if k == 0 and goes:
                    left = []
                    break
                dropped = goes
                if not goes:
                    left.append(part)
            text = _DANGLING.sub("", "".join(left)).strip().rstrip(",;: ")
            if text:
                kept.append(text if text.endswith((".", "!", "?")) else f"{text}.")
        description = " ".join(kept).strip()
        out.append(a.model_copy(update={"description": description}) if description and description != a.description
                   else a)
    return out


def changes_where_told(assets: list[Asset], scenes: Sequence[Scene], *, least: int = 3) -> list[Asset]:
    """Each character's change of look the model recorded in a scene that does not tell it, moved
    to the scene of `scenes` that names them and tells it. A scene tells a change by the words
    they share (names aside). A change stays where the model put it when its scene names the
    character and shares two words or more with it; else it goes to the naming scene sharing the
    most (the first on a tie): at least two for a scene that never names them, at least `least`
    and two more than its own for one that does. A change already said there is not said twice.
    Run before the story's own changes are added: those stand where the story is, named there or
    not (a narrator). The real model put the salt crown's "the salt climbs down from the crown into
    Oriel's hair" at the far shore (evals at 618ebe5), and, replayed at 23be191, in the far-shore
    scene that names her but tells none of it, so stage 8 showed her crowned two scenes before
    the throne scene, which tells it word for word."""
    texts = {s.id: scene_text(s) for s in scenes}
    characters = [a for a in assets if a.category == AssetCategory.CHARACTER and not a.removed]
    out: list[Asset] = []
    for a in assets:
        if a.category != AssetCategory.CHARACTER or a.removed or not a.state_changes:
            out.append(a)
            continue
        forms = asset_forms(a, characters)
        named = [s.id for s in scenes if names(texts[s.id], forms)]
        own = {w for f in forms for w in content_words(f)}
        changes: list[StateChange] = []
        for c in a.state_changes:
            if c.scene_id not in texts:
                changes.append(c)
                continue
            words = content_words(c.description) - own
            here = len(words & content_words(texts[c.scene_id]))
            if c.scene_id in named and here >= 2:
                changes.append(c)
                continue
            score = {sid: len(words & content_words(texts[sid])) for sid in named}
            best = max(named, key=lambda sid: score[sid], default=None)  # max keeps the first of a tie
            enough = 2 if c.scene_id not in named else max(least, here + 2)
            if best is None or best == c.scene_id or score[best] < enough:
                changes.append(c)
                continue
            if not any(k.scene_id == best and says_the_same(k.description, c.description)
                       for k in [*a.state_changes, *changes] if k is not c):
                changes.append(c.model_copy(update={"scene_id": best}))
        out.append(a if changes == a.state_changes else a.model_copy(update={"state_changes": changes}))
    return out


# --- merging into the registry ---------------------------------------------------------------------


class _Index:
    """Find the registered asset a name belongs to: exact name or alias first, then the shared key."""

    def __init__(self, assets: list[Asset]) -> None:
        self.exact: dict[tuple[AssetCategory, str], str] = {}
        self.keyed: dict[tuple[AssetCategory, str], str] = {}
        for a in assets:  # an asset's own name claims its key before anyone's alias does
            self.keyed.setdefault((a.category, canonical(a.name, a.category)), a.id)
        for a in assets:
            self.add(a)

    def add(self, a: Asset) -> None:
        for n in [a.name, *a.aliases]:
            self.exact.setdefault((a.category, norm(n)), a.id)
            self.keyed.setdefault((a.category, canonical(n, a.category)), a.id)

    def find(self, surface: str, category: AssetCategory) -> str | None:
        found = self.exact.get((category, norm(surface))) or self.keyed.get((category, canonical(surface, category)))
        key = canonical(surface, category)
        if found is None and category == AssetCategory.CHARACTER and " " in _bare(key):
            # 'Ruth Okonedo' belongs to the one registered 'Nana Ruth Okonedo' (a title left off)
            owners = {aid for (cat, k), aid in self.keyed.items() if cat == category and _bare(k) == _bare(key)}
            found = owners.pop() if len(owners) == 1 else None
        if found is None and category == AssetCategory.CHARACTER and " " in key:
            # 'Mr. Fenwick Hoyle' is the one registered 'Hoyle', when no other registered full name
            # starts or ends with 'HOYLE'
            ends = (key.split()[0], key.split()[-1])
            owners = {aid for (cat, k), aid in self.keyed.items() if cat == category and " " not in k and k in ends}
            rivals = {aid for (cat, k), aid in self.keyed.items()
                      if cat == category and " " in k and {k.split()[0], k.split()[-1]} & set(ends)} - owners
            found = owners.pop() if len(owners) == 1 and not rivals else None
        if found is None and category == AssetCategory.CHARACTER and key and " " not in key:
            # 'JOHN' belongs to the one registered 'John Smith' (as in the deterministic pass)
            owners = {aid for (cat, k), aid in self.keyed.items()
                      if cat == category and " " in k and key in (k.split()[0], k.split()[-1])}
            found = owners.pop() if len(owners) == 1 else None
        return found


def story_cast(assets: list[Asset], scenes: Sequence[Scene], people: Sequence[Person]) -> list[Candidate]:
    """A character candidate for each person of the story's roster whom no character asset (kept
    or removed) names yet and whom the scenes name, with the scenes that name them: the model
    reading a chunk can miss someone who never speaks (the cloakroom attendant, docs/evals.md)."""
    known = [n for a in assets if a.category == AssetCategory.CHARACTER for n in [a.name, *a.aliases]]
    texts = {s.id: scene_text(s) for s in scenes}
    out = []
    for person in people:
        if person.named_by(known):
            continue
        ids = [sid for sid, text in texts.items() if person.named_in(text)]
        if ids:
            out.append(Candidate(AssetCategory.CHARACTER, surfaces={person.name: ids}))
    return out


def merge_candidates(assets: list[Asset], found: list[Candidate], *, offer: bool) -> list[Asset]:
    """Fold candidates into the assets; new ones are offered (not forced) when `offer`.

    Every name a candidate was seen under goes to the asset that already owns that name or alias,
    so an alias the user split off stays split. Removed assets still collect their scenes but
    stay removed; user-edited descriptions are never overwritten.
    """
    by_id = {a.id: a for a in assets}
    order = [a.id for a in assets]
    index = _Index(assets)
    for cand in found:
        owners = {s: index.find(s, cand.category) for s in cand.surfaces}
        home = next((aid for aid in owners.values() if aid), None)
        if home is None:
            first = next(iter(cand.surfaces))
            offered = offer or cand.unsure
            new = Asset(name=cand.name or display_name(first), category=cand.category,
                        pregenerate=not offered, offered=offered)
            by_id[new.id] = new
            order.append(new.id)
            home = new.id
        for surface, ids in cand.surfaces.items():
            aid = owners[surface] or home
            a = by_id[aid]
            aliases = list(a.aliases)
            if norm(surface) != norm(a.name) and norm(surface) not in {norm(x) for x in aliases}:
                aliases.append(surface)
            scenes = list(dict.fromkeys([*a.scenes, *ids]))
            changed: dict[str, Any] = {"aliases": aliases, "scenes": scenes}
            if a.category == AssetCategory.CHARACTER and not a.user_edited and surface in aliases \
                    and _fuller_of(surface, a.name):
                # one person, the fuller name as the name ("Master Ozias Fell", alias "Ozias Fell")
                changed = {"name": surface, "aliases": [a.name, *(x for x in aliases if x != surface)], "scenes": scenes}
            by_id[aid] = a.model_copy(update=changed)
            index.add(by_id[aid])
        a = by_id[home]
        update: dict[str, Any] = {}
        if cand.description and not a.description.strip() and not a.user_edited:
            update["description"] = cand.description
        if cand.changes:
            seen = {(c.scene_id, c.description) for c in a.state_changes}
            update["state_changes"] = [*a.state_changes, *(c for c in cand.changes
                                                           if (c.scene_id, c.description) not in seen)]
        if update:
            by_id[home] = a.model_copy(update=update)
    return [by_id[i] for i in order]


def forget_scenes(assets: list[Asset], scene_ids: set[str]) -> list[Asset]:
    """Drop appearances and state changes in `scene_ids` (about to be re-extracted, or gone)."""
    out = []
    for a in assets:
        scenes = [s for s in a.scenes if s not in scene_ids]
        changes = [c for c in a.state_changes if c.scene_id not in scene_ids]
        out.append(a if (len(scenes), len(changes)) == (len(a.scenes), len(a.state_changes))
                   else a.model_copy(update={"scenes": scenes, "state_changes": changes}))
    return out


def order_by_script(assets: list[Asset], script: Script) -> list[Asset]:
    """Scenes and state changes of each asset in script order."""
    pos = {s.id: i for i, s in enumerate(script.scenes)}
    return [a.model_copy(update={
        "scenes": sorted(a.scenes, key=lambda s: pos.get(s, 1 << 30)),
        "state_changes": sorted(a.state_changes, key=lambda c: pos.get(c.scene_id, 1 << 30)),
    }) for a in assets]


# --- extraction ------------------------------------------------------------------------------------


def _known_text(assets: list[Asset], det: list[Candidate]) -> str:
    names = [f"{a.name} ({a.category.value})" for a in assets if not a.removed]
    names += [f"{c.name} ({c.category.value})" for c in det]
    names = list(dict.fromkeys(names))[:MAX_KNOWN]
    return "\n".join(f"- {n}" for n in names) or "(none yet)"


def _chunk_text(chunk: Chunk, labels: dict[str, str]) -> str:
    parts = []
    for s in chunk.scenes:
        text = scene_text(s)
        if len(text) > MAX_SCENE_CHARS:
            text = text[:MAX_SCENE_CHARS] + " […]"
        parts.append(f"[{labels[s.id]}]\n{text}")
    return "\n\n".join(parts)


@dataclass
class Extracted:
    """The registry after an extraction, and one take per model call."""

    registry: AssetRegistry
    takes: list[Take]
    calls: int

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.takes)


def extract_assets(script: Script, registry: AssetRegistry, engines: EngineProvider, *, seed: int, rules: list[str],
                   templates: TemplateSource = default_templates, max_attempts: int = 2,
                   report: Any = None, cancelled: Any = None, people: Sequence[Person] = (),
                   story_text: str = "") -> Extracted:
    """Extract the registry from the script, re-extracting only the chunks whose text changed.

    `engines.text("extract_assets")` is asked for only when a chunk changed. A chunk whose call
    fails keeps no hash, so the next run tries it again; the deterministic pass still applies.
    `people`: the story's roster (`roster.story_people`); each one the scenes name is a character.
    `story_text`: the prose story; each look change it tells lands in the scene that tells it.
    """
    # 1. What changed: chunks with new text, and scenes no longer in the script.
    all_chunks = chunks(script)
    todo = changed_chunks(all_chunks, registry)
    if not todo and set(registry.chunk_hashes) == {c.key for c in all_chunks}:
        return Extracted(registry, [], 0)
    offer = bool(registry.chunk_hashes)  # the user has seen the list: new finds are offered
    current_ids = {s.id for s in script.scenes}
    gone = {sid for a in registry.assets for sid in [*a.scenes, *(c.scene_id for c in a.state_changes)]
            if sid not in current_ids}
    redo = {sid for c in todo for sid in c.scene_ids}
    assets = forget_scenes(list(registry.assets), gone | redo)
    # 2. The deterministic pass over the changed scenes.
    det = deterministic(s for c in todo for s in c.scenes)
    assets = merge_candidates(assets, det, offer=offer)
    # 3. One model call per changed chunk.
    labels = scene_labels(script)
    places = {canonical(p, AssetCategory.LOCATION): p for p in (scene_place(s) for s in script.scenes) if p}
    script_texts = [scene_text(s) for s in script.scenes]
    rules_text = format_rules(rules)
    hashes = {c.key: c.hash for c in all_chunks if c not in todo}
    takes: list[Take] = []
    text: TextEngine | None = None
    for n, chunk in enumerate(todo):
        if cancelled is not None and cancelled():
            break
        if report is not None:
            report(n / len(todo), f"Reading scenes {labels[chunk.scenes[0].id]}–{labels[chunk.scenes[-1].id]}")
        chunk_labels = {labels[s.id] for s in chunk.scenes}
        known = {canonical(a.name, a.category): a.category for a in assets}
        known |= {norm(alias): a.category for a in assets for alias in a.aliases}
        rendered = messages_for(
            templates, "assets", {"story_rules": rules_text},
            {"known": _known_text(assets, []), "labels": ", ".join(labels[s.id] for s in chunk.scenes),
             "scenes": _chunk_text(chunk, labels)}, VARIABLES, system="extract_system", user="extract_user")
        inputs = {"chunk": chunk.hash, "template": rendered.template_hash, "rules": rules}
        ctx = {"labels": chunk_labels, "names": set(known)}
        try:
            text = text or engines.text("extract_assets")
            # an engine that does not constrain is read as any extraction; code repairs its labels below
            got = ask_bounded(text, rendered.messages, chunk_schema([labels[s.id] for s in chunk.scenes]),
                              ChunkExtraction, seed=seed + n, context=ctx, max_attempts=max_attempts, temperature=0.2,
                              keep=lambda x: len(x.assets) + len(x.changes))
        except EngineError as e:
            takes.append(make_take(Stage.ASSETS, purpose="extract_assets", inputs=inputs, rendered=rendered, text=text,
                                   seed=seed + n, target=chunk.key,
                                   error=f"Reading scenes {', '.join(sorted(chunk_labels))} for assets failed: {e}"))
            continue
        if got.value is None:
            takes.append(make_take(Stage.ASSETS, purpose="extract_assets", inputs=inputs, rendered=rendered, text=text,
                                   seed=seed + n, target=chunk.key, attempts=got.attempts,
                                   error="The model gave no answer for these scenes."))
            continue
        value = got.value if got.ok else repair_extraction(got.value, chunk_labels, set(known))
        screened = screen_findings(value, chunk, places, script_texts, labels)
        value = screened.value
        found = candidates_from_model(value, chunk, labels, known, unsure=set(screened.unsure))
        assets = merge_candidates(assets, found, offer=offer)
        hashes[chunk.key] = chunk.hash
        takes.append(make_take(Stage.ASSETS, purpose="extract_assets", inputs=inputs, rendered=rendered, text=text,
                               seed=seed + n, target=chunk.key, attempts=got.attempts, seconds=got.seconds,
                               messages=got.messages, output={**value.model_dump(mode="json"), "dropped": screened.dropped,
                                                       "offered": screened.notes}))
    # 4. People the story names whom the script names and the model missed; look changes the
    #    script states and the model missed (both also when a model call failed).
    todo_scenes = [s for c in todo for s in c.scenes]
    assets = merge_candidates(assets, story_cast(assets, todo_scenes, people), offer=offer)
    assets = changes_where_told(assets, script.scenes)  # the model's change where its person is not: where told
    assets = add_look_changes(assets, todo_scenes)
    assets = add_story_look_changes(assets, script, story_text, {s.id for s in todo_scenes}, people or None)
    assets = without_old_looks_again(assets, script, story_text, people or None)
    # 5. Each character's description starts with the story's own words for how they look, and
    #    keeps only the model's words that do not contradict them (`story_look.described`).
    assets = described(assets, story_text, people or None)
    assets = masters_before_changes(assets, script, story_text, people or None)  # the look before any change
    assets = order_by_script(assets, script)
    return Extracted(AssetRegistry(assets=assets, chunk_hashes=hashes), takes, len(todo))


# --- master references -------------------------------------------------------------------------------


def reference_prompt(asset: Asset, style: VisualStyle, rules: list[str],
                     templates: TemplateSource = default_templates, guidance: str = "") -> tuple[str, str, str]:
    """The (prompt, negative prompt, template id) of a master reference, built by code."""
    t = templates(f"assets/ref_{asset.category.value}")
    words = style_words(style)
    description = asset.description.strip().rstrip(".") or f"a {asset.category.value} of the film"
    if guidance.strip():
        description += f", {guidance.strip().rstrip('.')}"
    values = {"name": asset.name, "description": description,
              "style": f"Style: {words}." if words else "",
              "rules": f"Story rules: {'; '.join(r.rstrip('.') for r in rules)}." if rules else ""}
    prompt = " ".join(render(t, values, VARIABLES).split())
    return prompt, NEGATIVE[asset.category], t.id


def reference_size(category: AssetCategory, image_engine: ImageEngine,
                   size: ReferenceSize | None = None) -> tuple[int, int, int]:
    """(width, height, steps) of a master reference: `size`'s, else the category's size at 20 steps.

    The tiny profile's random-weight models draw noise whatever the size, so they get a small
    image in 2 steps (`run --until assets` on a CPU in seconds, through the same code path).
    """
    width, height = REFERENCE_SIZE[category]
    steps = 20
    if str(getattr(image_engine, "model_id", "")).startswith("tiny/"):
        width, height, steps = width // 8, height // 8, 2
    if size is None:
        return width, height, steps
    return size.width or width, size.height or height, size.steps or steps


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def plate(image: Image.Image) -> Cutout:
    """A location plate: nothing is cut out (the plate is all background)."""
    rgb = image.convert("RGB")
    rgba = rgb.copy()
    rgba.putalpha(255)
    return Cutout(rgba=rgba, white=rgb, mask=Image.new("L", rgb.size, 255))


def _style_reference(style: VisualStyle, read_media: Any) -> Reference | None:
    for key in style.images:
        try:
            return Reference(load_image(read_media(key)).convert("RGB"), scale=style.influence, key=key)
        except Exception:
            continue
    return None


def _reference_take(asset: Asset, *, purpose: str, prompt: list[dict[str, str]], inputs: Any, seed: int | None,
                    engine: str, model_id: str, template: str, seconds: float, cut: Cutout | None,
                    put_media: Any, error: str = "") -> Take:
    media: list[str] = []
    output = None
    if cut is not None:
        rgba = put_media(png_bytes(cut.rgba), "png")
        white = put_media(png_bytes(cut.white.convert("RGB")), "png")
        media = [rgba, white]
        output = {"asset_id": asset.id, "rgba": rgba, "white": white}
    return Take(stage=Stage.ASSETS, target=f"reference:{asset.id}", purpose=purpose, inputs_hash=content_hash(inputs),
                template=template, engine=engine, model_id=model_id, seed=seed, seconds=round(seconds, 3),
                ok=not error, error=error, prompt=prompt, output=output, media=media)


def make_reference(asset: Asset, style: VisualStyle, rules: list[str], engines: EngineProvider, *, seed: int,
                   put_media: Any, read_media: Any = None, templates: TemplateSource = default_templates,
                   guidance: str = "", size: ReferenceSize | None = None) -> Take:
    """Generate one master reference of `asset` on a clean background; never raises EngineError.

    The take's output is {"asset_id", "rgba", "white"} (media keys of the two PNGs).
    """
    prompt, negative, template = reference_prompt(asset, style, rules, templates, guidance)
    messages = [{"role": "prompt", "content": prompt}, {"role": "negative", "content": negative}]
    image_engine: ImageEngine | None = None
    inputs: dict[str, Any] = {"prompt": prompt, "negative": negative, "seed": seed}
    t0 = time.perf_counter()
    try:
        image_engine = engines.image("master_reference")
        width, height, steps = reference_size(asset.category, image_engine, size)
        request = ImageRequest(prompt=prompt, negative_prompt=negative, width=width, height=height, steps=steps,
                               seed=seed, style=_style_reference(style, read_media) if read_media else None)
        inputs |= {"size": [width, height], "steps": steps, "style_images": list(style.images),
                   "influence": style.influence}
        image = image_engine.generate(request)
        cut = plate(image) if asset.category == AssetCategory.LOCATION else engines.matting().cutout(image)
    except Exception as e:  # EngineError from the registry, or a raw OOM from an unwrapped engine
        return _reference_take(asset, purpose="master_reference", prompt=messages, inputs=inputs, seed=seed,
                               engine=str(getattr(image_engine, "backend", "")),
                               model_id=str(getattr(image_engine, "model_id", "")), template=template,
                               seconds=time.perf_counter() - t0, cut=None, put_media=put_media,
                               error=f"The master reference of {asset.name} could not be made: {describe_error(e)}")
    return _reference_take(asset, purpose="master_reference", prompt=messages, inputs=inputs, seed=seed,
                           engine=str(getattr(image_engine, "backend", "")),
                           model_id=str(getattr(image_engine, "model_id", "")), template=template,
                           seconds=time.perf_counter() - t0, cut=cut, put_media=put_media)


def upload_reference(asset: Asset, data: bytes, engines: EngineProvider, *, put_media: Any, matte: bool | None = None) -> Take:
    """An uploaded image as a reference take (background removed unless `matte` is False or a location)."""
    image = load_image(data, name="The uploaded file")
    do_matte = (asset.category != AssetCategory.LOCATION) if matte is None else matte
    inputs = {"upload": content_hash(hashlib.sha256(data).hexdigest()), "matte": do_matte}
    t0 = time.perf_counter()
    try:
        cut = engines.matting().cutout(image) if do_matte else plate(image)
    except EngineError as e:
        return _reference_take(asset, purpose="upload_reference", prompt=[], inputs=inputs, seed=None, engine="user",
                               model_id="", template="", seconds=time.perf_counter() - t0, cut=None,
                               put_media=put_media, error=f"The background of the upload could not be removed: {e}")
    return _reference_take(asset, purpose="upload_reference", prompt=[], inputs=inputs, seed=None, engine="user",
                           model_id="", template="", seconds=time.perf_counter() - t0, cut=cut, put_media=put_media)


def with_reference(sa: StyleAndAssets, take: Take, *, choose: bool | None = None) -> StyleAndAssets:
    """Record a reference take in its asset's history; choose it when asked, or when none is chosen."""
    if not take.ok or not take.output:
        return sa
    asset_id = str(take.output["asset_id"])
    assets = []
    for a in sa.registry.assets:
        if a.id == asset_id:
            update: dict[str, Any] = {"history": [*a.history, take.id]}
            if choose or (choose is None and a.master_ref is None):
                update |= {"master_ref": take.output["rgba"], "master_ref_white": take.output["white"]}
            a = a.model_copy(update=update)
        assets.append(a)
    return sa.model_copy(update={"registry": sa.registry.model_copy(update={"assets": assets})})


def to_pregenerate(registry: AssetRegistry) -> list[Asset]:
    """Assets the checklist keeps that have no master reference yet."""
    return [a for a in registry.assets if a.pregenerate and not a.removed and not a.offered and a.master_ref is None]


# --- adaptive description ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A description proposed from an image, or the user's own words when no vision model is available."""

    text: str
    from_vision: bool
    note: str


def propose_description(asset: Asset, image: Image.Image, vision: Any, *, words: str = "") -> Proposal:
    """Ask the vision engine to describe `image` as `asset`; without one, say so and keep the user's words."""
    if not getattr(vision, "available", False):
        reason = str(getattr(vision, "reason", "")) or "No vision model is available on this profile."
        fallback = words.strip() or asset.description
        return Proposal(fallback, False, f"{reason} Your own words are used instead.")
    hint = f"The {asset.category.value} '{asset.name}'. {asset.description}".strip()
    text = str(vision.describe(image, hint=hint)).strip()
    return Proposal(text, True, f"Described by {getattr(vision, 'model_id', 'the vision model')}.")


# --- the stage -----------------------------------------------------------------------------------------


def saved(ctx: StageContext) -> StyleAndAssets:
    return ctx.inputs.assets or StyleAndAssets()


def _script(ctx: StageContext) -> Script:
    script = ctx.inputs.script
    if script is None or not script.scenes:
        raise InputError("Write or import the master script before extracting assets.")
    return script


def _voiced(ctx: StageContext, registry: AssetRegistry, script: Script) -> AssetRegistry:
    """The registry with a default voice stored on each speaking character that has none."""
    from aiuteur.pipeline.voices import load_voice, with_default_voices

    chosen = load_voice(ctx.engines)
    if chosen.engine is None:
        return registry
    return with_default_voices(registry, script, chosen.engine.voices())


def _asset(sa: StyleAndAssets, asset_id: str) -> Asset:
    try:
        return sa.registry.get(asset_id)
    except KeyError:
        raise InputError(f"There is no asset {asset_id!r} in the registry; extract the assets or pick one from the list.") from None


def _summary(sa: StyleAndAssets, takes: list[Take]) -> Take:
    """The take the saved artifact points at; its output is the whole StyleAndAssets."""
    return Take(stage=Stage.ASSETS, purpose="assets", engine="code",
                inputs_hash=content_hash({"takes": [t.id for t in takes]}), output=sa.model_dump(mode="json"),
                seconds=round(sum(t.seconds for t in takes), 3))


def _references(ctx: StageContext, sa: StyleAndAssets, assets: list[Asset], rules: list[str],
                takes: list[Take], size: ReferenceSize) -> StyleAndAssets:
    for n, asset in enumerate(assets):
        if ctx.cancelled():
            break
        ctx.report(n / max(1, len(assets)), f"Master reference of {asset.name}")
        take = make_reference(asset, sa.style, rules, ctx.engines, seed=ctx.seed + n, put_media=ctx.put_media,
                              read_media=ctx.read_media, templates=ctx.template, guidance=ctx.guidance,
                              size=size)
        takes.append(take)
        if not take.ok:
            break  # a failure is usually the model itself (memory, weights): leave the rest for later
        sa = with_reference(sa, take)
    return sa


def _upload(ctx: StageContext, key: str) -> bytes:
    """The bytes of an uploaded file (Runner.upload gave its key)."""
    try:
        data = ctx.read_media(key)
    except (OSError, AiuteurError):
        data = b""
    if not data:
        raise InputError("The uploaded image is no longer there; upload it again.")
    return data


def _prose(story: StoryInput | None) -> str:
    """The text of a prose story's primary source; '' for an imported screenplay."""
    if story is None or story.mode == InputMode.SKIP_TO_SCRIPT or story.primary is None:
        return ""
    return story.primary.text


def _story_people(story: StoryInput | None) -> list[Person]:
    """The roster of a prose story's primary source; none for an imported screenplay (its cues
    are the cast, and its headings and transitions are capitalised words, not people)."""
    text = _prose(story)
    return story_people(text) if text else []


def run(ctx: StageContext) -> StageOutcome:
    """Runner entry point; see the module docstring for the actions."""
    story = ctx.inputs.story
    rules = story_rules(story)
    current = saved(ctx)
    action = ctx.action
    takes: list[Take] = []
    # 1. Extraction (incremental), then references for the assets the checklist keeps.
    if isinstance(action, Extract):
        script = _script(ctx)
        got = extract_assets(script, current.registry, ctx.engines, seed=ctx.seed, rules=rules,
                             templates=ctx.template, report=ctx.report, cancelled=ctx.cancelled,
                             people=_story_people(story), story_text=_prose(story))
        takes += got.takes
        sa = current.model_copy(update={"registry": _voiced(ctx, got.registry, script)})
        if action.references:
            sa = _references(ctx, sa, to_pregenerate(sa.registry), rules, takes, action)
    # 2. References only: every kept asset without one, or one more take for one asset.
    elif isinstance(action, MasterReferences):
        if not current.registry.assets:
            raise InputError("Extract the assets before making master references.")
        sa = _references(ctx, current, to_pregenerate(current.registry), rules, takes, action)
    elif isinstance(action, MasterReference):
        asset = _asset(current, action.asset_id)
        take = make_reference(asset, current.style, rules, ctx.engines, seed=ctx.seed, put_media=ctx.put_media,
                              read_media=ctx.read_media, templates=ctx.template, guidance=ctx.guidance,
                              size=action)
        takes.append(take)
        sa = with_reference(current, take)
    elif isinstance(action, UploadReference):
        asset = _asset(current, action.asset_id)
        data = _upload(ctx, action.image_key)
        take = upload_reference(asset, data, ctx.engines, put_media=ctx.put_media,
                                matte=action.remove_background)
        takes.append(take)
        sa = with_reference(current, take, choose=True)
    # 3. Adaptive description: a proposal only; the user replaces or merges (assets_ops).
    elif isinstance(action, DescribeAsset):
        asset = _asset(current, action.asset_id)
        data = _upload(ctx, action.image_key)
        target = action.target
        image = load_image(bytes(data), name="The uploaded file").convert("RGB")
        vision = ctx.engines.vision()
        t0 = time.perf_counter()
        inputs = {"image": hashlib.sha256(bytes(data)).hexdigest(), "asset": asset.id, "words": ctx.guidance}
        try:
            proposal = propose_description(asset, image, vision, words=ctx.guidance)
        except EngineError as e:
            return StageOutcome(takes=[Take(stage=Stage.ASSETS, target=target, purpose="describe_asset",
                                            inputs_hash=content_hash(inputs), ok=False, engine="vision",
                                            error=f"The image could not be described: {e}")])
        take = Take(stage=Stage.ASSETS, target=target, purpose="describe_asset", inputs_hash=content_hash(inputs),
                    engine="vision" if proposal.from_vision else "user",
                    model_id=str(getattr(vision, "model_id", "")), seconds=round(time.perf_counter() - t0, 3),
                    output={"asset_id": asset.id, "proposal": proposal.text, "from_vision": proposal.from_vision,
                            "note": proposal.note})
        return StageOutcome(takes=[take])
    # 4. Voices: a character's voice, or a spoken preview of it.
    elif isinstance(action, SetVoice | PreviewVoice):
        from aiuteur.pipeline import voices

        return voices.run_voice_action(ctx, current, action)
    else:
        raise InputError(f"{type(action).__name__} is not an action of the assets stage.")
    final = _summary(sa, takes)
    return StageOutcome(takes=[*takes, final], artifact=sa, take_id=final.id)


__all__ = [
    "VARIABLES",
    "Candidate",
    "Chunk",
    "ChunkExtraction",
    "Extracted",
    "FoundAsset",
    "FoundChange",
    "Proposal",
    "add_look_changes",
    "canonical",
    "changed_chunks",
    "chunks",
    "deterministic",
    "display_name",
    "extract_assets",
    "look_changes",
    "make_reference",
    "merge_candidates",
    "norm",
    "propose_description",
    "reference_prompt",
    "run",
    "scene_labels",
    "scene_place",
    "scene_text",
    "screen_findings",
    "to_pregenerate",
    "upload_reference",
    "with_reference",
]
