"""One rule for "does this text name this character, place or thing", case by case."""

from __future__ import annotations

import unicodedata

import pytest

from aiuteur.domain.artifacts import Asset, AssetCategory
from aiuteur.domain.names import asset_forms, first_named, is_called, name_forms, named_in, names_asset

C, P, L = AssetCategory.CHARACTER, AssetCategory.PROP, AssetCategory.LOCATION


def person(name: str, *aliases: str) -> Asset:
    return Asset(name=name, category=C, aliases=list(aliases))


@pytest.mark.parametrize(
    ("text", "name", "named"),
    [
        ("Marisol's hands shake.", "Marisol", True),  # a possessive names her
        ("Marisol’s hands shake.", "Marisol", True),  # with a typographic apostrophe too
        ("Marisol'll be late.", "Marisol", True),
        ("MARISOL turns.", "Marisol", True),  # a first appearance in capitals
        ("A rosewood box.", "Rose", False),  # part of a longer word
        ("Rose-tinted glasses.", "Rose", False),  # part of a hyphenated word
        ("Sean O'Rose waves.", "Rose", False),
        ("She picks a rose.", "Rose", False),  # a common noun is not the person
        ("Rose picks a rose.", "Rose", True),
        ("'Rose,' he calls.", "Rose", True),  # in quotes
        ("Hello, Rose.", "Rose", True),
        ("Ann enters.", "Anna", False),  # a shorter name is not a longer one
        ("Annabel enters.", "Anna", False),
        ("Two Roses.", "Rose", False),  # a person is not named in the plural
        ("JOSÉ runs.", "José", True),  # accented names, any case
        ("José runs.", "José", True),
        (unicodedata.normalize("NFD", "José runs."), "José", True),  # typed with a combining accent
        ("Jose runs.", "José", False),  # a different spelling is a different name
        ("Наташа смеётся.", "Наташа", True),  # Cyrillic
        ("НАТАША смеётся.", "Наташа", True),
        ("Наташин дом.", "Наташа", False),
        ("美咲は走る。", "美咲", True),  # Japanese: no spaces between words
        ("Annaは走る。", "Anna", True),  # a Latin name inside Japanese text
        ("지민이 웃는다.", "지민", True),  # Korean: the particle joins the name
        ("ยิ้มแล้วมาลีก็เดิน", "มาลี", True),  # Thai
        ("Σοφία γελάει.", "Σοφία", True),  # Greek
        ("مريم تضحك.", "مريم", True),  # Arabic, as a word of its own
    ],
)
def test_a_person_is_named_as_a_filmmaker_reads_it(text: str, name: str, named: bool) -> None:
    assert names_asset(text, person(name)) is named


def test_a_unique_surname_or_given_name_names_the_person_a_shared_one_does_not() -> None:
    brandt = person("Maestra Solveig Brandt")
    assert names_asset("Brandt lifts the baton.", brandt)
    assert names_asset("Solveig lifts the baton.", brandt)
    assert not names_asset("The maestra lifts the baton.", brandt)  # a title alone is nobody
    ruth, tom = person("Ruth Abernathy"), person("Tom Abernathy")
    assert not names_asset("Abernathy sighs.", ruth, [ruth, tom])  # two Abernathys: the surname is no one's
    assert names_asset("Abernathy sighs.", ruth, [ruth])
    assert names_asset("Ruth sighs.", ruth, [ruth, tom]) and not names_asset("Ruth sighs.", tom, [ruth, tom])
    assert names_asset("Ruth Abernathy sighs.", ruth, [ruth, tom])
    assert named_in("Ruth and Tom argue; Abernathy senior watches.", ["Ruth Abernathy", "Tom Abernathy"]) == [
        "Ruth Abernathy", "Tom Abernathy"]


def test_aliases_and_parentheticals() -> None:
    hamlet = person("Hamlet", "Prince of Denmark", "the Dane")
    assert names_asset("The prince of Denmark broods.", hamlet)  # an alias as written, any case
    assert names_asset("The Dane broods.", hamlet)
    assert name_forms("HAMLET (V.O.)") == ["HAMLET"]
    assert is_called("hamlet", asset_forms(hamlet)) and is_called("  the  DANE ", asset_forms(hamlet))
    assert is_called("SOLVEIG", asset_forms(person("Solveig Brandt")))
    assert not is_called("", asset_forms(hamlet)) and not is_called("Dane", asset_forms(hamlet))


def test_things_and_places_match_any_case_and_the_plural() -> None:
    lantern = Asset(name="Lantern", category=P)
    assert names_asset("She lights the lanterns.", lantern)
    assert names_asset("The lantern's glow.", lantern)
    assert names_asset("LANTERN", lantern)
    assert not names_asset("A lanternfish swims.", lantern)
    box = Asset(name="Glass box", category=P)
    assert names_asset("the glass\nbox", box)  # any spacing, over a line break
    assert not names_asset("the glass", box)  # a thing's name is not split into words
    cafe = Asset(name="Café Lumière", category=L)
    assert names_asset("Back at the CAFÉ LUMIÈRE.", cafe)


def test_first_named_finds_the_earliest_form() -> None:
    mara = person("Mara Quinn")
    assert first_named("The door opens and Quinn, then Mara, enter.", mara) == 19
    assert first_named("Nobody here.", mara) is None
