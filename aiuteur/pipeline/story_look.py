"""How the story says each character looks, read by code, as the start of their description.

The offline model invents character descriptions, often against the story, and copies one
formula from character to character (the real run of the-salt-crown made Oriel, who "is nine",
"a tall, slender woman … wearing a pair of glasses and a black hat", and Brannock, a talking goat,
"a tall, muscular man … wearing a pair of glasses and a black hat"). Those words reach every
reference image and frame prompt. The story's own words come first:

- `story_looks`: for each character, the clauses of the story that say their age, kind, clothes,
  hair, skin or face ("Oriel is nine", "Oriel wears a brown smock", "Brannock is not a clever
  goat, but he is a talking one", "Vessaly's skin is the grey of a winter sky"), before the story
  changes their look (those changes are state changes: `assets.story_look_changes`), in the third
  person, clipped;
- `described`: each character's description as the story's words, then the model's sentences that
  survive: not a formula copy of another character's sentence (names and pronouns masked,
  `screen_words.is_formula_copy`), saying something of a look (not where one stands or what one
  does), and not of another kind or age than the story says ("a young woman" for a grandmother).
  Where the story says nothing, the model's words minus formula copies. The story's words are
  kept on the asset (`Asset.story_look`), so the registry says where the description came from.

English rules, no model: the same story always gives the same words, and a test states the rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiuteur.domain import Asset, AssetCategory
from aiuteur.domain.names import asset_forms, spans
from aiuteur.pipeline.roster import Person, in_third_person, letter_voices, narrator, story_people
from aiuteur.pipeline.screen_words import (
    GARMENT,
    LOOK_CHANGE,
    garments,
    is_formula_copy,
    says_a_look,
    says_look_change,
    sentences,
    sentences_whole,
    story_paragraphs,
    unquoted,
)

#: The most characters of the story's words a description starts with.
MAX_LOOK_CHARS = 240
#: The most characters of a whole description (the model's words after the story's).
MAX_DESCRIPTION_CHARS = 400

_NUMBER = (r"(?:\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
           r"|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
           r"(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?")
_AGE = re.compile(rf"\b(?:is|was|turned|turns)\s+(?:nearly\s+|almost\s+|only\s+|just\s+|barely\s+)?{_NUMBER}"
                  rf"(?:\s+years?\s+old|\s+and\s+a\s+half)?(?=\W|$)|\b{_NUMBER}-year-old\b|\baged\s+{_NUMBER}\b",
                  re.IGNORECASE)
#: Kinds of people and creatures a story calls someone ("a talking goat", "a grandmother").
_PERSON_KIND = (r"man|woman|men|women|boy|girl|child|kid|baby|toddler|teenager|teen|lady|gentleman|grandmother|grandfather"
                r"|grandma|grandpa|granny|gran|nana|widow|widower|old\s+(?:man|woman)|bride|groom|student|pupil")
_CREATURE = (r"goat|dog|cat|horse|pony|donkey|cow|bull|sheep|pig|fox|wolf|bear|bird|crow|raven|owl|rabbit|hare|mouse|rat"
             r"|dragon|robot|ghost|spirit|troll|giant|elf|fairy|witch|wizard|queen|king|prince|princess")
_KIND = re.compile(rf"\b(?:{_PERSON_KIND}|{_CREATURE})s?\b", re.IGNORECASE)
#: "Brannock is not a clever goat" / "She was a big woman": a clause that says what someone is.
_IS_A = re.compile(r"^\W*(?:\S+\s+){0,3}?(?:is|was|'s)\s+(?:not\s+|still\s+|only\s+|just\s+)?(?:a|an)\s+", re.IGNORECASE)
#: What a look is made of besides garments (as `screen_words.says_a_look`, less what one holds or does).
_LOOK_WORDS = re.compile(
    r"\b(?:hair|haired|skin|skinned|eyes|eyed|face|beard|bearded|moustache|mustache|freckles|freckled|bald|balding"
    r"|make-?up|lipstick|scars?|scarred|tattoo(?:s|ed)?|glasses|spectacles|pale|tall|short|small|tiny|huge|big"
    r"|thin|slender|skinny|stout|plump|fat|broad|stooped|wrinkled|grey|gray|white-haired|grey-haired|wearing|wears"
    r"|wore|dressed|in\s+(?:a|an|her|his|their)\s+(?:[\w'’-]+\s+){0,2}?" + GARMENT + r")\b", re.IGNORECASE)
_GARMENT_RE = re.compile(r"(?<![\w-])" + GARMENT + r"(?![\w-])", re.IGNORECASE)
#: "the hem of Oriel's brown smock": what a person wears, said in passing.
_WHOSE = re.compile(r"[’']s\s+((?:[\w-]+\s+){0,3}?" + GARMENT + r")(?![\w-])", re.IGNORECASE)
#: Clauses of a sentence: a look is said in one ("her skin is the grey of a winter sky, and …").
_CLAUSE = re.compile(r";\s+|,\s+(?=(?:and|which|who|where|while|when|so|as|because|then)\b)|\s+[—–]\s+")
_LEADING = re.compile(r"^(?:and|which|who|where|while|when|so|as|because|then)\s+", re.IGNORECASE)
_SUBJECT = re.compile(r"^(he|she|they)\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"^(his|her|their)\b", re.IGNORECASE)
#: Sentences a model writes of where someone stands or what they do (not how they look).
_STANCE = re.compile(r"\b(?:is|are)\s+(?:standing|sitting|walking|holding|carrying|looking|talking|speaking|waiting"
                     r"|running|working|kneeling|leaning|smiling)\b|\b(?:stands|sits|walks|holds|carries|looks\s+at"
                     r"|talks|speaks|waits|runs|works|kneels|leans)\b|\bin\s+the\s+(?:foreground|background)\b",
                     re.IGNORECASE)


_BODY = (r"(?:hair|skin|eyes|face|beard|moustache|mustache|freckles|head|cheeks|hands|arms|legs|build|teeth"
         r"|nose|mouth|voice)")
_PRONOUN_SUBJECT = re.compile(r"^(?:(?:he|she|they)\b|(his|her|their)\s+(?=(?:[\w-]+\s+){0,2}?" + _BODY + r"\b))\s*",
                              re.IGNORECASE)


def _forms(a: Asset, cast: Sequence[Asset]) -> list[str]:
    """The forms of a character's name as a name (capitalised): an alias "the goat" or
    "grandmother" is a word of the story about them, not a name to read a subject by."""
    return [f for f in asset_forms(a, cast) if f[:1].isupper()]


def _opening(clause: str, cast: Sequence[Asset]) -> tuple[Asset, str] | None:
    """The character a clause opens with (after titles: "Master Ozias went pale"), and the rest."""
    best: tuple[int, int, Asset] | None = None
    for a in cast:
        for start, end in spans(clause, _forms(a, cast), proper=True):
            before = clause[:start].split()
            if all(w[:1].isupper() for w in before) and len(before) <= 2 and (best is None or start < best[0]):
                best = (start, end, a)
    if best is None:
        return None
    rest = clause[best[1]:]
    rest = re.sub(r"^[’']s\s+", "’s ", rest)
    if rest.startswith("’s "):  # "Vessaly's skin is …"
        rest = rest[3:] if _BODY_IS.match(rest[3:]) else ""
    return best[2], rest.strip(" ,")


def _clauses(sentence: str) -> list[str]:
    return [_LEADING.sub("", c.strip(" ,;")) for c in _CLAUSE.split(sentence) if c.strip(" ,;")]


#: "her skin is the grey of a winter sky", "his hair was white": a part of the subject, said.
_BODY_IS = re.compile(r"^(?:[\w-]+\s+){0,2}?" + _BODY + r"\s+(?:is|are|was|were|had|has|have)\b", re.IGNORECASE)
#: "… in a cardigan", "wears a brown smock", "was dressed in black".
_WORN = re.compile(r"\b(?:wear|wears|wore|wearing|worn(?![\w-])|dressed\s+(?:in|as|all\s+in)|has\s+on|had\s+on)\b", re.IGNORECASE)
#: ", a small round man in a cardigan": an apposition that says what someone is.
_APPOSITION = re.compile(r"(?:^|,\s+)((?:a|an|the)\s+(?:[\w-]+\s+){0,4}?(?:" + _PERSON_KIND + "|" + _CREATURE + r")\b[^,;.]*)",
                         re.IGNORECASE)
#: "my grandmother, Nana Ruth Okonedo": a relation that is a kind and an age.
_RELATION_BEFORE = re.compile(r"\b(?:my|his|her|their|our|your|the)\s+((?:[\w-]+\s+)?(?:grandmother|grandfather|grandma"
                              r"|grandpa|granny|nana|mother|father|mum|dad|aunt|uncle|sister|brother|daughter|son|wife"
                              r"|husband|grandson|granddaughter|niece|nephew|cousin|conductor|officer|nurse|doctor"
                              r"|teacher|guard|attendant|driver|captain|apprentice|master|mistress)),?\s+"
                              r"(?:(?:Mr|Mrs|Ms|Dr|Miss|Master|Mistress|Maestra|Maestro|Officer)\.?\s+)?$", re.IGNORECASE)
#: "old Master Ozias Fell": a word of age or build just before the name.
_ADJECTIVE_BEFORE = re.compile(r"\b(old|young|little|elderly|tall|small|fat|thin|stout|tiny|huge|big|aged)\s+"
                               r"(?:(?:Master|Mistress|Mr|Mrs|Ms|Dr|Miss|Old|Young|Little)\.?\s+)?$")
#: "at the age of eighty-one", said of the one person the clause names.
_AT_AGE = re.compile(rf"\bat\s+the\s+age\s+of\s+({_NUMBER})\b", re.IGNORECASE)
#: "took Lenny Okafor's cap": what someone has of another's is not what that one wears.
_TAKES = re.compile(r"\b(?:took|takes|take|taking|stole|steals|borrowed|borrows|grabbed|grabs|snatched|found|finds"
                    r"|bought|buys|kept|keeps)\b[^,;]*$", re.IGNORECASE)
#: "a girl named Wren Halloway": what someone is, said as they are named.
_NAMED_AS = re.compile(r"\b((?:a|an)\s+(?:[\w-]+\s+){0,3}?(?:" + _PERSON_KIND + "|" + _CREATURE + r"))\s+(?:named|called)\s+"
                       r"(?:(?:Mr|Mrs|Ms|Dr|Miss|Master|Mistress|Maestra|Maestro)\.?\s+)?$", re.IGNORECASE)


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _look_clause(rest: str) -> str:
    """What a clause says of its subject's look, `rest` being the clause after the subject ("is
    nine the first time …" -> "is nine"; "is not a clever goat"; "skin is the grey of a winter
    sky"; "wears …"); '' when it says none, or says a change of look."""
    if LOOK_CHANGE.search(rest) and says_look_change(rest, True):
        return ""
    age = _AGE.match(rest.strip())
    if age:
        return rest.strip()[: age.end()]
    if _IS_A.match("X " + rest.strip()) and (_KIND.search(rest) or _LOOK_WORDS.search(rest)):
        return rest
    if _BODY_IS.match(rest.strip()) or _WORN.search(rest):
        return rest
    m = _APPOSITION.search(rest)
    if m and not re.search(r"\b(?:named|called)\b", m.group(1)):  # "…, a bald man called Mr. Hoyle" is his
        return "is " + m.group(1)
    return ""


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;:—–")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text[:n].rsplit(" ", 1)[0].rstrip(",;:")
    return cut if cut.endswith(".") else cut + "…"


def story_looks(characters: Sequence[Asset], story_text: str, people: Sequence[Person] | None = None) -> dict[str, str]:
    """Asset id -> the story's words for how that character looks before any change of look (see
    the module docstring); characters the story says nothing of are left out.

    A clause is a character's when it names them and nobody else, or opens with "he"/"she"/"his"/
    "her" after a sentence or clause that named only them; "I" is the story's narrator or a
    letter's signer, given in the third person (`roster.in_third_person`). Words in quotes are
    talk. Once the story changes someone's look (`screen_words.says_look_change`), nothing more is
    taken for them: what follows is the new look, a state change."""
    cast = [a for a in characters if a.category == AssetCategory.CHARACTER and not a.removed]
    if not story_text.strip() or not cast:
        return {}
    paragraphs = story_paragraphs(story_text)
    roster = list(people) if people is not None else story_people(story_text)
    teller = narrator(story_text, roster)

    def asset_of(person: Person | None) -> Asset | None:
        return next((a for a in cast if person is not None and person.named_by([a.name, *a.aliases])), None)

    voices = [(asset_of(w), asset_of(r)) for w, r in letter_voices(paragraphs, roster)]
    found: dict[str, list[str]] = {}
    changed: set[str] = set()
    for i, paragraph in enumerate(paragraphs):
        me, you = voices[i][0] or asset_of(teller), voices[i][1]
        last: Asset | None = None
        for sentence in sentences_whole(paragraph):
            plain = " ".join(unquoted(sentence).split())
            if not plain.strip(" .,!?"):
                continue
            for clause in _clauses(plain):
                named = [a for a in cast if spans(clause, _forms(a, cast), proper=True)]
                opening = _opening(clause, cast)
                who, rest = opening if opening else (None, "")
                if who is None and last is not None and len(named) <= 1 and (m := _PRONOUN_SUBJECT.match(clause)):
                    who, rest = last, clause[m.end():]
                    if m.group(1):  # "her skin …": the part is the subject
                        rest = clause[m.end(1):]
                told_as_me = False
                if who is None and me is not None and (m := re.match(r"^(?:I|(my))\b\s*", clause)):
                    who, rest, told_as_me = me, clause[m.start(1):] if m.group(1) else clause[m.end():], True
                if len(named) == 1:
                    last = named[0]
                elif named:
                    last = None
                for m in _WHOSE.finditer(clause):  # "the hem of Oriel's brown smock": Oriel wears a brown smock
                    owner = [a for a in cast if any(end == m.start() for _, end in spans(clause, _forms(a, cast), proper=True))]
                    if owner and owner[0].id not in changed and not LOOK_CHANGE.search(clause) \
                            and not _TAKES.search(clause[: m.start()]):
                        thing = m.group(1)
                        article = "" if thing.lower().endswith("s") else ("an " if thing[0].lower() in "aeiou" else "a ")
                        found.setdefault(owner[0].id, []).append(f"{owner[0].name} wears {article}{thing}")
                for a in named:
                    if a.id in changed:
                        continue
                    for start, _ in spans(clause, _forms(a, cast), proper=True)[:1]:
                        if (r := _RELATION_BEFORE.search(clause[:start])):
                            found.setdefault(a.id, []).append(f"{a.name} is {_a(r.group(1))}")
                        if (k := _NAMED_AS.search(clause[:start])):  # "a girl named Wren Halloway"
                            found.setdefault(a.id, []).append(f"{a.name} is {k.group(1)}")
                        if (j := _ADJECTIVE_BEFORE.search(clause[:start])):
                            found.setdefault(a.id, []).append(f"{a.name} is {j.group(1).lower()}")
                    if len(named) == 1 and (g := _AT_AGE.search(clause)):
                        found.setdefault(a.id, []).append(f"{a.name} is {g.group(1)}")
                if who is None and last is not None and not named and re.match(r"^(?:wore|wears|was|had|has|is)\b", clause):
                    who, rest = last, clause  # "a girl named Wren Halloway, who … and wore an apron …"
                if who is None or who.id in changed:
                    continue
                if LOOK_CHANGE.search(clause) and says_look_change(clause, True):
                    changed.add(who.id)
                    continue
                words = _look_clause(rest)
                if not words or (_WHOSE.search(words) and not _WORN.search(words) and not _IS_A.match("X " + words)):
                    continue
                if told_as_me:  # "I still wear the green jumper you knitted": Alder still wears …
                    words = clause[: len(clause) - len(rest) + len(words)]
                elif _BODY_IS.match(words.strip()):
                    words = f"{who.name}’s {words.strip()}"
                else:
                    words = f"{who.name} {words.strip()}"
                if who is me or who is you:
                    words = in_third_person(words, me.name if me else None, you.name if you else None)
                found.setdefault(who.id, []).append(words)
    out: dict[str, str] = {}
    for aid, said in found.items():
        text = " ".join(_sentence(s) for s in dict.fromkeys(said))
        out[aid] = _clip(text, MAX_LOOK_CHARS)
    return out


# --- the description ----------------------------------------------------------------------------------

_CHILD_NOUN = re.compile(r"\b(?:boy|girl|child|kid|baby|toddler|teenager|teen)s?\b", re.IGNORECASE)
_ADULT_NOUN = re.compile(r"\b(?:man|woman|men|women|lady|gentleman|adult)\b", re.IGNORECASE)
_OLD = re.compile(r"\b(?:old|elderly|aged|grandmother|grandfather|grandma|grandpa|granny|gran|nana|widow|widower"
                  r"|wrinkled|white-haired|grey-haired)\b", re.IGNORECASE)
_YOUNG = re.compile(r"\b(?:young|youthful|teenage|teenager|boy|girl|middle-aged)\b", re.IGNORECASE)
_PERSON = re.compile(rf"\b(?:{_PERSON_KIND}|person|adult)\b", re.IGNORECASE)
_ANIMAL = re.compile(r"\b(?:goat|dog|cat|horse|pony|donkey|cow|bull|sheep|pig|fox|wolf|bear|bird|crow|raven|owl"
                     r"|rabbit|hare|mouse|rat|dragon)s?\b", re.IGNORECASE)
_AGE_NUMBER = {w: n for n, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"])}


def _age(text: str) -> int | None:
    m = _AGE.search(text)
    if not m:
        return None
    word = re.search(r"\d+|[a-z]+(?=\W*(?:years?|-year|$|and))|(?<=is\s)\w+|(?<=was\s)\w+", m.group(0).lower())
    token = word.group(0) if word else ""
    if token.isdigit():
        return int(token)
    return _AGE_NUMBER.get(token.split("-")[0], 18 if token else None)


def contradicts(sentence: str, look: str) -> bool:
    """True when a model's sentence says another kind or age than the story's words, or other
    clothes: "a young woman" of a grandmother, "a tall woman" of a girl of nine, "a muscular man"
    of a goat, "a suit" of a man the story puts in a cardigan."""
    worn = garments(look)
    if worn and garments(sentence) - worn:
        return True  # the story says what they wear: "a suit" of a man "in a cardigan"
    age = _age(look)
    if ((age is not None and age < 16) or _CHILD_NOUN.search(look)) and _ADULT_NOUN.search(sentence):
        return True
    if _OLD.search(look) and _YOUNG.search(sentence):
        return True
    if _ANIMAL.search(look) and not _PERSON.search(look) and _PERSON.search(sentence):
        return True
    return bool(_YOUNG.search(look) and not _OLD.search(look) and re.search(r"\b(?:old|elderly)\b", sentence, re.I))


def is_a_look(sentence: str) -> bool:
    """True when a model's sentence says something of a look (kind, build, age, hair, clothes),
    not only where one stands or what one does ("She is standing in the mine with Brannock.")."""
    plain = unquoted(sentence)
    if _STANCE.search(plain):
        rest = _STANCE.sub(" ", plain)
        return bool(_LOOK_WORDS.search(rest) or _GARMENT_RE.search(rest) or _PERSON.search(rest)
                    or _KIND.search(rest))
    return bool(says_a_look(plain) or _LOOK_WORDS.search(plain) or _PERSON.search(plain) or _KIND.search(plain))


def _model_words(a: Asset) -> str:
    """The description less the story's words at its start (what the model wrote)."""
    text = a.description.strip()
    if a.story_look and text.startswith(a.story_look):
        return text[len(a.story_look):].strip()
    return text


def described(assets: Sequence[Asset], story_text: str, people: Sequence[Person] | None = None) -> list[Asset]:
    """The assets with each character's description made from the story's words first (see the
    module docstring). A description the user edited is never touched; running it twice changes
    nothing more."""
    cast = [a for a in assets if a.category == AssetCategory.CHARACTER and not a.removed]
    if not cast:
        return list(assets)
    looks = story_looks(cast, story_text, people) if story_text.strip() else {}
    names = [n for a in cast for n in [a.name, *a.aliases]]
    model = {a.id: sentences(_model_words(a)) for a in cast}
    out = []
    for a in assets:
        if a.category != AssetCategory.CHARACTER or a.removed or a.user_edited:
            out.append(a)
            continue
        others = [s for b in cast if b.id != a.id for s in model[b.id]]
        kept = [s for s in model[a.id] if not any(is_formula_copy(s, o, names) for o in others)]
        look = looks.get(a.id, "")
        if look:
            kept = [s for s in kept if is_a_look(s) and not contradicts(s, look)]
        elif any(is_a_look(s) for s in kept):
            kept = [s for s in kept if is_a_look(s)]
        text = " ".join([look, *kept]).strip()
        if not text:  # the story says nothing and the model wrote only a formula: its look is better than none
            text = " ".join(s for s in model[a.id] if is_a_look(s)).strip()
        text = _clip(text, MAX_DESCRIPTION_CHARS) if len(text) > MAX_DESCRIPTION_CHARS else text
        if text != a.description or look != a.story_look:
            a = a.model_copy(update={"description": text, "story_look": look})
        out.append(a)
    return out


__all__ = ["MAX_LOOK_CHARS", "contradicts", "described", "is_a_look", "story_looks"]
