"""Bounded generation schemas used by the engine tests (small bounds keep the tiny model fast)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Word = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ,.'!?-]{1,12}$")]
Short = Annotated[str, Field(min_length=1, max_length=10)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variant(Strict):
    """One of exactly three treatment variants."""

    title: Word
    logline: Word


class Treatment(Strict):
    variants: list[Variant] = Field(min_length=3, max_length=3)


class ShotSize(StrEnum):
    wide = "wide"
    medium = "medium"
    close = "close"
    insert = "insert"


class Shot(Strict):
    size: ShotSize
    angle: Literal["eye", "high", "low"]
    characters: list[Word] = Field(max_length=2)
    seconds: int = Field(ge=1, le=8)


class Scene(Strict):
    heading: Word
    int_ext: Literal["INT", "EXT", "INT/EXT"]
    shots: list[Shot] = Field(min_length=1, max_length=3)


class Beat(Strict):
    name: Short
    done: bool
    note: Short | None = None


class BeatSheet(Strict):
    beats: list[Beat] = Field(min_length=1, max_length=3)


Row = Annotated[list[Literal["x", "o", "-"]], Field(min_length=1, max_length=3)]


class Grid(Strict):
    """Nested lists."""

    rows: list[Row] = Field(min_length=1, max_length=3)


# -- unbounded schemas, each broken in one way ----------------------------------------------------


class FreeString(Strict):
    title: str


class FreeList(Strict):
    names: list[Word]


class ExtraKeys(BaseModel):
    title: Word


class FreeNumber(Strict):
    seconds: float


class Inner(Strict):
    text: str


class DeepFree(Strict):
    items: list[Inner] = Field(max_length=2)
