"""The eval corpus: short stories written for the repository, each with a JSON of labels beside it.

    evals/corpus/<slug>.md     the story (the first `# ` line is its title)
    evals/corpus/<slug>.json   who is in it, where it happens, and who changes how they look

Labels are what a careful reader would list; the metrics compare the pipeline's artifacts to
them by name and alias (case-insensitive), so a label names what the story names.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from aiuteur.domain import InputError
from aiuteur.settings import REPO_ROOT

CORPUS_DIR = REPO_ROOT / "evals" / "corpus"


class _Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CharacterLabel(_Label):
    name: str
    aliases: list[str] = Field(default_factory=list)
    speaks: bool = Field(description="True when the story gives this character lines of dialogue.")
    look: list[str] = Field(default_factory=list, description="Words the story says of how they look before any "
                            "change (age, kind, clothes, hair, skin); their description should use one.")

    @property
    def names(self) -> list[str]:
        return [self.name, *self.aliases]


class PlaceLabel(_Label):
    name: str
    aliases: list[str] = Field(default_factory=list, description="Words a scene heading for this place would use.")

    @property
    def names(self) -> list[str]:
        return [self.name, *self.aliases]


class LookChangeLabel(_Label):
    character: str = Field(description="The `name` of a labelled character.")
    change: str = Field(description="What changes, in words.")
    keywords: list[str] = Field(min_length=1, description="Words an asset state showing the change would use.")
    place: list[str] = Field(min_length=1, description="Words of the headings of scenes where the new look shows.")
    told_by: list[str] = Field(default_factory=list, description=(
        "Words a scene telling the change would use (the act: 'sets it on Oriel's head'); the new look "
        "must not show in a scene before the first one that says them."))


class StoryLabels(_Label):
    title: str
    genre: str
    form: str = ""
    characters: list[CharacterLabel]
    unnamed_speakers: list[str] = Field(default_factory=list)
    places: list[PlaceLabel]
    look_changes: list[LookChangeLabel] = Field(default_factory=list)

    def character(self, name: str) -> CharacterLabel:
        for c in self.characters:
            if c.name == name:
                return c
        raise InputError(f"The look change names {name!r}, who is not among the labelled characters.")


class CorpusStory(BaseModel):
    model_config = ConfigDict(frozen=True)

    slug: str
    path: Path
    text: str
    labels: StoryLabels

    @property
    def words(self) -> int:
        return len(self.text.split())


def load_story(md: Path) -> CorpusStory:
    """One story and its labels; a label file that is missing or malformed is an InputError."""
    labels_path = md.with_suffix(".json")
    if not labels_path.is_file():
        raise InputError(f"{md.name} has no labels: write {labels_path.name} beside it.")
    try:
        labels = StoryLabels.model_validate_json(labels_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise InputError(f"{labels_path.name} is not a valid label file: {e}") from e
    for change in labels.look_changes:
        labels.character(change.character)
    return CorpusStory(slug=md.stem, path=md, text=md.read_text(encoding="utf-8"), labels=labels)


def load_corpus(directory: Path = CORPUS_DIR, only: list[str] | None = None) -> list[CorpusStory]:
    """The corpus in name order, or only the slugs asked for (an unknown slug is an InputError)."""
    stories = [load_story(p) for p in sorted(Path(directory).glob("*.md"))]
    if not only:
        return stories
    by_slug = {s.slug: s for s in stories}
    unknown = [s for s in only if s not in by_slug]
    if unknown:
        raise InputError(f"No corpus story {', '.join(unknown)}; there is {', '.join(by_slug)}.")
    return [by_slug[s] for s in only]
