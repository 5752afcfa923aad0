"""Words of the screen, read by code: what is not a thing (times of day, headings, transitions,
camera directions, scenery), what a character does to an object (handles it), what a sentence says
about a look changing, and what an action line shows (a reaction, a movement, a crowd).

Stage 5 uses these to keep only real assets and to find look changes the model missed; stage 7 to
drop headings and transitions from shots and to choose a camera from the content; stage 8 to make
a look change land in its scene. Plain English word lists and regular expressions: no model, so the
same input always gives the same answer, and a test can state the rule.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

from aiuteur.domain.names import spans
from aiuteur.screenplay.headings import is_heading, is_time_of_day


def words_key(text: str) -> str:
    """`text` as its lower-case words, one space apart: two texts that say the same words match
    whatever their punctuation, capitals and spacing."""
    return " ".join(re.findall(r"\w+", text.lower()))

# --- not things ---------------------------------------------------------------------------------------

TRANSITIONS = re.compile(
    r"^(?:(?:SMASH|MATCH|JUMP|HARD|QUICK|STRAIGHT)\s+)?CUT(?:\s+(?:TO|BACK\s+TO))?\b|^FADE\s*(?:IN|OUT|TO)\b"
    r"|^DISSOLVE(?:\s+TO)?\b|^WIPE(?:\s+TO)?\b|^IRIS\s+(?:IN|OUT)\b|^BACK\s+TO(?:\s+(?:SCENE|PRESENT))?\b"
    r"|^INTERCUT\b|^(?:THE\s+)?END(?:\s+CREDITS)?$|^TITLE(?:\s+CARD)?\s*:|^SUPER(?:IMPOSE)?\s*:|^CONTINUED\b"
    r"|^TIME\s+CUT\b|^FLASH\s*(?:BACK|FORWARD)\b|^END\s+(?:OF\s+)?FLASH\s*BACK\b|\bTO\s*:$",
    re.IGNORECASE,
)
CAMERA_DIRECTIONS = re.compile(
    r"^(?:(?:EXTREME\s+|MEDIUM\s+|EXTREME\s+)?CLOSE[\s-]*(?:UP|ON|SHOT)|ANGLE\s+ON|REVERSE\s+(?:ANGLE|SHOT)|POV|P\.O\.V\."
    r"|INSERT|(?:EXTREME\s+)?WIDE(?:\s+SHOT)?|ESTABLISHING(?:\s+SHOT)?|(?:SLOW\s+)?(?:PAN|TILT|DOLLY|ZOOM|PUSH)"
    r"(?:\s+(?:IN|OUT|UP|DOWN|LEFT|RIGHT|TO|ON))?|TRACKING(?:\s+SHOT)?|CRANE(?:\s+SHOT)?|OVER\s+THE\s+SHOULDER|OTS"
    r"|ECU|MCU|TWO[\s-]SHOT|AERIAL(?:\s+SHOT)?|SLOW\s+MOTION|FREEZE\s+FRAME|SPLIT\s+SCREEN|V\.?O\.?|O\.?S\.?"
    r"|O\.?C\.?|OFF[\s-]SCREEN|VOICE[\s-]OVER|MONTAGE|SERIES\s+OF\s+SHOTS|ON\s+SCREEN|CAMERA|THE\s+CAMERA|SHOT"
    r"|(?:THE\s+)?SCENE|SEQUENCE)\b[\s.:,!-]*$",
    re.IGNORECASE,
)
NOT_VISUAL = re.compile(r"^(?:the\s+)?(?:beat|pause|silence|music|sound|sounds|noise|sfx|vfx|score|soundtrack|"
                        r"dialogue|narration|narrator's voice|act(?:\s+\w+)?|prologue|epilogue|story|plot|title)$",
                        re.IGNORECASE)
#: A quoted span, straight or curly quotes ("…", “…”, and “…" as typed in a hurry); group 1 is
#: what was said. Talk, not narration: places, looks and actors are read outside it.
QUOTED = re.compile(r"[\"“”]([^\"“”]*)[\"“”]")


def quotations(text: str) -> list[str]:
    """What the quotes of `text` say, stripped; a quote of fewer than two characters is no line."""
    return [q.strip() for q in QUOTED.findall(text) if len(q.strip()) >= 2]


def unquoted(text: str, fill: str = " ") -> str:
    """`text` with every quoted span replaced by `fill`."""
    return QUOTED.sub(fill, text)


_UPPER_FRAGMENT = re.compile(r"^[^a-z]*[A-Z][^a-z]*$")

#: Set dressing, architecture, surfaces, light and weather: part of a place, not a prop (unless handled).
SCENERY = frozenset(["wallpaper", "wall", "walls", "floor", "floors", "floorboard", "floorboards", "ceiling", "ceilings", "roof", "window", "windows", "windowsill", "sill", "door", "doors", "doorway", "doorframe", "frame", "hallway", "corridor", "stair", "stairs", "staircase", "steps", "step", "banister", "railing", "curtain", "curtains", "drape", "drapes", "blind", "blinds", "carpet", "carpets", "rug", "rugs", "tile", "tiles", "plaster", "paint", "paintwork", "beam", "beams", "rafter", "rafters", "pillar", "pillars", "column", "columns", "arch", "archway", "fireplace", "hearth", "mantel", "mantelpiece", "chimney", "skirting", "panelling", "paneling", "moulding", "molding", "cornice", "shutter", "shutters", "porch", "balcony", "terrace", "furniture", "bed", "beds", "sofa", "couch", "armchair", "chair", "chairs", "table", "tables", "desk", "desks", "shelf", "shelves", "shelving", "bookcase", "bookshelf", "cupboard", "cupboards", "cabinet", "cabinets", "wardrobe", "dresser", "drawer", "drawers", "counter", "countertop", "bench", "benches", "stool", "stools", "lamp", "lamps", "lampshade", "chandelier", "light", "lights", "lighting", "sunlight", "moonlight", "daylight", "lamplight", "candlelight", "shadow", "shadows", "darkness", "gloom", "dust", "dirt", "grime", "cobweb", "cobwebs", "stain", "stains", "mould", "mold", "damp", "crack", "cracks", "smoke", "fog", "mist", "haze", "rain", "snow", "wind", "sky", "clouds", "cloud", "sun", "moon", "stars", "weather", "air", "grass", "trees", "tree", "bushes", "bush", "leaves", "foliage", "hedge", "hedges", "flowers", "weeds", "ground", "earth", "mud", "puddle", "puddles", "street", "road", "pavement", "sidewalk", "alley", "wallpapers", "decor", "decoration", "decorations", "ornaments", "clutter", "junk", "debris", "rubble", "litter", "trash", "garbage", "view", "scenery", "background", "atmosphere", "silence", "noise", "sound", "sounds", "music"])

#: Verbs by which a character handles an object (the object then matters to the shot and the story).
HANDLING = re.compile(
    r"\b(?:pick(?:s|ed|ing)?\s+up|hold(?:s|ing)?|held|grab(?:s|bed|bing)?|grip(?:s|ped|ping)?|clutch(?:es|ed|ing)?"
    r"|carr(?:y|ies|ied|ying)|hand(?:s|ed|ing)?\s+(?:\w+\s+)?(?:over|the|a|an|her|his|their)?|give(?:s|n)?|gave"
    r"|giving|take(?:s|n)?|took|taking|pass(?:es|ed|ing)?|offer(?:s|ed|ing)?|open(?:s|ed|ing)?|close(?:s|d)?"
    r"|clos(?:ing)|read(?:s|ing)?|write(?:s)?|wrote|writing|sign(?:s|ed|ing)?|throw(?:s|n|ing)?|threw"
    r"|toss(?:es|ed|ing)?|drop(?:s|ped|ping)?|pocket(?:s|ed|ing)?|wield(?:s|ed|ing)?|brandish(?:es|ed|ing)?"
    r"|swing(?:s|ing)?|swung|lift(?:s|ed|ing)?|rais(?:e|es|ed|ing)|raise|point(?:s|ed|ing)?|aim(?:s|ed|ing)?"
    r"|fire(?:s|d)?|firing|load(?:s|ed|ing)?|pour(?:s|ed|ing)?|drink(?:s|ing)?|drank|eat(?:s|ing)?|ate|light(?:s|ed)?"
    r"|lit|lighting|strike(?:s)?|struck|unlock(?:s|ed|ing)?|lock(?:s|ed|ing)?|turn(?:s|ed|ing)?|twist(?:s|ed|ing)?"
    r"|press(?:es|ed|ing)?|push(?:es|ed|ing)?|pull(?:s|ed|ing)?|tug(?:s|ged|ging)?|drag(?:s|ged|ging)?"
    r"|set(?:s|ting)?\s+down|put(?:s|ting)?|place(?:s|d)?|placing|lay(?:s|ing)?|laid|slide(?:s)?|slid|hide(?:s)?"
    r"|hid|hiding|wrap(?:s|ped|ping)?|unwrap(?:s|ped|ping)?|fold(?:s|ed|ing)?|unfold(?:s|ed|ing)?|tear(?:s|ing)?"
    r"|tore|rip(?:s|ped|ping)?|crumple(?:s|d)?|crush(?:es|ed|ing)?|break(?:s|ing)?|broke|smash(?:es|ed|ing)?"
    r"|shatter(?:s|ed|ing)?|fix(?:es|ed|ing)?|repair(?:s|ed|ing)?|polish(?:es|ed|ing)?|clean(?:s|ed|ing)?"
    r"|wipe(?:s|d)?|wiping|tune(?:s|d)?|play(?:s|ed|ing)?|dial(?:s|led|ing)?|tap(?:s|ped|ping)?|type(?:s|d)?"
    r"|typing|use(?:s|d)?|using|wear(?:s|ing)?|wore|don(?:s|ned|ning)?|fasten(?:s|ed|ing)?|button(?:s|ed|ing)?"
    r"|tie(?:s|d)?|tying|untie(?:s|d)?|shake(?:s|n)?|shook|wave(?:s|d)?|waving|clasp(?:s|ed|ing)?"
    r"|cradle(?:s|d)?|cradling|hug(?:s|ged|ging)?|kiss(?:es|ed|ing)?|touch(?:es|ed|ing)?|stroke(?:s|d)?"
    r"|fill(?:s|ed|ing)?|empt(?:y|ies|ied|ying)|stuff(?:s|ed|ing)?|pack(?:s|ed|ing)?|unpack(?:s|ed|ing)?"
    r"|reach(?:es|ed|ing)?\s+for|fumble(?:s|d)?\s+(?:with|for)|snatch(?:es|ed|ing)?|steal(?:s|ing)?|stole"
    r"|find(?:s|ing)?|found|examine(?:s|d)?|examining|inspect(?:s|ed|ing)?|study|studies|studied|show(?:s|ed|n)?"
    r"|present(?:s|ed|ing)?|raise(?:s|d)?|shove(?:s|d)?|stab(?:s|bed|bing)?|cut(?:s|ting)?|slice(?:s|d)?)\b",
    re.IGNORECASE,
)

#: A sentence that says a character's look changes (costume, hair, injury, disguise, transformation).
#: Things a person wears: "slipped on the ice" is not a look change, "slipped on her coat" is.
GARMENT = (r"(?:coat|jacket|suit|tuxedo|dress|gown|shirt|blouse|skirt|trousers|jeans|boots?|shoes?|socks|hat|cap|hood"
           r"|cloak|apron|uniform|tunic|cardigan|jumper|sweater|scarf|gloves?|tie|oilskins?|raincoat|smock|robe|crown"
           r"|vest|overalls|pyjamas|nightgown|fleece|costume|mask|wig|glasses|spectacles|armou?r|helmet|veil|sandals"
           r"|slippers|trainers|sneakers|shawl|cape|poncho|parka|anorak|waistcoat|blazer|bonnet|beret|headscarf|turban"
           r"|hi-vis|clothes|outfit|disguise)s?")

LOOK_CHANGE = re.compile(
    r"\b(?:(?:put|puts|putting|shrug|shrugs|shrugged)\s+(?:(?:it|them)\s+)?(?:on|into)\b"
    r"|(?:pull|pulls|pulled|slip|slips|slipped|throw|throws|threw)\s+(?:(?:it|them)\s+(?:on|into)\b|(?:on|into)\s+"
    r"(?:[\w'’-]+\s+){0,4}?" + GARMENT + r"\b)|(?:change|changes|changed|changing)\s+(?:into|clothes|outfits?|costumes?)"
    r"|(?:dress|dresses|dressed|dressing)\s+(?:in|as|up)\b|don|dons|donned|donning|now\s+(?:wears|wearing|in|dressed)"
    r"|disguis(?:e|es|ed|ing)|costume|wig|(?:takes|took|take|taken|taking|pulls|pulled|strips|stripped|peels|peeled)\s+off"
    r"|removes\s+(?:her|his|their|the)\s+(?:\w+\s+)?(?:coat|jacket|hat|mask|glasses|wig|dress|shirt|uniform|boots|shoes|armou?r|veil|cloak)"
    r"|(?<!\ba )(?<!\ban )(?:cuts|cut|chops|chopped|shaves|shaved|dyes|dyed|bleaches|bleached|crops|cropped)\s+(?:off\s+)?"
    r"(?:(?:her|his|their|my|your|our)\s+)?(?:hair|beard|head|braids?|plaits?|locks|fringe)"
    r"|(?:pull|pulls|pulled|tug|tugs|tugged|draw|draws|drew)\s+(?:it|them|(?:\w+\s+){1,2}?)\s*(?:down\s+|low\s+)?over\s+"
    r"(?:her|his|their|my|your|our)\s+(?:hair|head|eyes|face|ears|brow)"
    r"|(?:zip|zips|zipped|button|buttons|buttoned|fasten|fastens|fastened)\s+(?:up\s+)?to\s+(?:the|her|his|their|my|your)\s+"
    r"(?:chin|neck|throat|collar)|(?:wash|washes|washed|wipe|wipes|wiped|scrub|scrubs|scrubbed)\s+off\s+"
    r"(?:the|her|his|their|my|your)\s+(?:lipstick|make-?up|mascara|paint|war\s+paint|eyeliner)"
    r"|hair\s+(?:turns|turned|goes|went|falls|fell|is\s+now)|(?:turns|turned|transforms?|transformed|stiffens?|stiffened"
    r"|changes?|changed|morphs?|morphed)\s+into|transform(?:s|ed|ing)?\b|(?:soaked|drenched|bloodied|bandaged|bruised"
    r"|scarred|wounded|covered\s+in|splattered|smeared|muddy|mud-caked)|(?:arrives|arrived|enters|entered|emerges"
    r"|emerged|returns|returned|reappears|reappeared|steps\s+out|comes\s+back)\s+(?:\w+\s+)?(?:in|wearing|dressed)\b"
    r"|(?:wears|wearing)\s+(?:a|an|the|her|his|their)\s+(?:new|borrowed|stolen)|crown(?:s|ed)\b|unmask(?:s|ed)?"
    r"|(?:swaps?|swapped|trades?|traded)\s+(?:her|his|their)"
    # somebody else dresses them: "two technicians zipped her into Marguerite's white pressure suit"
    r"|(?:zip|zips|zipped|button|buttons|buttoned|lace|laces|laced|strap|straps|strapped|help|helps|helped|squeeze"
    r"|squeezes|squeezed|bundle|bundles|bundled|sew|sews|sewed|stuff|stuffs|stuffed)\s+(?:her|him|them|me|us)\s+"
    r"in(?:to)?\s+(?:[\w'’-]+\s+){0,4}?" + GARMENT + r"\b)",
    re.IGNORECASE,
)

CONDITION = re.compile(r"^(?:soaked|drenched|bloodied|bandaged|bruised|scarred|wounded|covered\s+in|splattered"
                       r"|smeared|muddy|mud-caked)$", re.IGNORECASE)


def says_look_change(sentence: str, subject_first: bool) -> bool:
    """True if the sentence says a look changes; a bare condition ("soaked", "covered in") counts
    only close after the character who opens the sentence ("Bo, soaked to the skin, …"), never for
    a thing further on ("Iris sits at a table covered in maps")."""
    found = list(LOOK_CHANGE.finditer(sentence))
    if any(not CONDITION.match(m.group(0)) for m in found):
        return True
    return subject_first and any(len(sentence[: m.start()].split()) <= 3 for m in found)


REACTION = re.compile(
    r"\b(?:stare|stares|staring|freeze|freezes|froze|gasp|gasps|flinch|flinches|wince|winces|smile|smiles|grin"
    r"|grins|frown|frowns|blink|blinks|nod|nods|laugh|laughs|cry|cries|weep|weeps|sob|sobs|tear|tears\s+up"
    r"|blush|blushes|swallow|swallows|sigh|sighs|glare|glares|glance|glances|look|looks|watch|watches|stiffen"
    r"|stiffens|eyes\s+(?:widen|narrow|fill)|jaw\s+drops|face\s+falls|realis|realiz|recognis|recogniz|shock"
    r"|stunned|startled|horrified|terrified|relieved|trembl|shiver|shudder)\w*",
    re.IGNORECASE,
)
MOVEMENT = re.compile(
    r"\b(?:walk|walks|walking|run|runs|running|ran|rush|rushes|race|races|sprint|sprints|hurr(?:y|ies)|chase"
    r"|chases|follow|follows|enter|enters|exit|exits|leave|leaves|cross|crosses|climb|climbs|descend|descends"
    r"|drive|drives|ride|rides|fly|flies|swim|swims|stride|strides|march|marches|stumble|stumbles|wander"
    r"|wanders|pace|paces|dash|dashes|flee|flees|approach|approaches|advance|advances|step|steps|jump|jumps"
    r"|leap|leaps|fall|falls|dance|dances|spin|spins|circle|circles|head|heads)\b",
    re.IGNORECASE,
)
CROWD = re.compile(
    r"\b(?:crowd|crowds|everyone|everybody|people|guests|dancers|shoppers|passengers|audience|villagers"
    r"|soldiers|students|customers|onlookers|mob|throng|dozens|hundreds|families|the\s+whole\s+\w+|all\s+of\s+them)\b",
    re.IGNORECASE,
)
#: What a low camera shows: someone above us, or seen from below ("looks up at the tall man",
#: "stands on the stage", "lifts the tuba" - a figure raised, performing or threatening).
LOOMING = re.compile(r"\b(?:tower|towers|towering|loom|looms|looming|threaten|threatens|menac\w*|stands\s+over"
                     r"|stands\s+(?:on|above)|rises|rose|looks?\s+up\s+(?:\w+\s+){0,4}?at|looked\s+up\s+(?:\w+\s+){0,4}?at"
                     r"|tall|giant|huge|lifts|lifted|raises|raised|on\s+(?:the\s+)?stage|podium|pulpit|throne"
                     r"|on\s+the\s+roof|atop|on\s+top\s+of)\b", re.IGNORECASE)
#: What a high camera shows: someone low, small or overwhelmed ("kneels", "sits alone", "looks
#: down at", "asleep in a deckchair").
LOWLY = re.compile(r"\b(?:kneel|kneels|kneeling|knelt|collapse|collapses|cower|cowers|crumple|crumples|slump|slumps"
                   r"|falls|lies\s+(?:on|in)|lying|curls\s+up|crouch|crouches|crouching|small|alone|sits|sat|seated"
                   r"|sitting|asleep|sleeps|sleeping|on\s+the\s+floor|on\s+the\s+ground|looks?\s+down\s+at"
                   r"|looked\s+down\s+at|hides|hiding|trapped|lost|tiny)\b", re.IGNORECASE)

_ARTICLE = re.compile(r"^(?:the|a|an|some|his|her|their|its|my|our|your)\s+", re.IGNORECASE)


def head_noun(name: str) -> str:
    """The last word of a name, lower case, without a plural 's' kept apart ('the silver keys' -> 'keys')."""
    words = re.findall(r"[\w'’-]+", name.lower())
    return words[-1] if words else ""


def not_a_thing(name: str) -> str:
    """Why `name` can never be an asset ('' when it can): a time of day, a scene heading or a fragment
    of one, a transition, a camera direction, or no letters at all. One short phrase, for the take."""
    text = " ".join(name.split()).strip(" .:;,-")
    if not re.search(r"[^\W\d_]", text):
        return "it has no letters"
    if is_time_of_day(text):
        return "it is a time of day"
    if is_heading(text) or re.match(r"^(?:INT|EXT|I/E|INT\./EXT)\b\.?", text, re.IGNORECASE):
        return "it is a scene heading"
    if TRANSITIONS.search(text):
        return "it is a transition"
    if CAMERA_DIRECTIONS.match(text):
        return "it is a camera direction"
    if NOT_VISUAL.match(text):
        return "it is not something the camera sees"
    return ""


def is_scenery(name: str) -> bool:
    """True when the thing is set dressing, architecture, a surface, light or weather (part of a place)."""
    return head_noun(_ARTICLE.sub("", name.strip())) in SCENERY


def sentences(text: str) -> list[str]:
    """Sentences of an action paragraph (keeps each one's words as written)."""
    return [s.strip() for s in re.split(r"(?<=[.!?…])[\"'”’)]*\s+(?=\S)", text.strip()) if s.strip()]


_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=\S)")
OPENING, CLOSING = "([{“", ")]}”"
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Mx|St|Jr|Sr|Prof|Capt|Sgt|Lt|Col|Gen|Rev|vs|etc|approx|No|a|p"
                           r"|a\.m|p\.m|[A-Z])\.$", re.IGNORECASE)


def quote_depths(words: list[str]) -> list[int]:
    """Bracket and quote depth after each word (0: the word ends outside any parenthesis or quote)."""
    out, depth, quoted = [], 0, False
    for w in words:
        for ch in w:
            if ch in OPENING:
                depth += 1
            elif ch in CLOSING:
                depth = max(0, depth - 1)
            elif ch == '"':
                quoted = not quoted
        out.append(depth + (1 if quoted else 0))
    return out


def sentences_whole(text: str) -> list[str]:
    """Sentences of a paragraph, never split inside brackets or quotes or after "Dr." and the like."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        before = text[:m.end()]  # with the quote or bracket the sentence closes on
        head = text[start:m.start()]
        if quote_depths(before.split())[-1:] not in ([], [0]) or _ABBREVIATION.search(head):
            continue
        out.append(text[start:m.start()] + m.group(0).rstrip())
        start = m.end()
    out.append(text[start:])
    return [x.strip() for x in out if x.strip()]


def handled(sentence: str, forms: Iterable[str]) -> bool:
    """True if the sentence names the object (any form, or its last word) after a handling verb."""
    sentence = unicodedata.normalize("NFC", sentence)  # the offsets `spans` gives
    for form in forms:
        form = _ARTICLE.sub("", form.strip())
        for f in dict.fromkeys([form, head_noun(form)]):
            hits = spans(sentence, [f], plural=True) if f else []
            if hits and HANDLING.search(sentence[: hits[0][0]]):
                return True
    return False


def is_heading_fragment(text: str) -> bool:
    """True for a piece of action that is a heading, part of one, a transition or a camera direction,
    written in capitals ("INT.", "MARISOL'S BEDROOM - DUSK:", "CUT TO:", "CLOSE ON"); never ordinary prose."""
    t = " ".join(text.split()).strip()
    if not t or not re.search(r"[^\W\d_]", t):
        return True
    if not _UPPER_FRAGMENT.match(t):
        return False
    bare = t.strip(" .:;,-–—")
    if is_heading(t) or re.fullmatch(r"(?:INT|EXT|EST|I/E|INT\./EXT|EXT\./INT)\.?", bare):
        return True
    if is_time_of_day(bare) or TRANSITIONS.search(bare) or CAMERA_DIRECTIONS.match(bare):
        return True
    parts = [p for p in re.split(r"\s+[-–—]{1,2}\s+|\s*--\s*", bare) if p.strip()]
    return len(parts) >= 2 and is_time_of_day(parts[-1])  # "MARISOL'S BEDROOM - DUSK"


__all__ = [
    "CAMERA_DIRECTIONS",
    "CROWD",
    "HANDLING",
    "LOOK_CHANGE",
    "LOOMING",
    "LOWLY",
    "MOVEMENT",
    "REACTION",
    "SCENERY",
    "TRANSITIONS",
    "handled",
    "head_noun",
    "is_heading_fragment",
    "is_scenery",
    "not_a_thing",
    "says_look_change",
    "says_the_same",
    "sentences",
]


def story_paragraphs(text: str) -> list[str]:
    """The paragraphs of a story, each on one line: wrapped lines join, a blank line ends one, and
    a Markdown heading ("# The Tuba Audition") is not a paragraph."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [p for p in paragraphs if not p.startswith("#")]


_COMMON = frozenset(re.findall(r"\S+", """the a an and but or of to in on at by for from with into onto over under as is
are was were be been has had have his her their its they them she he him it this that these those then than when
while who whom what which there here not no yes all any each one two out up down off so if do does did just very
still only your you our we me my i said says say"""))


def content_words(text: str) -> set[str]:
    """The words of a text that say what it is about (three letters or more, no common words)."""
    return {w for w in re.findall(r"[a-z][a-z'’]+", text.lower()) if len(w) >= 3 and w not in _COMMON}


def told_share(a: set[str], b: set[str]) -> float:
    """How much of the shorter of two texts (as content words) the other one tells too."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def retold(words: set[str], told: list[set[str]], *, share: float = 0.7, least: int = 5) -> int | None:
    """The first of `told` (each an earlier summary's content words) that `words` tells again:
    most of the shorter one's content words (`share`, at least `least` of them) are in the other.
    None when it tells something new. The one rule for a retold scene and a retold beat."""
    return next((k for k, w in enumerate(told) if len(words & w) >= least and told_share(words, w) >= share), None)


_SAME_STOP = frozenset(["with", "from", "that", "this", "into", "over", "then", "they", "their", "them", "have", "were",
                        "when", "while", "what", "which", "there", "here", "now", "her", "his", "she", "him"])


def _look_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[\w'’-]{4,}", text.lower()) if w not in _SAME_STOP}


def says_the_same(text: str, change: str) -> bool:
    """True when `text` already says the change (half its content words or more are in it)."""
    words = _look_words(change)
    return bool(words) and len(words & _look_words(text)) * 2 >= len(words)


#: Past and present forms a story and a script tell the same act in ("Gus held it up" / "Gus holds
#: the jacket up"): screenplays are told in the present, stories mostly in the past.
_IRREGULAR = {
    "held": "hold", "went": "go", "goes": "go", "gone": "go", "took": "take", "taken": "take", "wore": "wear",
    "worn": "wear", "came": "come", "stood": "stand", "threw": "throw", "thrown": "throw", "drew": "draw",
    "drawn": "draw", "tore": "tear", "torn": "tear", "shone": "shine", "fell": "fall", "fallen": "fall",
    "brought": "bring", "caught": "catch", "left": "leave", "found": "find", "gave": "give", "given": "give",
    "made": "make", "began": "begin", "became": "become", "felt": "feel", "kept": "keep", "knew": "know",
    "said": "say", "told": "tell", "stuck": "stick", "shook": "shake", "woke": "wake", "hung": "hang",
    "swung": "swing", "rode": "ride", "wrote": "write", "broke": "break", "broken": "break", "chose": "choose",
    "bent": "bend", "sent": "send", "fought": "fight", "bought": "buy", "stole": "steal", "froze": "freeze",
    "grew": "grow", "blew": "blow", "flew": "fly", "knelt": "kneel", "leapt": "leap", "sank": "sink",
    "sang": "sing", "rang": "ring", "drank": "drink", "slept": "sleep", "swept": "sweep", "wept": "weep",
    "crept": "creep", "lent": "lend", "spun": "spin", "slid": "slide", "lost": "lose", "sought": "seek",
}


def _stem(word: str) -> str:
    """A word without its tense or ending ("whooped", "whoops" -> "whoop"; "held", "holds" -> "hold";
    "fitted", "fits" -> "fit"), for a text told again in another tense."""
    w = _IRREGULAR.get(word, word)
    for end in ("ing", "ed", "es", "s"):
        if w.endswith(end) and len(w) - len(end) >= 3:
            w = w[: -len(end)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsaeiou":
        w = w[:-1]  # "fitt" -> "fit"
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # "take", "tak(es)" alike
    return w


def stems(text: str) -> set[str]:
    """The words of a text that say what it is about (`content_words`), tense and endings aside."""
    return {_stem(w) for w in content_words(text)}


#: Words any look may be told with, which say nothing of which look it is.
_ANY_LOOK = frozenset(_stem(w) for w in ("wearing", "wears", "dressed", "looks", "now", "still", "again"))


def retells(text: str, told: str, names: str = "") -> bool:
    """True when `text` says little that `told` does not: more than two thirds of its words, tense
    and endings aside, are `told`'s ("Gus holds the jacket up … and puts it on. It still fits,
    mostly." retells the story's "… Gus held it up … and put it on. It still fitted, mostly. …";
    "She puts on the red coat" does not retell "She puts on the blue coat"). The words of `names`
    (whose look it is) and words any look is told with ("wearing") are not counted."""
    words = stems(text) - stems(names) - _ANY_LOOK
    return bool(words) and len(words & stems(told)) * 3 > len(words) * 2


_GARMENT_WORD = re.compile(r"(?<![\w-])" + GARMENT + r"(?![\w-])", re.IGNORECASE)
_OFF_VERB = r"(?:take|takes|took|taken|taking|pull|pulls|pulled|strip|strips|stripped|peel|peels|peeled|shed|sheds|shrug|shrugs|shrugged)"
_TAKEN_OFF = re.compile(
    rf"\b{_OFF_VERB}\s+off\s+(?:[\w'’-]+\s+){{0,4}}?({GARMENT})(?![\w-])"
    rf"|\b{_OFF_VERB}\s+(?:[\w'’-]+\s+){{0,3}}?({GARMENT})\s+off\b"
    rf"|\bremov(?:e|es|ed|ing)\s+(?:[\w'’-]+\s+){{0,4}}?({GARMENT})(?![\w-])", re.IGNORECASE)
#: Words that say a look goes back to what it was ("puts his cardigan back on", "in her own clothes again").
_BACK = re.compile(r"\bback\s+(?:on|in|into)\b|\bchang(?:e|es|ed|ing)\s+back\b|\b(?:own|usual)\s+clothes\b|\bagain\b",
                   re.IGNORECASE)
#: What a look is made of besides garments: hair, face, skin, marks, dirt, what one holds.
_APPEARANCE = re.compile(
    r"\b(?:hair|face|skin|eyes|beard|moustache|mustache|make-?up|lipstick|blood|bloody|mud|muddy|paint|painted|wet"
    r"|dirty|dust|dusty|soot|sooty|bruised?|scars?|scarred|tattoo(?:s|ed)?|bald|pale|tears|sweat|grease|stain(?:s|ed)?"
    r"|wear|wears|wearing|wore|worn|dressed|bare|barefoot|naked|holds|holding|carries|carrying)\b", re.IGNORECASE)


def _garment(word: str) -> str:
    w = word.lower()
    return w[:-1] if w.endswith("s") and not w.endswith("ss") else w


def garments(text: str) -> set[str]:
    """The things worn that a text names (outside quotes), singular: {"jacket", "cardigan"}."""
    return {_garment(m.group(0)) for m in _GARMENT_WORD.finditer(unquoted(text))}


def taken_off(text: str) -> set[str]:
    """The things worn that a text says come off ("took off his cardigan", "peels the mask off")."""
    return {_garment(next(g for g in m.groups() if g)) for m in _TAKEN_OFF.finditer(unquoted(text))}


def says_a_look(text: str) -> bool:
    """True when a text says anything of a look: a thing worn, a change of look, hair, face, marks,
    dirt, what one wears or holds. A small model's "state change" is often a line of the scene
    ("Gus sings 'The Last Waltz'", a line of dialogue), which is no look."""
    plain = unquoted(text)
    return bool(_GARMENT_WORD.search(plain) or LOOK_CHANGE.search(plain) or _APPEARANCE.search(plain))


#: "I", "my", "you", "your": a teller's or a letter's words, not a description of anyone by name.
_TOLD_AS_I = re.compile(r"\b(?:I|I['’](?:m|ve|ll|d)|me|my|mine|myself|you|your|yours|yourself|you['’](?:re|ve|ll|d))\b")


def told_as_i(text: str) -> bool:
    """True when a text (outside quotes) is told as "I" or "you"."""
    return bool(_TOLD_AS_I.search(unquoted(text)))


def changes_back(text: str, change: str) -> bool:
    """True when `text` undoes `change`: it takes off what the change put on ("took off the gold
    jacket"), or says the look goes back ("put his cardigan back on", "in her own clothes again")."""
    plain = unquoted(text)
    return bool(_BACK.search(plain) or taken_off(plain) & (garments(change) - taken_off(change)))


_PLACE_FILLER = frozenset({"THE", "A", "AN", "OF", "AT", "IN", "ON", "TO", "BY", "NEAR", "INSIDE", "OUTSIDE", "INT",
                           "EXT", "ROOM", "HOUSE", "AREA", "PLACE", "STREET", "ROAD", "SIDE", "FRONT", "BACK"})


def _place_words(place: str) -> set[str]:
    words = re.findall(r"[A-Z0-9]+", re.sub(r"['’]S\b", "", place.upper()))
    return {w for w in words if len(w) >= 3 and w not in _PLACE_FILLER} or set(words)


def same_place(a: str, b: str) -> bool:
    """True when two place names share a significant word ('the old pier' ~ 'PIER - END')."""
    return bool(_place_words(a) & _place_words(b))


#: Little words a place's name may hold or leave out ("the door of the hut", "DOOR OF HUT").
_PLACE_GLUE = frozenset({"the", "a", "an", "of", "on", "at", "in", "by", "to"})


def _place_spans(plain: str, place: str) -> list[tuple[int, int]]:
    """Every (start, end) where `plain` (talk blanked) names the place of a scene heading
    (`place_at`), in order, leaving out those thought or talked of."""
    words = [w for w in re.findall(r"[a-z0-9'’]+", place.lower()) if w not in _PLACE_GLUE]
    if not words:
        return []
    glue = r"(?:\s+(?:" + "|".join(sorted(_PLACE_GLUE)) + r"))*\s+"
    found: set[tuple[int, int]] = set()
    for tail in ([words, words[-2:]] if len(words) > 2 else [words]):
        for m in re.finditer(r"(?<![\w'’])" + glue.join(re.escape(w) for w in tail) + r"(?![\w'’])", plain.lower()):
            if not in_mind(plain[:m.start()]):
                found.add((m.start(), m.end()))
    return sorted(found)


def _place_starts(plain: str, place: str) -> list[int]:
    return [a for a, _ in _place_spans(plain, place)]


def _own_spans(plain: str, places: list[str]) -> dict[int, list[tuple[int, int]]]:
    """Where each of `places` is named in `plain`, leaving out a naming inside a longer naming of
    another ("the mine" in "the bottom of the mine" is the bottom of the mine)."""
    spans = {k: _place_spans(plain, place) for k, place in enumerate(places) if place}
    every = [(a, b, k) for k, ss in spans.items() for a, b in ss]
    return {k: kept for k, ss in spans.items()
            if (kept := [(a, b) for a, b in ss
                         if not any(k2 != k and a2 <= a and b <= b2 and b2 - a2 > b - a for a2, b2, k2 in every)])}


def _plain(text: str) -> str:
    return QUOTED.sub(lambda m: " " * len(m.group(0)), text)  # talk out, offsets kept


def place_at(text: str, place: str) -> int:
    """Where `text` (outside quotes: talk is not where anyone is) first names the place of a scene
    heading, -1 where it does not: all its words in a row, or, for a place of three words or more,
    its last two ("the instrument room" names SKERRIN ISLAND INSTRUMENT ROOM); little words ("of
    the") may differ ("the door of the hut" names DOOR OF HUT). A place thought or talked of ("she
    thinks about the dust in the well") is not where anybody is."""
    starts = _place_starts(_plain(text), place)
    return starts[0] if starts else -1


def names_place(text: str, place: str) -> bool:
    """True when `text` names the place of a scene heading where somebody is (`place_at`)."""
    return place_at(text, place) >= 0


#: A place thought or talked of, not where anybody is ("she thinks about the dust in the well").
#: Case counts for "miss" ("Miss Hobbs"); "long" only as "long for" ("a long coat" is a coat).
_IN_MIND = re.compile(r"\b(?:[Aa]bout(?!\s+to\b)|[Tt]hink\w*|[Tt]hought\w*|[Rr]emember\w*|[Dd]ream\w*|[Ii]magin\w*"
                      r"|[Ww]ish\w*|miss|misses|missed|missing|[Ll]ong(?:s|ed|ing)?\s+for|[Pp]lan(?:s|ned|ning)?\s+(?:to|for|on))"
                      r"\b[^.;:!?,]*$")


#: A place somebody looks at, not where they are ("looked down at the coast where she had grown
#: up", "stared out across the bay"): a verb of looking, up to two particles, then at/toward/….
_LOOKED_AT = re.compile(
    r"\b(?:(?:look|peer|squint|point)(?:s|ed|ing)?|(?:star|gaz|glanc|wav)(?:e|es|ed|ing)|nod(?:s|ded|ding)?"
    r"|watch(?:es|ed|ing)?|eyed|eyeing)\s+(?:(?:down|up|out|back|over|across|along|round|around|away|off|again"
    r"|still|only|just)\s+){0,2}(?:at|toward|towards|across|over|to)\b"
    r"(?:\s+(?:the|a|an|his|her|their|its|our|my|your|this|that))?(?:\s+[\w'’-]+){0,3}\s*$", re.IGNORECASE)
#: A place of a memory or a habit, not of the story's now ("had rehearsed this failure a hundred
#: times on the ground, in a cardboard cockpit in the training hangar"; "used to swim in the lake").
_REMEMBERED = re.compile(r"\b(?:had\b[^.;:!?\n]*\b(?:times|years\s+(?:ago|before|earlier))|used\s+to)\b[^.;:!?\n]*$",
                         re.IGNORECASE)


def in_mind(before: str) -> bool:
    """True when what comes after `before` (the text of its sentence up to a place) is thought or
    talked of ("Oriel thinks about the dust in the well", "he remembered the kitchen at home"),
    looked at from elsewhere ("looked down at the coast") or remembered ("had rehearsed it a hundred
    times …, in a cardboard cockpit")."""
    return bool(_IN_MIND.search(before) or _LOOKED_AT.search(before) or _REMEMBERED.search(before))


_DET = r"(?:(?:the|a|an|his|her|their|its|our|my|your|this|that)\s+)?(?:(?!(?:of|in|on|at|to|by|and)\b)[\w'’-]+\s+){0,3}$"
#: A place that opens a sentence or a clause: where the story sets what follows ("In the pantry,
#: …", "…, and on the far shore there is a throne").
_SETS_AT = re.compile(r"(?:^|[.!?;:,*_—–])\s*(?:(?:and|but|then|so|or|while|back|later|now|once|there|here)\s+)?"
                      r"(?:in|inside|on|at|across|beneath|under|outside|within|behind|near|beside|beyond|over|by)\s+"
                      + _DET, re.IGNORECASE)
#: A place somebody goes to ("walked into the tunnels", "reached the sea", "went back to the flat").
_GOES_TO = re.compile(r"(?:\b(?:into|onto)|\b(?:reach|reached|reaches|reaching|enter|entered|enters|entering)"
                      r"|\b(?:arrive|arrives|arrived|arriving)\s+(?:at|in)"
                      r"|\b(?:go|goes|went|going|come|comes|came|coming|walk|walks|walked|walking|run|runs|ran|running"
                      r"|hurry|hurries|hurried|drive|drives|drove|get|gets|got|climb|climbs|climbed|stepped"
                      r"|cross|crosses|crossed|headed|move|moves|moved|return|returns|returned|wander\w*"
                      r"|stride|strides|strode|march|marches|marched)\s+(?:[\w'’-]+\s+){0,2}?(?:to|into|onto|towards?))\s+"
                      + _DET, re.IGNORECASE)


def ends_at(paragraph: str, places: list[str]) -> int | None:
    """The place (index into `places`, scene-heading names) where a paragraph leaves its people:
    the last it names as a setting (opening a sentence or a clause: "At the bottom of the mine
    there is a lake, and on the far shore there is a throne. The queen sits on it.") or as where
    somebody goes ("She walked past the mill. She reached the sea."); None when it names none so
    ("On the car deck, a man is leaning on a car": the car deck, named first, is where it is)."""
    ends = _ends_all(paragraph, places)
    return ends[0] if ends else None


def _ends_all(paragraph: str, places: list[str]) -> list[int]:
    """`ends_at`, with every place named at that spot (several scenes may share one heading)."""
    plain = _plain(paragraph)
    named = _own_spans(plain, places)
    last = max((start for spans in named.values() for start, _ in spans
                if _SETS_AT.search(plain[:start]) or _GOES_TO.search(plain[:start])), default=-1)
    return sorted(k for k, spans in named.items() if any(start == last for start, _ in spans)) if last >= 0 else []


def settings(paragraphs: list[str], places: list[str]) -> list[dict[int, bool]]:
    """For each story paragraph, the places (indexes into `places`) where it happens, each with
    whether it is the one named first: those it names, else those of the paragraph before (a
    story stays where it is until it says it has moved: "Car park of the Rooms. The van stopped."
    then "I am now wearing the top tier."; where a paragraph names several, the one it leaves its
    people at, `ends_at`: "… and on the far shore there is a throne" then the queen's talk), but not
    across a dateline in bold or italics, which opens a new entry or letter. "I went into the locker room, and stuffed my fleece in the bin"
    happens in the locker room first of all."""
    out: list[dict[int, bool]] = []
    here: dict[int, bool] = {}
    for paragraph in paragraphs:
        if _ENTRY.match(paragraph):
            here = {}  # a new entry or letter ("*Calais, 9 June*"): wherever it says, or nowhere known
        at = {k: spans[0][0] for k, spans in _own_spans(_plain(paragraph), places).items()}
        if at:
            first = min(at.values())
            out.append({k: v == first for k, v in at.items()})
            ends = _ends_all(paragraph, places)  # the next paragraphs go on where this one leaves its people
            here = dict.fromkeys(ends, True) if ends else dict(out[-1])
        else:
            out.append(dict(here))
    return out


#: A paragraph that opens a new diary entry or letter with a dateline in bold or italics.
_ENTRY = re.compile(r"^\s*(?:\*{1,2}|_{1,2})[^\s*_]")


def align(paragraphs: list[str], scenes: list[str], places: list[str] | None = None,
          casts: list[set[str]] | None = None, people: list[set[str]] | None = None) -> list[int]:
    """The scene (by index into `scenes`, each a scene's text) that tells each story paragraph.
    Scenes and paragraphs both run in story order, so each paragraph goes to a scene no earlier
    than the last one's: the alignment that scores most over the whole story (ties go to the
    earlier scene). A paragraph scores with a scene by the words they share; with `places` (each
    scene's place, as its heading names it) a scene set where the paragraph happens (`settings`)
    wins over any that only shares words (a small model's scene often copies a paragraph that
    happens elsewhere); with `casts` and `people` (the names in each scene and in each paragraph)
    each person both name counts twice."""
    words = [content_words(s) for s in scenes]
    m = len(words)
    if not paragraphs or not m:
        return [0] * len(paragraphs)
    own = [content_words(p) for p in paragraphs]
    scores = [[len(o & w) for w in words] for o in own]
    if places is not None and len(places) == m:
        for i, where in enumerate(settings(paragraphs, places)):
            for j, first in where.items():  # more than any scene can share with it; half for a place named later
                scores[i][j] += len(own[i]) + 1 if first else (len(own[i]) + 1) // 2
    if casts is not None and people is not None and len(casts) == m and len(people) == len(paragraphs):
        for i, who in enumerate(people):
            for j, cast in enumerate(casts):
                scores[i][j] += 2 * len(who & cast)
    best = [list(scores[0])]  # best[i][j]: best total for paragraphs 0..i with paragraph i in scene j
    came: list[list[int]] = [list(range(m))]
    for i in range(1, len(paragraphs)):
        row, back = [], []
        run, arg = -1, 0
        for j in range(m):
            if best[i - 1][j] > run:
                run, arg = best[i - 1][j], j
            row.append(run + scores[i][j])
            back.append(arg)
        best.append(row)
        came.append(back)
    j = max(range(m), key=lambda x: (best[-1][x], -x))
    out = [0] * len(paragraphs)
    for i in range(len(paragraphs) - 1, -1, -1):
        out[i] = j
        j = came[i][j]
    return out


# --- formula sentences ---------------------------------------------------------------------------------

#: Pronouns, masked with the names when two sentences are compared for their pattern.
PRONOUNS = frozenset(re.findall(r"\S+", """i me my mine myself you your yours yourself we us our ours ourselves he
him his himself she her hers herself it its itself they them their theirs themselves"""))
#: A later sentence at least this close to an earlier one (difflib ratio of the masked words) is a
#: copy of its pattern. Measured on every saved run's script (docs/evals.md): the tuba-audition
#: formula sentences score 0.68-0.82; a different sentence about the same people scores under 0.62.
FORMULA_RATIO = 0.65
#: Both sentences have at least this many masked words: "He nods." twice is a beat, not a formula.
FORMULA_MIN_WORDS = 8

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def masked_words(sentence: str, names: Iterable[str]) -> list[str]:
    """The words of a sentence with each name (a capitalised word of one of `names`) as "<n>" (a
    run of them, a full name, as one) and each pronoun as "<p>": what is left is its pattern."""
    name_words = {w.casefold() for n in names for w in _TOKEN.findall(n)}
    out: list[str] = []
    for token in _TOKEN.findall(sentence):
        low = token.casefold().replace("’", "'")
        if token[:1].isupper() and low in name_words:
            if out[-1:] != ["<n>"]:
                out.append("<n>")
        else:
            out.append("<p>" if low in PRONOUNS else low)
    return out


def is_formula_copy(later: str, earlier: str, names: Iterable[str]) -> bool:
    """True when `later` is `earlier` over again with other people in it: the same words once
    names and pronouns are masked ("Ines is standing …, dressed in a tuxedo with her long blonde
    hair tied in a bun" / "Mr. Fenwick Hoyle is standing behind her, dressed in a tuxedo with his
    dark hair tied in a bun"), or the same sentence word for word."""
    names = list(names)
    a, b = masked_words(earlier, names), masked_words(later, names)
    if min(len(a), len(b)) < FORMULA_MIN_WORDS:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= FORMULA_RATIO
