"""The places a story happens in, read by code: where the film's scenes must go.

A small model planning a film sets every scene in the building it remembers ("CORWEN MUSIC HALL")
while the story moves from the bus stop to the foyer, the gents and the stage (tuba-audition,
docs/evals.md). The story says where each thing happens in plain prepositional phrases, and plain
rules find them:

- a place is a noun phrase after a preposition of place or motion ("in the foyer of the Corwen",
  "into the drivers' locker room", "at the stop outside the Corwen Music Hall", "on the stage"),
  whose head is a word for a place (`INSIDE`, `OUTSIDE`) or a capitalised name after "in/at/to/from"
  that is nobody's name ("in Leith");
- "of/on/at/in" + another place or a name after it belongs to it ("the police yard on Mercer
  Street", "the mouth of the mine", "the square at Hessock");
- the same head word is the same place ("the wash bay" and "the wash bay with its lights off"),
  and a part of a place is that place ("the mine", "the mouth of the mine"), but two parts of one
  place are two places ("the mouth of the mine" is not "the bottom of the mine");
- a place set off by a comma after the place a sentence opens on is where in it the sentence is
  ("Back at Kestrel Field, in the canteen, …" is in the canteen, not on the field);
- "from" after a person is where they live or work, not where they are ("Mr. Abiodun from the
  flat upstairs", "the man from the garage").

A place counts only where a person is there: its sentence names somebody or says he/she/they/I/we.
"His suit was still hanging in the back of the number 9 bus" is a place nobody is in; so is a
place that only says where a thing is ("the dust in the well", "the anemometer on the roof") or
one that is thought or talked of ("she thinks about the well").

English rules, no model: the same story always gives the same places, and a test states the rule.

Example:
    [p.name for p in story_places(text)]  # ['the stop outside the Corwen Music Hall', 'the foyer …', …]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiuteur.pipeline.roster import is_person_noun
from aiuteur.pipeline.screen_words import (
    ends_at,
    in_mind,
    same_place,
    sentences_whole,
    story_paragraphs,
    unquoted,
)

#: Head words of places one is inside (INT).
INSIDE = frozenset(re.findall(r"\S+", """room rooms kitchen foyer lobby hall hallway corridor passage landing
stairwell staircase stairs bedroom bathroom toilet toilets gents ladies loo washroom cloakroom study office
offices library classroom attic cellar basement vault pantry parlour parlor lounge den nursery shop store
bakery pub bar tavern inn café cafe canteen restaurant diner kitchenette flat apartment house home cottage cabin
hut lodge shed sheds barn garage workshop studio church chapel cathedral temple mosque synagogue
museum gallery theatre theater cinema auditorium stage backstage dressing wings booth station terminal
hospital ward clinic surgery school gym gymnasium hotel motel hostel prison cell jail court courtroom
mill factory warehouse depot mine tunnel tunnels cave cavern bunker lighthouse tower castle palace
dungeon crypt tomb van bus car cab taxi train carriage compartment tram lorry truck ferry boat ship
cabin deck hold cockpit lift elevator locker changing wardrobe closet vestry sacristy nave crypt belfry rectory
vicarage manse presbytery convent monastery abbey priory scullery larder laundry utility conservatory
greenhouse stable stables kennel boathouse pavilion arcade mall supermarket pharmacy chemist salon
barbershop launderette laundromat embassy consulate courthouse parliament chamber chambers ballroom
dormitory dorm barracks tent caravan trailer motorhome loft hayloft penthouse bungalow villa mansion
manor farmhouse homestead igloo hangar garret lab laboratory surgery morgue mortuary chapel sauna
spa rink pool gallery""")) - {"deck"}

#: Head words of places in the open air (EXT).
OUTSIDE = frozenset(re.findall(r"\S+", """street streets road lane avenue alley alleyway square plaza
market marketplace park garden gardens yard courtyard playground car-park carpark field fields meadow
farm farmyard orchard wood woods forest marsh marshes swamp bog moor heath hill hills mountain valley
cliff cliffs shore beach coast sea ocean bay harbour harbor quay quayside jetty pier dock docks wharf
river riverbank bank lake loch pond canal bridge island village town city roof rooftop balcony
terrace porch doorstep gate gates driveway drive path track platform stop crossroads junction
roundabout motorway highway ring churchyard graveyard cemetery deck well glade clearing ridge summit
peak pass gorge canyon desert dunes glacier jungle estuary creek stream waterfall fjord lagoon reef isle
cove headland trail towpath allotment allotments vineyard paddock pasture campsite camp lawn backyard
forecourt pitch stands veranda patio""")) | {"deck"}

PLACE_HEADS = INSIDE | OUTSIDE

_PREPS = frozenset({"in", "into", "inside", "on", "onto", "at", "outside", "across", "through", "to", "toward",
                    "towards", "from", "down", "up", "along", "past", "behind", "beneath", "under", "over", "near",
                    "beside", "round", "around", "within", "off", "out", "by"})
#: Verbs that take somebody to a place: "She reached the sea", "He entered the vault".
_MOTION = frozenset({"reach", "reached", "reaches", "enter", "entered", "enters", "left", "leave", "leaves",
                     "crossed", "cross", "crosses", "climbed", "climb", "climbs"})
_DETS = frozenset({"the", "a", "an", "his", "her", "their", "its", "our", "my", "your", "this", "that"})
#: Words that end a noun phrase: prepositions, conjunctions, verbs of being, relatives.
_STOP = _PREPS | _DETS | frozenset(re.findall(r"\S+", """of by with like and or but nor between for as than so if
that which who whom whose where when while is was were are be been being had has have did does do
said says there then""")) - {"that"}
#: Words for a part of a place: "the back of the van", "the mouth of the mine", "the door of the hut".
PARTS = frozenset(re.findall(r"\S+", """back front mouth top bottom edge end corner far side door doorway
entrance middle centre center foot head"""))
_TAIL_PREPS = ("of", "on", "at", "in", "outside", "behind", "by")
_HOMEWARD = frozenset({"at", "came", "come", "comes", "went", "go", "goes", "got", "get", "gets", "reached",
                       "reach", "hurried", "ran", "walked", "arrived", "drove", "back", "stayed", "stay"})
_PERSON_WORDS = frozenset({"he", "she", "they", "i", "we", "you", "him", "her", "them", "me", "us"})
_PERSON_WORD = re.compile(r"\b(" + "|".join(sorted(_PERSON_WORDS)) + r")\b", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z][\w'’-]*|[^\sA-Za-z]")


@dataclass
class Place:
    """One place of the story: the phrase it is first named by, its head word, the paragraphs
    (indexes into `screen_words.story_paragraphs`) where somebody is there, in order."""

    name: str
    head: str
    inside: bool
    paragraphs: list[int] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    #: first named at the opening of a sentence ("In the pantry, …"): the story sets a scene there
    opens: bool = False
    #: where the paragraph it is first named in leaves its people (`screen_words.ends_at`: "…, and
    #: on the far shore there is a throne")
    ends: bool = False
    #: the key of each form ("mine", "mouth of mine"): a part of a place is the place, another part is not
    keys: list[str] = field(default_factory=list)


def _words(text: str) -> list[str]:
    """The tokens of a sentence, without a leading dateline in bold ('**Friday, 6 a.m.** Bakery kitchen.')."""
    return _TOKEN.findall(re.sub(r"^\s*\*\*[^*]+\*\*", " ", text).replace("*", " ").replace("_", " "))


def _noun_phrase(toks: list[str], j: int, *, det_needed: bool) -> tuple[list[str], int]:
    """The words of a noun phrase starting at toks[j] (its determiner, then up to five words that
    do not end a phrase) and the index after it; ([], j) when there is none."""
    words: list[str] = []
    k = j
    if k < len(toks) and toks[k].lower() in _DETS:
        words.append(toks[k])
        k += 1
    elif det_needed and not (k < len(toks) and toks[k][:1].isupper()):
        return [], j
    while k < len(toks) and len(words) < 6 and toks[k][:1].isalpha() and toks[k].lower() not in _STOP:
        words.append(toks[k])
        k += 1
    return (words, k) if any(w.lower() not in _DETS for w in words) else ([], j)


def _head_at(words: list[str]) -> int:
    """The index of the place word (or part word) that ends the noun phrase in `words`, -1 when
    none. A place word before another plain noun names that noun's kind, not a place ("the
    cloakroom attendant", "the stage lights"); before a name, an adverb or a past tense it ends
    the phrase ("the mine alone", "the kitchen smelled", "the pantry Clem …")."""
    for i in range(len(words) - 1, -1, -1):
        w = words[i].lower().strip("'’")
        if w not in PLACE_HEADS and w not in PARTS:
            continue
        if i == len(words) - 1:
            return i
        nxt = words[i + 1]
        if nxt[:1].isupper() and not words[i][:1].isupper():
            return i
        low = nxt.lower()
        if low.endswith("ly") or low.endswith("ed") or low in _ADVERBS:
            return i
    return -1


_ADVERBS = frozenset(re.findall(r"\S+", """alone again together now today tonight yesterday tomorrow early late
first last once twice already still too instead anyway back home outside inside upstairs downstairs abroad
overnight all both above below"""))


def _is_name(words: list[str], people: set[str]) -> bool:
    core = [w for w in words if w.lower() not in _DETS]
    return bool(core) and all(w[:1].isupper() for w in core) and not any(w.lower() in people for w in core)


def _place_at(toks: list[str], j: int, people: set[str], *, det_needed: bool = True) -> tuple[str, str, int] | None:
    """(phrase, key, end) of a place named from toks[j], or None. The key is the place's own
    words without determiner ('wash bay'); a part ('the back') needs a place after it."""
    words, k = _noun_phrase(toks, j, det_needed=det_needed)
    at = _head_at(words)
    if at < 0:
        return None
    words, k = words[: at + 1], j + at + 1
    key = " ".join(w.lower() for w in words if w.lower() not in _DETS)
    part = words[-1].lower() in PARTS and words[-1].lower() not in PLACE_HEADS
    phrase = " ".join(words)
    for _ in range(2):  # "the back of the van on the ring road"
        if k >= len(toks) or toks[k].lower() not in _TAIL_PREPS:
            break
        more, end = _noun_phrase(toks, k + 1, det_needed=False)
        m_at = _head_at(more)
        if m_at >= 0 and more[m_at].lower() not in PARTS:
            more, end = more[: m_at + 1], k + 1 + m_at + 1
            if part:
                key, part = f"{key} {toks[k].lower()} " + " ".join(w.lower() for w in more if w.lower() not in _DETS), False
        elif not _is_name(more, people):
            break
        phrase = f"{phrase} {toks[k]} {' '.join(more)}"
        k = end
    return (None if part else (phrase, key, k))




def _has_someone(text: str, people: set[str]) -> bool:
    return bool(_PERSON_WORD.search(text)) or any(w.lower() in people for w in re.findall(r"[A-Z][\w'’-]*", text))


def _sentence_places(sentence: str, people: set[str], someone: bool) -> list[tuple[str, str, bool]]:
    """The places a sentence names; `someone`: its paragraph has a person in it. A place said
    inside quotes is talk, not where anybody is."""
    sentence = unquoted(sentence, " , ")
    toks = _words(sentence)
    alpha = [t for t in toks if t[:1].isalpha()]
    found: list[tuple[str, str, bool]] = []
    start = next((i for i, t in enumerate(toks) if t[:1].isalpha()), 0)
    # A sentence that is only a place is a heading of the story's own ("Bakery kitchen.").
    if alpha and len(alpha) <= 10:
        j = start + (1 if toks[start].lower() in _PREPS else 0)
        got = _place_at(toks, j, people, det_needed=False)
        if got and not any(t[:1].isalpha() for t in toks[got[2]:]):
            return [(got[0], got[1], True)]
    if not someone:
        return []
    used = 0
    opening = _opening_place(toks, start, people)
    if opening is not None:
        opening = _within(toks, opening[2], people) or opening  # "Back at Kestrel Field, in the canteen, …"
        found.append((opening[0], opening[1], True))
        used = opening[2]
    for i, t in enumerate(toks[1:], start=1):  # "came home", "at home": home is where somebody is
        if t.lower() == "home" and toks[i - 1].lower() in _HOMEWARD and not in_mind(" ".join(toks[:i])):
            found.append(("home", "home", i - 1 == start))
    for i, t in enumerate(toks):
        if i < used or (t.lower() not in _PREPS and t.lower() not in _MOTION):
            continue
        if t.lower() == "from" and i > 0 and (toks[i - 1].lower() in people or is_person_noun(toks[i - 1])):
            continue  # "Mr. Abiodun from the flat upstairs": where he lives, not where anybody is
        j = i + 2 if t.lower() == "out" and i + 1 < len(toks) and toks[i + 1].lower() == "of" else i + 1
        got = _place_at(toks, j, people)
        if got:
            used = got[2]
            if not in_mind(" ".join(toks[: i + 1])) and not _where_a_thing_is(toks, i, people):
                found.append((got[0], got[1], i == start))
    return found


#: Nouns an opening phrase names that are not places: times ("On the morning of the twelfth", "On
#: Tuesday", "At two"), manners and states ("In silence", "At once"), parts of a body or a mind,
#: pronouns ("Behind it"), and what one sees things in ("In the mirror a tired stranger looks back").
_NOT_WHERE = frozenset(re.findall(r"\S+", """morning mornings afternoon evening evenings night nights day days daytime
week weeks weekend month months year years hour hours minute minutes second seconds moment moments instant time times
while dawn daybreak dusk sunset sunrise noon midday midnight twilight season spring summer autumn fall winter holiday
holidays christmas easter birthday end ending beginning start middle meantime meanwhile once last first least most all
any general particular short fact truth case way ways event events spite silence quiet dark darkness light shadow
shadows turn return answer reply response hurry haste rush secret private public contrast addition words word life
death dream dreams sleep mind minds thought thoughts head heart hand hands arm arms eye eyes face voice tears panic
fear anger love joy relief horror surprise despair theory practice principle future past present age ages order charge
front total sum half part course name sake behalf favour favor place stead memory memories honour honor agreement tune
effect reality vain earnest advance common exchange doubt danger trouble luck detail details brief confidence it this
that these those here there which what whom one two three four five six seven eight nine ten eleven twelve twenty
thirty forty fifty hundred thousand monday tuesday wednesday thursday friday saturday sunday january february march
april may june july august september october november december mirror mirrors reflection window windows glass picture
pictures photo photograph photographs screen distance background foreground paper papers newspaper book books letter
letters film story stories news song phone breakfast lunch dinner supper tea rain snow wind fog mist storm heat cold
sun sunshine sunlight moonlight starlight"""))


#: Prepositions that put somebody in a place of any name ("in orbit", "at the launch pad"); "under",
#: "behind", "by" put them beside a thing ("Under the one working spotlight he shone"), and name a
#: place only when its head word is one (`PLACE_HEADS`).
_INTO = frozenset({"in", "inside", "on", "at", "into", "onto", "within"})


def _opening_place(toks: list[str], start: int, people: set[str]) -> tuple[str, str, int] | None:
    """(phrase, key, end) of the place a sentence opens on ("Out on the launch pad the wind
    smelled of fuel", "In orbit, she floated"), or None. A sentence that opens on a phrase of place
    sets its scene there, whether or not its head is a word `PLACE_HEADS` knows: the phrase is one
    or two prepositions of place (`_INTO`, after "out", "back", "up" or "down"), a noun phrase of
    at most four words, and then a comma or the start of a clause (a determiner, a pronoun, a
    name). Times, manners and states ("On the morning of the twelfth", "In silence", "At once") and
    people are not places (`_NOT_WHERE`)."""
    if start >= len(toks) or toks[start].lower() not in _INTO | {"out", "back", "up", "down"}:
        return None
    j = start + 1
    if j < len(toks) and toks[j].lower() in _INTO:
        j += 1  # "out on", "back at", "up in"
    elif toks[start].lower() in {"out", "back", "up", "down"}:
        return None
    known = _place_at(toks, j, people, det_needed=False)
    if known is not None:
        return known
    words, k = _noun_phrase(toks, j, det_needed=False)
    cut = next((i for i, w in enumerate(words) if i > 0 and (w.lower() in _PERSON_WORDS | {"there", "it"}
                                                              or (w[:1].isupper() and w.lower() in people))), None)
    if cut is not None:  # "Under the old viaduct they waited": the phrase ends where its clause begins
        words, k = words[:cut], j + cut
    core = [w for w in words if w.lower() not in _DETS]
    if not core or len(core) > 4 or k >= len(toks):
        return None
    if words[0].lower() in _DETS - {"the", "a", "an"}:
        return None  # "In her hurry", "On his knees": hers, not a place
    nxt = toks[k]
    if not (nxt == "," or nxt.lower() in _DETS or nxt.lower() in _PERSON_WORDS or nxt.lower() in {"there", "it"}
            or (nxt[:1].isupper() and nxt.lower() in people)):
        return None
    head = core[-1].lower().strip("'’")
    if (head in _NOT_WHERE or head in _PERSON_NOUNS or not head.isalpha() or any(w.lower() in people for w in core)
            or is_person_noun(core[-1]) or head.endswith("ing") or head.endswith("ly")):
        return None
    return " ".join(words), " ".join(w.lower() for w in core), k


def _within(toks: list[str], k: int, people: set[str]) -> tuple[str, str, int] | None:
    """(phrase, key, end) of a place set off by a comma right after the place a sentence opens on,
    or None: "Back at Kestrel Field, in the canteen, Dr. Baptiste finished her noodles" is in the
    canteen, and Kestrel Field is only where the canteen is (the understudy astronaut at a2d9b1e
    had a scene at KESTREL FIELD that retold the canteen). The inner place needs a place word
    (`PLACE_HEADS`): "In London, in a hurry, she ran" stays in London."""
    if k + 1 >= len(toks) or toks[k] != "," or toks[k + 1].lower() not in _INTO:
        return None
    return _place_at(toks, k + 2, people)


#: Where a thing is, not a person: "the dust in the well", "a kettle on the stove".
_WHERE_AT = frozenset({"in", "inside", "on", "at", "under", "beneath", "behind", "near", "beside", "by", "within",
                       "outside", "over"})
#: Words for a person: "the man in the kitchen" is there.
_PERSON_NOUNS = frozenset(re.findall(r"\S+", """man men woman women boy boys girl girls child children kid kids baby
people person lady gentleman guy folk crowd family queen king prince princess lord officer guard driver nurse
doctor priest vicar curate porter stranger friend friends mother father brother sister son daughter wife husband
aunt uncle nan nana gran granny grandad grandmother grandfather mum dad""")) | _PERSON_WORDS


def _where_a_thing_is(toks: list[str], i: int, people: set[str]) -> bool:
    """True when the preposition at toks[i] says where the thing just before it is ("the dust in
    the well", "a kettle on the stove"): a determiner, one word that is not a person, then a
    preposition of rest. "The man in the kitchen", "Clem in the pantry" put somebody there; "took
    the tin down the lane" takes it (and its bearer) somewhere; "by the lamp in the instrument
    room" puts whoever is by the lamp in the room."""
    if i < 2 or toks[i].lower() not in _WHERE_AT or toks[i - 2].lower() not in _DETS:
        return False
    if i >= 3 and toks[i - 3].lower() in _WHERE_AT:
        return False  # "writing by the lamp in the instrument room": who is by the thing is in the room
    noun = toks[i - 1]
    low = noun.lower().strip("'’")
    return (noun[:1].isalpha() and low not in _STOP and low not in _PERSON_NOUNS and low not in people
            and not is_person_noun(noun) and not noun[:1].isupper())


_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
          r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_DATE = (rf"(?:(?:{_DAY},?\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+\d{{4}})?"
         rf"|(?:{_DAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|{_DAY}|\d{{4}})")
#: A letter's or a diary entry's dateline, a line of its own: "*Leith, 9 April*", "Paris, June 3, 1921".
_DATELINE = re.compile(rf"^[*_\s]*(?P<place>[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|of|on|upon|de|la)){{0,4}}),\s*"
                       rf"{_DATE}[.*_\s]*$")


def dateline_place(paragraph: str) -> str | None:
    """The place a dateline paragraph names ("*Leith, 9 April*" → "Leith"), None for any other."""
    m = _DATELINE.match(paragraph.strip())
    return m.group("place") if m else None


def story_places(text: str, people: list[str] | None = None) -> list[Place]:
    """Every place where somebody is, in the order the story first takes us there. A dateline
    ("*Leith, 9 April*" above a letter or a diary entry) is where its writer is, for every
    paragraph up to the next dateline."""
    names = {w.lower() for p in people or [] for w in p.split()}
    found: list[Place] = []
    paragraphs = story_paragraphs(text)
    dated: str | None = None
    for index, paragraph in enumerate(paragraphs):
        place = dateline_place(paragraph)
        if place is not None and place.split()[0].lower() not in names:
            dated = place
            continue
        greeting = len(paragraph.split()) <= 3 and paragraph.rstrip().endswith(",")  # "Dear Ruth,": not there
        if dated is not None and not greeting and _has_someone(unquoted(paragraph), names):
            _add(found, dated.lower(), dated, index, opens=True)
        someone = _has_someone(unquoted(paragraph), names)
        here: list[tuple[str, Place]] = []
        for sentence in sentences_whole(paragraph):
            for phrase, key, opens in _sentence_places(sentence, names, someone):
                here.append((phrase, _add(found, key, phrase, index, opens)))
        end = ends_at(paragraph, [phrase for phrase, _ in here])
        if end is not None and here[end][1].paragraphs[0] == index:
            here[end][1].ends = True
    return found


def _part_of(key: str) -> tuple[str, str] | None:
    """(part, whole) of a key that names a part of a place ("mouth of mine" → ("mouth", "mine")),
    None for a key that names a whole place ("far shore", "wash bay")."""
    words = key.split()
    at = next((i for i in range(1, len(words) - 1) if words[i] in _TAIL_PREPS and words[i - 1] in PARTS), -1)
    return (" ".join(words[:at]), " ".join(words[at + 1:])) if at > 0 else None


def _same_key(a: str, b: str) -> bool:
    """True when two keys name one place: one ends with the other ("kitchen", "bakery kitchen"),
    or one is a part of the other ("mine", "mouth of mine"); two parts of one place are two
    places ("mouth of mine", "bottom of mine")."""
    pa, pb = _part_of(a), _part_of(b)
    if pa and pb:
        return pa[0] == pb[0] and _same_key(pa[1], pb[1])
    if pa or pb:
        whole, part = (b, pa) if pa else (a, pb)
        assert part is not None
        return _same_key(whole, part[1])
    wa, wb = a.split(), b.split()
    short, long = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return long[len(long) - len(short):] == short


def _add(found: list[Place], key: str, phrase: str, index: int, opens: bool) -> Place:
    """Add a naming of a place to `found`: to the place it names (the same as one of its forms,
    and no other part of it), else as a new place. Returns the place."""
    place = next((p for p in found if any(_same_key(k, key) for k in p.keys)
                  and not any(_part_of(k) and _part_of(key) and not _same_key(k, key) for k in p.keys)), None)
    if place is None:
        head = key.split()[-1]
        place = Place(name=phrase, head=key, inside=head in INSIDE, paragraphs=[index], forms=[phrase],
                      opens=opens, keys=[key])
        found.append(place)
        return place
    if opens and index == place.paragraphs[0]:
        place.opens = True
    if index not in place.paragraphs:
        place.paragraphs.append(index)
    if key not in place.keys:
        place.keys.append(key)
    if phrase not in place.forms:
        place.forms.append(phrase)
        if len(phrase.split()) > len(place.name.split()):
            place.name = phrase
    return place


def at_place(place: Place, location: str) -> bool:
    """True when a scene heading's location (`same_place`) is this place of the story: a part of
    it or the whole it is part of may be ("HESSOCK MINE" for "the mouth of the mine"), another part
    of the same whole may not ("MOUTH OF THE MINE" is not "the bottom of the mine")."""
    key = " ".join(w for w in re.findall(r"[a-z][\w'’-]*", location.lower()) if w not in _DETS)
    part = _part_of(key)
    parts = {got[0] for k in place.keys if (got := _part_of(k))}
    if part and parts and part[0] not in parts:
        return False
    return same_place(place.head, location)
