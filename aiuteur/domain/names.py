"""Does this text name this character, place or thing? One rule for every stage.

A name is found as whole words, in any spacing, in the case the text writes it:

- "Marisol's", "Marisol’ll" and "MARISOL" name Marisol; "Rose" in "rosewood", "Rose-tinted"
  or "O'Rose" does not.
- A person's name written with a capital names them only where the text writes it with a
  capital: "a rose" never names Rose, "Rose" and "ROSE" do. A descriptive alias ("Prince of
  Denmark"), things and places match in any case.
- A person is also named by each word of their name that is not a title ("Maestra Solveig Brandt"
  -> "Solveig", "Brandt") and that no other person of the cast shares (two Abernathys are never
  told apart by "Abernathy").
- Things may be named in the plural ("lanterns" names the lantern); people are not.
- Scripts written without spaces between words (Chinese, Japanese, Thai…) and Korean, whose
  particles join the name ("지민이"), have no word edges: "美咲は" names 美咲. Accented names match
  however the text composes them ("José" typed as e + combining accent).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from aiuteur.domain.artifacts import Asset, AssetCategory

#: Words before or inside a person's name that are not the name: titles, ranks, articles, particles.
TITLES = frozenset({
    "the", "mr", "mrs", "ms", "miss", "dr", "sir", "lady", "lord", "old", "young", "little", "big", "maestra",
    "maestro", "madam", "madame", "mister", "officer", "captain", "master", "mistress", "aunt", "uncle", "nana",
    "father", "mother", "brother", "sister", "saint", "professor", "doctor", "detective", "inspector", "señor",
    "señora", "señorita", "don", "doña", "monsieur", "mademoiselle", "herr", "frau", "van", "von", "der", "den",
    "del", "della", "des", "les", "bin", "ibn", "abu", "san", "santa", "king", "queen", "prince", "princess",
    "duke", "duchess", "count", "countess", "baron", "baroness", "sergeant", "sgt", "lieutenant", "colonel",
    "general", "agent", "judge", "reverend", "granny", "grandma", "grandpa",
})

_PARENS = re.compile(r"\([^)]*\)")
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
_APOSTROPHES = "'’"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def clean(name: str) -> str:
    """A name as written, parentheticals ("(V.O.)", "(CONT'D)") dropped and spaces single."""
    return " ".join(_nfc(_PARENS.sub(" ", name)).split())


def name_key(name: str) -> str:
    """What two spellings of one name share: `clean`, any case ("ROSE" and "Rose" have one key)."""
    return clean(name).casefold()


def _unspaced(ch: str) -> bool:
    return bool(_UNSPACED.match(ch))


def _wordy(ch: str) -> bool:
    """A character that would continue a word in a spaced script (letters, marks, digits)."""
    return (unicodedata.category(ch)[0] in "LMN" or ch == "_") and not _unspaced(ch)


def name_words(name: str) -> list[str]:
    """The words of a person's name that may name them alone: not a title or particle, three
    letters or more (two in scripts without spaces, where a given name is often two signs)."""
    out = []
    for raw in clean(name).split():
        w = raw.strip(".,;:!?\"“”‘’'")
        if w.casefold() in TITLES or not any(c.isalpha() for c in w):
            continue
        if len(w) >= 3 or (len(w) >= 2 and all(_unspaced(c) for c in w)):
            out.append(w)
    return out


def name_forms(name: str, aliases: Iterable[str] = (), *, person: bool = False, others: Iterable[str] = ()) -> list[str]:
    """Every way the text may name it: the name and its aliases and, for a person, each word of
    a name of several words that is not a title and that no name in `others` (the rest of the
    cast) shares. An alias is split so only when it is a personal name ("Nick Hoyle"), never a
    description ("Prince of Denmark" is not named by "Denmark")."""
    names = [n for n in (clean(x) for x in [name, *aliases]) if n]
    forms = list(names)
    if person:
        own = {name_key(n) for n in names}
        taken = {w.casefold() for o in others if name_key(o) not in own for w in name_words(o)}
        split = [n for k, n in enumerate(names) if len(n.split()) > 1 and (k == 0 or _personal(n))]
        forms += [w for n in split for w in name_words(n) if w.casefold() not in taken]
    seen: dict[str, str] = {}
    for f in forms:
        seen.setdefault(name_key(f), f)
    return list(seen.values())


def _personal(name: str) -> bool:
    """True for a name written as a personal name: no word of it starts in lower case."""
    return not any(w[:1].islower() for w in name.split())


def asset_forms(asset: Asset, cast: Iterable[Asset] = ()) -> list[str]:
    """`name_forms` of an asset; `cast` is the other assets (people's words they share are left out)."""
    person = asset.category == AssetCategory.CHARACTER
    others = [n for a in cast if a.id != asset.id and a.category == AssetCategory.CHARACTER and not a.removed
              for n in [a.name, *a.aliases]]
    return name_forms(asset.name, asset.aliases, person=person, others=others)


@lru_cache(maxsize=4096)
def _pattern(form: str, plural: bool) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(w) for w in form.split())
    return re.compile(body + (r"(?P<plural>e?s)?" if plural else ""), re.IGNORECASE)


def _edge_ok(text: str, start: int, end: int) -> bool:
    """True when text[start:end] is not part of a longer word ("rosewood", "O'Rose", "Rose-tinted")."""
    first, last = text[start], text[end - 1]
    if start > 0 and not _unspaced(first):
        before = text[start - 1]
        if _wordy(before):
            return False
        if before in _APOSTROPHES + "-" and start > 1 and _wordy(text[start - 2]):
            return False
    if end < len(text) and not _unspaced(last):
        after = text[end]
        if _wordy(after):
            return False
        if after == "-" and end + 1 < len(text) and _wordy(text[end + 1]):
            return False
    return True


def _capital_ok(form: str, found: str) -> bool:
    """A personal name written with a capital is named only by a capital ("Rose", "ROSE", never
    "rose"); a descriptive alias ("Prince of Denmark") in any case."""
    return not (_personal(form) and form[:1].isupper()) or not found[:1].islower()


def spans(text: str, forms: Iterable[str], *, proper: bool = False, plural: bool = False) -> list[tuple[int, int]]:
    """Where in `text` (composed as NFC, which keeps every offset of NFC text) any of `forms` is named.

    `proper`: the forms are a person's name (case as above); `plural`: a thing, which its plural names.
    """
    text = _nfc(text)
    found: set[tuple[int, int]] = set()
    for form in forms:
        form = clean(form)
        if not form:
            continue
        for m in _pattern(form, plural and not proper).finditer(text):
            ends = [m.end()]
            if m.groupdict().get("plural"):
                ends.append(m.start("plural"))
            end = next((e for e in ends if _edge_ok(text, m.start(), e)), None)
            if end is not None and (not proper or _capital_ok(form, m.group())):
                found.add((m.start(), end))
    return sorted(found)


def names(text: str, forms: Iterable[str], *, proper: bool = False, plural: bool = False) -> bool:
    """True when `text` names any of `forms` (see the module docstring)."""
    return bool(spans(text, forms, proper=proper, plural=plural))


def names_asset(text: str, asset: Asset, cast: Iterable[Asset] = ()) -> bool:
    """True when `text` names the asset: any of its forms, a person as a person, a thing also in the plural."""
    person = asset.category == AssetCategory.CHARACTER
    return names(text, asset_forms(asset, cast), proper=person, plural=not person)


def first_named(text: str, asset: Asset, cast: Iterable[Asset] = ()) -> int | None:
    """Offset of the first place `text` names the asset, or None."""
    person = asset.category == AssetCategory.CHARACTER
    hits = spans(text, asset_forms(asset, cast), proper=person, plural=not person)
    return hits[0][0] if hits else None


def named_in(text: str, people: Iterable[str]) -> list[str]:
    """Which of the `people` (names, as a cast) the text names, in the order given."""
    cast = list(people)
    return [p for p in cast if names(text, name_forms(p, person=True, others=cast), proper=True)]


def is_called(name: str, forms: Iterable[str]) -> bool:
    """True when `name` (a cue, a typed name) is one of `forms` itself, in any case or spacing."""
    key = name_key(name)
    return bool(key) and any(name_key(f) == key for f in forms)
