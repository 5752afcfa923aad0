"""The people a story names, read by code: the roster every writing stage must keep.

A small model retelling a story drops people: the cloakroom attendant who appears in one paragraph
never reaches the treatment, so no beat, scene or asset has him (tuba-audition, docs/evals.md).
The story itself names him, and plain rules find him there, so stage 4 puts everyone the story
names into the scenes whose passages name them, and stage 5 adds every one the script names.

A person is a run of capitalised words ("Mr. Fenwick Hoyle", "B. Moyo", "Maestra Solveig Brandt")
with evidence that it is a person:

- strong: a title or rank before it ("Mr.", "Maestra"), speech ("said Ines", "Gus said"), a
  relation ("his sister Ines"), a naming ("a bald man called …", "My name is …"), being spoken to
  ("Saoirse," he says; "Dear Tamsin"), a relative clause ("Kit Marchetti, who …"), a signature
  (a line that is only the name);
- weak: a verb after it ("Kit whooped", "Gus held"), a possessive ("Pell's bunk").

Runs that name a place or thing are not people: a place word in them ("Corwen Music Hall"), an
article before them ("the Corwen"), or only weak evidence and a preposition of place before them
("the village of Hessock"). A name said only at the start of sentences with no strong evidence is
an ordinary word ("Afterwards"). Short forms join the one full name they belong to ("Mr. Hoyle" and
"Fenwick" join "Fenwick Hoyle"; "Abernathy" with two Abernathys joins neither).

English rules, no model: the same story always gives the same roster, and a test states the rule.

Example:
    [p.name for p in story_people(text)]  # ['Dov Abernathy', 'Ines', 'Fenwick Hoyle', 'Maestra Solveig Brandt']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiuteur.domain.names import TITLES, named_in
from aiuteur.pipeline.screen_words import QUOTED

#: Abbreviated honorifics dropped from the name a person is listed by ("Mr. Hoyle" -> "Hoyle").
HONORIFICS = frozenset({"mr", "mrs", "ms", "mx", "dr", "prof", "st", "capt", "sgt", "lt", "col", "rev", "fr"})

#: Capitalised words that are not names: function words, sentence openers, days and months.
NOT_NAMES = frozenset(re.findall(r"\S+", """the a an and but or so then when while as at in on of to for from with by it its he she
they we you i his her their our my your this that these those there here what who why how where yes no not now
afterwards after before whenever wherever another every each all some nobody everybody everyone someone somebody
nothing everything if once one two three still just only even well oh ah good thank thanks please sorry okay ok
hello goodbye hey mum mom dad god instead also later soon today tonight tomorrow yesterday perhaps maybe because
although though since until unless meanwhile suddenly finally first next last inside outside behind above below
monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
september october november december int ext day night morning evening dusk dawn noon midnight christmas easter
dear i'm i'll i've i'd english french german spanish italian chinese american british irish scottish welsh"""))

#: Words that make a capitalised run a place or an institution, not a person.
PLACE_WORDS = frozenset(re.findall(r"\S+", """hall street road lane avenue square station bay house hotel church school park bridge
river island sea lake mountain hill express terminal rooms room bar pub inn café cafe theatre theater hospital
museum bank company shop market mill mine tower castle palace court harbour harbor port beach forest wood woods
valley city town village depot yard office library music club centre center gardens garden cathedral chapel
building estate farm lodge airport motel diner restaurant bakery store studio arena stadium prison jail
university college academy institute ministry council service services express line lines railway ferry
county state kingdom empire republic"""))

SPEECH_VERBS = (r"(?:said|says|asked|asks|replied|replies|whispered|whispers|shouted|shouts|answered|answers|"
                 r"muttered|mutters|cried|cries|snapped|snaps|added|adds|yelled|yells|sighed|sighs|murmured|"
                 r"murmurs|begged|begs|insisted|insists|told|tells|called|calls)")
_RELATIONS = (r"(?:sister|brother|mother|father|mum|mom|dad|wife|husband|son|daughter|aunt|uncle|cousin|friend|"
              r"boss|partner|grandmother|grandfather|grandson|granddaughter|grandma|grandpa|niece|nephew|colleague|"
              r"neighbour|neighbor|girlfriend|boyfriend|fiancée|fiancé|apprentice|master|assistant|lover|"
              r"twin|stepmother|stepfather|stepsister|stepbrother)")
PERSON_NOUNS = r"(?:man|woman|boy|girl|lad|lass|guy|person|child|kid|lady|gentleman|fellow|chap)"
_VERBS_AFTER = re.compile(
    r"\s+(?:had|has|was|is|put|puts|looked|looks|smiled|smiles|nodded|nods|walked|walks|lifted|lifts|played|"
    r"plays|marched|marches|caught|catches|found|finds|took|takes|turned|turns|stood|stands|sat|sits|came|comes|"
    r"went|goes|ran|runs|thought|thinks|knew|knows|laughed|laughs|wanted|wants|opened|opens|held|holds|pulled|"
    r"pulls|watched|watches|kept|keeps|gave|gives|followed|follows|lit|lights|reached|reaches|picked|picks|"
    r"stepped|steps|got|gets|would|could|did|does|will|can|whooped|broke|breaks|shook|shakes|grinned|grins|"
    r"frowned|frowns|winked|winks|waved|waves|leaned|leans|climbed|climbs|tried|tries|began|begins|"
    r"[a-z]+ed)\b")
_PLACE_PREPOSITIONS = re.compile(r"\b(?:in|at|of|into|from|near|outside|inside|across|towards|toward|to|on)\s+$", re.I)

#: An open quote with no close after it: what follows is said by someone, not told by the narrator.
#: A quotation still open at the end of a text: its last quote mark opens one (“, or a straight
#: quote at the start or after a space); '"Hold it," I said. My name is Martha' has it closed.
_QUOTE_OPEN = re.compile(r"(?:“|(?:^|(?<=[\s(\[]))\")[^\"“”]*$")

#: Titles that also name churches, streets and towns after a preposition of place ("of St Barnabas").
_SAINTS = frozenset({"st", "saint", "san", "santa", "sankt", "ste"})

_TOKEN = re.compile(r"[^\W\d_][\w’'\-]*", re.UNICODE)
_PARTICLES = frozenset({"van", "von", "de", "del", "della", "da", "di", "du", "le", "la", "bin", "ibn", "al", "el", "ter"})


def is_person_noun(word: str) -> bool:
    """True for a word that names a person by relation or kind ("mother", "boss", "woman")."""
    w = word.strip(".,;:!?\"'’").casefold()
    return bool(re.fullmatch(_RELATIONS + "s?|" + PERSON_NOUNS + "|men|women|children|people", w))


@dataclass
class Person:
    """One person the story names: the name to list them by, every form seen, and why."""

    name: str
    forms: list[str] = field(default_factory=list)
    mentions: int = 0
    evidence: set[str] = field(default_factory=set)

    def named_in(self, text: str) -> bool:
        """True when `text` names this person by any form the story used (`domain.names`)."""
        return any(named_in(text, [f]) for f in dict.fromkeys([self.name, *self.forms]))

    def named_by(self, names: list[str]) -> bool:
        """True when one of `names` (a cast, a registry's names) is this person already."""
        return any(named_in(f, names) for f in dict.fromkeys([self.name, *self.forms]))


@dataclass
class _Run:
    tokens: list[re.Match[str]]

    @property
    def start(self) -> int:
        return self.tokens[0].start()

    @property
    def end(self) -> int:
        return self.tokens[-1].end()

    @property
    def words(self) -> list[str]:
        return [m.group(0) for m in self.tokens]


def _runs(text: str) -> list[_Run]:
    """Runs of capitalised words joined by single spaces (a title or an initial by '. ')."""
    runs: list[_Run] = []
    current: list[re.Match[str]] = []

    def close() -> None:
        while current and current[-1].group(0)[0].islower():  # a run never ends on "van" or "de" ("Della" may)
            current.pop()
        if current:
            runs.append(_Run(list(current)))
        current.clear()

    for m in _TOKEN.finditer(text):
        word = m.group(0)
        capital = word[0].isupper()
        if current:
            gap = text[current[-1].end():m.start()]
            prev = current[-1].group(0)
            joined = gap == " " or (gap == ". " and (prev.casefold() in HONORIFICS or len(prev) == 1))
            if joined and (capital or word.casefold() in _PARTICLES):
                current.append(m)
                continue
            close()
        if capital:
            current.append(m)
    close()
    return runs


def _strip(run: _Run) -> tuple[_Run | None, bool]:
    """The run without leading/trailing non-name words; whether one dropped was an article."""
    article = False
    tokens = list(run.tokens)
    while tokens and tokens[0].group(0).casefold() in NOT_NAMES:
        article = article or tokens[0].group(0).casefold() in ("the", "a", "an")
        tokens = tokens[1:]
    while tokens and re.sub(r"[’']s$", "", tokens[-1].group(0)).casefold() in NOT_NAMES:
        tokens = tokens[:-1]
    return (_Run(tokens) if tokens else None), article


def _words(run: _Run) -> list[str]:
    """The run's words, a possessive dropped from the last ("Okafor's" -> "Okafor")."""
    words = run.words
    return [*words[:-1], re.sub(r"[’']s$", "", words[-1])]


def _core(words: list[str]) -> tuple[str, ...]:
    """The words that may name the person alone: not titles, honorifics or initials."""
    core = tuple(w for w in words if w.casefold() not in TITLES and w.casefold() not in HONORIFICS and len(w) > 1)
    return core or tuple(words)


def _key(core: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w.casefold() for w in core)


def _listed_name(words: list[str]) -> str:
    """How the person is listed: honorifics dropped ("Mr. Fenwick Hoyle" -> "Fenwick Hoyle")."""
    kept = [w for w in words if w.casefold() not in HONORIFICS]
    out = " ".join(kept or words)
    return re.sub(r"\b([^\W\d_]) (?=[^\W\d_])", r"\1. ", out)  # an initial keeps its point ("B. Moyo")


def _evidence(text: str, run: _Run, words: list[str], article: bool, lowered: set[str]) -> set[str]:
    before = text[max(0, run.start - 60):run.start]
    after = text[run.end:run.end + 60]
    found: set[str] = set()
    if article or re.search(r"\b(?:the|a|an)\s+$", before, re.I):
        found.add("article")
    if re.search(r"(?:^|[.!?…]|[.!?…][\"”’])\s*$", before) or re.search(r"[\"“]\s*$", before) or not before.strip():
        found.add("sentence_start")
    title = words[0].rstrip(".").casefold() if len(words) > 1 else ""
    if title in (TITLES | HONORIFICS) - {"the", "old", "young", "little", "big"} and not (
            title in _SAINTS and _PLACE_PREPOSITIONS.search(before)):  # "the vestry of St Barnabas" is a church
        found.add("title")
    if re.search(r"\b" + SPEECH_VERBS + r"\s+$", before) or re.match(r"\s*,?\s*" + SPEECH_VERBS + r"\b", after):
        found.add("speech")
    if re.search(r"\b" + _RELATIONS + r",?\s+$", before, re.I) or re.match(r",\s+(?:my|his|her|their|our|your)\s+"
                                                                         + _RELATIONS + r"\b", after, re.I):
        found.add("relation")
    if re.match(r"\.\s+(?:my|his|her|their|our|your)\s+" + _RELATIONS + r"\b", after, re.I):
        found.add("relation")
    if re.search(r"\b(?:called|named|name is|name was|name's|known as|I am|I'm)\s+$", before, re.I):
        found.add("called")
    if re.search(r"(?:\b[Mm]y name is|\b[Mm]y name's|\bI am|\bI'm)\s+$", before) and not _QUOTE_OPEN.search(before):
        found.add("self_named")  # the narrator of a story told as "I": "My name is Teodora Ruiz"
    if re.match(r"[,.!?]\s?[\"”]", after) and re.search(r",\s$", before):
        found.add("spoken_to")  # "Hold it straight, Femi," …
    elif re.match(r",\s?[\"”]", after) and re.search(r"[\"“]$", before) \
            and re.match(r",\s?[\"”][^\"“”\n]{1,40}?,\s*[\"“]", after):
        found.add("spoken_to")  # "Eddie," said Joanne, "the lights." (a one-word line is what is said)
    if re.search(r"\b(?:Dear|dear)\s+$", before):
        found.add("spoken_to")
    if re.match(r",\s+who\b", after) or re.match(r",\s+(?:a|an|the)\s+(?:\w+\s+){0,3}" + PERSON_NOUNS + r"\b", after):
        found.add("apposition")
    if re.match(r"[ \t]*(?:\n|$)", text[run.end:]) and re.search(r"(?:^|\n)[ \t]*(?:(?:[\w'’]+[ \t]+){0,3}[\w'’]+,[ \t]+)?$",
                                                             text[:run.start]):
        found.add("signature")  # a line that is only the name, or a sign-off ("Love, Marguerite")
    if _VERBS_AFTER.match(after):
        found.add("verb")
    if re.match(r"[’']s\b", text[run.end - 2:run.end]) or re.match(r"[’']s\s", after):
        found.add("possessive")
    if re.search(r"&\s*$", before) or re.match(r"\s*&", after):
        found.add("institution")  # "Hartwell & Sons"
    if _PLACE_PREPOSITIONS.search(before):
        found.add("place_preposition")
    if all(w.casefold() in lowered for w in _core(words)):
        found.add("ordinary_word")
    return found


_STRONG = frozenset({"title", "speech", "relation", "called", "spoken_to", "apposition", "signature"})
_WEAK = frozenset({"verb", "possessive"})


def story_people(text: str) -> list[Person]:
    """Everyone `text` names as a person, in order of first mention (see the module docstring)."""
    lines = "\n".join(" ".join(line.split()) for line in text.splitlines() if not line.lstrip().startswith("#"))
    flat = re.sub(r"(?<!\n)\n(?!\n)", " ", lines)  # wrapped lines join; blank lines and signatures stay
    flat = re.sub(r"\n{2,}", "\n", flat)
    lowered = {w for w in _TOKEN.findall(flat) if w[0].islower()}
    lowered = {w.casefold() for w in lowered}
    found: list[tuple[tuple[str, ...], list[str], set[str], int, _Run]] = []
    for whole in _runs(flat):
        run, article = _strip(whole)
        if run is None:
            continue
        words = _words(run)
        if any(w.casefold() in PLACE_WORDS for w in words):
            continue
        if len(words) == 1 and len(words[0]) < 2:
            continue
        found.append((_core(words), words, _evidence(flat, run, words, article, lowered), run.start, run))
    # Group: a full name (two core words or more) is one person; a short form joins the one full
    # name that contains all its words, else stands alone.
    full: dict[tuple[str, ...], set[str]] = {}
    for core, words, *_rest in found:
        if len(core) >= 2:
            full.setdefault(_key(core), set()).update(w.casefold() for w in words)
    groups: dict[tuple[str, ...], Person] = {}
    order: dict[tuple[str, ...], int] = {}
    for core, words, ev, at, run in found:
        key = _key(core)
        if len(core) < 2:
            owners = [f for f, every in full.items() if set(key) <= every]
            if len(owners) == 1:
                key = owners[0]
        person = groups.setdefault(key, Person(name=""))
        order.setdefault(key, at)
        form = flat[run.start:run.end] if not run.words[-1].endswith(("'s", "’s")) else " ".join(words)
        if form not in person.forms:
            person.forms.append(form)
        person.mentions += 1
        person.evidence |= ev
        if key == _key(core) and (not person.name or len(_listed_name(words)) > len(person.name)):
            person.name = _listed_name(words)
    people = []
    for key, person in sorted(groups.items(), key=lambda kv: order[kv[0]]):
        if not person.name:
            person.name = _listed_name(list(key))
        if _is_person(person):
            people.append(person)
    return people


def narrator(text: str, people: list[Person] | None = None) -> Person | None:
    """The person who tells a story told as "I": the one who names themself outside quotes ("My
    name is Teodora Ruiz", "I'm Adaeze"); None for a story told in the third person, or when no
    one, or more than one, names themself."""
    outside = re.sub(r"[\"“][^\"“”]*[\"”]", " ", text)
    if len(re.findall(r"\bI\b", outside)) < 3:
        return None
    selves = [p for p in (people if people is not None else story_people(text)) if "self_named" in p.evidence]
    return selves[0] if len(selves) == 1 else None


_SALUTATION = re.compile(r"^(?:(?:my\s+)?dear(?:est)?\s+|to\s+)?(?P<to>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,2}),$",
                         re.IGNORECASE)
_SIGN_OFF = re.compile(r"^(?:(?:[\w'’]+\s+){0,3}[\w'’]+,\s+)?(?P<name>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,2})\.?$")


def letter_voices(paragraphs: list[str], people: list[Person]) -> list[tuple[Person | None, Person | None]]:
    """(who "I" is, who "you" is) for each paragraph of a story told in letters or signed entries.

    A letter runs from its salutation ("Dear Tamsin," / "Dad,") to its signature ("Your dad,
    Alder" / "Tamsin": a paragraph that ends in a person's name): "I" in it is the signer and "you"
    the person the salutation names, or, where it names a relation ("Dad,") and the story has two
    correspondents, the other one. (None, None) outside letters and for a story that has none.
    `paragraphs` as `screen_words.story_paragraphs` gives them (wrapped lines joined).
    """
    def person(name: str) -> Person | None:
        return next((p for p in people if p.named_by([name])), None)

    out: list[tuple[Person | None, Person | None]] = [(None, None)] * len(paragraphs)
    letters: list[tuple[int, int, Person, str | None]] = []
    start, to = 0, None
    for i, paragraph in enumerate(paragraphs):
        hello = _SALUTATION.match(paragraph.strip())
        if hello and i + 1 < len(paragraphs):
            start, to = i, hello.group("to")
            continue
        sign = _SIGN_OFF.match(paragraph.strip())
        writer = person(sign.group("name")) if sign and i > start else None
        if writer is not None:
            letters.append((start, i, writer, to))
            start, to = i + 1, None
    writers = list({id(w): w for _, _, w, _ in letters}.values())
    for first, last, writer, greeted in letters:
        reader = person(greeted) if greeted else None
        if reader is None and len(writers) == 2:
            reader = writers[1] if writers[0] is writer else writers[0]
        for k in range(first, last + 1):
            out[k] = (writer, reader if reader is not writer else None)
    return out


def _is_person(p: Person) -> bool:
    strong = bool(p.evidence & _STRONG)
    if strong and p.evidence & _STRONG <= {"spoken_to", "signature"} and "ordinary_word" in p.evidence:
        return False  # "Name?" or a line saying "Karaoke": a word, not somebody
    if strong:
        return "article" not in p.evidence or bool(p.evidence & {"title", "speech", "spoken_to", "called"})
    if p.evidence & {"article", "ordinary_word", "place_preposition", "institution"}:
        return False
    full_name = len(p.name.split()) >= 2
    return bool(p.evidence & _WEAK) and (p.mentions >= 2 or full_name)


# --- "I" and "you" as the people they are ------------------------------------------------------------

#: What "I am" and "you were" become with a name for a subject.
_AGREE = {"am": "is", "are": "is", "were": "was", "have": "has", "do": "does", "don't": "doesn't",
          "haven't": "hasn't", "aren't": "isn't", "weren't": "wasn't", "go": "goes"}
#: Words after "I"/"you" that stay as they are: past forms, modals, and verbs whose present and past are one.
_KEEP = frozenset(re.findall(r"\S+", """was had did could would should will shall can may might must ought
used put cut set let hit shut read spread cast cost hurt quit split burst shed bet thrust bought brought
took wore tore got gave made said went came saw left kept held stood sat found thought knew told felt
ran began drew threw grew wrote rode broke chose spoke stole woke swore shook hung sang swam drank
lost won paid sent spent lent built bent meant heard sold slept swept wept caught taught fought sought
slid hid bit lit fed led met fled dug stuck struck strung swung flung clung spun not never also
always still now just only even really then once often again too so and or but nor to of in on at by
for with from the a an that this as if than very"""))
_ADVERB = re.compile(r"(?:still|now|just|always|never|also|often|only|even|really|then|once|again|soon|already)\b",
                     re.IGNORECASE)
_PERSON = re.compile(r"\b(?:(I)(['’](?:m|ve|ll|d))?|(you)(['’](?:re|ve|ll|d))?|(me|myself|my|mine|yourself|your|yours))\b",
                     re.IGNORECASE)
#: What comes before a "you" that is the subject: the start, a stop, or a word that opens a clause.
_SUBJECT_BEFORE = re.compile(r"(?:^|[.!?,;:—–-]|\b(?:and|but|then|when|while|that|so|because|if|as|before|after|until"
                             r"|where|since|though|although))\s*$", re.IGNORECASE)
_CONTRACTED = {"m": "is", "ve": "has", "ll": "will", "re": "is"}


def _present_s(verb: str) -> str:
    low = verb.lower()
    if low in _AGREE:
        return _AGREE[low]
    if low in _KEEP or low.endswith("ed") or not low.isalpha() or not verb.islower():
        return verb
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(low) > 2 and low.endswith("y") and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def in_third_person(text: str, me: str | None, you: str | None = None) -> str:
    """`text` with "I", "me", "my" said as `me`'s name and "you", "your" as `you`'s, the verb after
    them agreeing ("I am now wearing the top tier" -> "Adaeze is now wearing the top tier", "my
    cousin Blessing" -> "Adaeze's cousin Blessing", "you stood in the door" -> "Tamsin stood …").
    Words in quotes are somebody talking and stay as they are; a person not known (None) too.
    So narration lifted from a story never reads as somebody else's look."""
    out: list[str] = []
    last = 0
    for quoted in [*QUOTED.finditer(text), None]:
        end = quoted.start() if quoted is not None else len(text)
        out.append(_resolve(text[last:end], me, you))
        if quoted is not None:
            out.append(quoted.group(0))
            last = quoted.end()
    return "".join(out)


def _resolve(text: str, me: str | None, you: str | None) -> str:
    pieces: list[str] = []
    at = 0
    for m in _PERSON.finditer(text):
        i_word, i_tail, _you, you_tail, other = m.groups()
        if i_word is not None and i_word != "I":
            continue  # "i" in lower case is not the pronoun
        name = me if (i_word or (other and other.lower() in ("me", "myself", "my", "mine"))) else you
        if name is None:
            continue
        pieces.append(text[at:m.start()])
        at = m.end()
        if other is not None:
            low = other.lower()
            pieces.append(f"{name}'s" if low in ("my", "mine", "your", "yours") else name)
            continue
        tail = (i_tail or you_tail or "")[1:].lower()
        if tail == "d":  # "I'd": had before a past participle, else would
            nxt = re.match(r"\s+(\w+)", text[at:])
            pieces.append(f"{name} had" if nxt and nxt.group(1).lower().endswith(("ed", "en")) else f"{name} would")
            continue
        if tail:
            pieces.append(f"{name} {_CONTRACTED[tail]}")
            continue
        pieces.append(name)
        # the verb after the subject (past an adverb or two) agrees with a name
        rest = re.match(r"((?:\s+" + _ADVERB.pattern + r")*\s+)([A-Za-z'’]+)", text[at:])
        if rest and (i_word or _SUBJECT_BEFORE.search(text[:m.start()])):  # "I watched you come": not a subject
            pieces.append(rest.group(1) + _present_s(rest.group(2)))
            at += rest.end()
    pieces.append(text[at:])
    return "".join(pieces)
