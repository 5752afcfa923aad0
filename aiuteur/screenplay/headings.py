"""Scene headings: the one parser every part of Aiuteur uses to read a slugline.

`parse_heading("EXT. CEMETERY - DAY [LATER] #12#")` gives interior/exterior (`EXT`), the
location (`CEMETERY`), the time of day (`DAY`), the notes (`LATER`) and the scene number (`12`).
Stage 5 builds one location asset per distinct `location`, so anything that is not the place
(time of day, `[LATER]`, `(PRESENT)`, `(FLASHBACK)`, Fountain notes `[[…]]`, scene numbers)
must come off it here, whatever order the writer put them in.

Headings are read in English and in the common forms of French, Spanish, Italian, Portuguese,
German, Dutch, Scandinavian, Russian and Greek scripts (`INT. CUISINE - JOUR`, `AUSSEN. STRASSE - NACHT`,
`ИНТ. КУХНЯ - ДЕНЬ`, `ΕΣΩΤ. ΦΑΡΟΣ - ΝΥΧΤΑ`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiuteur.domain.artifacts import IntExt

__all__ = ["Heading", "is_heading", "is_time_of_day", "parse_heading", "place_of", "strip_numbers"]

# INT./EXT., EXT/INT, I/E, INT-EXT, INT, EXT, EST, INTERIOR … and their common translations, each
# followed by ".", " " or the end of the line.
_PREFIX = re.compile(
    r"^(?P<p>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|INT\.?\s*-\s*EXT|EXT\.?\s*-\s*INT|I\s*/\s*E|E\s*/\s*I"
    r"|INTERIOR|EXTERIOR|INT|EXT|EST|INNEN|AUSSEN|AUẞEN|AUßEN|INNE|UTE|BINNEN|BUITEN|ИНТ|НАТ|ЭКСТ|ΕΣΩΤ|ΕΞΩΤ)"
    r"(?:\.|(?=\s)|$)\s*",
    re.IGNORECASE,
)
_NUMBER = r"[A-Z]?\d{1,4}[A-Z]{0,3}(?:[.\-][A-Z0-9]{1,3})?"
_LEADING_NUMBER = re.compile(rf"^\s*(?P<n>{_NUMBER})[.)]?\s+(?=\S)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(rf"\s+(?P<n>{_NUMBER})\.?\s*$", re.IGNORECASE)
_FOUNTAIN_NUMBER = re.compile(r"\s*#(?P<n>[\w.\-]+)#\s*$")
_FOUNTAIN_NOTE = re.compile(r"\[\[.*?\]\]", re.DOTALL)
_NOTE = re.compile(r"\[(?P<b>[^\[\]]*)\]|\((?P<p>[^()]*)\)")
_DASHES = re.compile(r"\s+[-–—]{1,2}\s+|\s*--\s*|\s+[–—]\s*|\s*[–—]\s+|\s+-(?=[^\W\d_])|(?<=[^\W\d_])-\s+")
_SPACES = re.compile(r"\s+")

# Phrases that name a time of day (or a continuity note standing where the time of day goes).
TIME_WORDS = (
    "DAY", "NIGHT", "MORNING", "EVENING", "AFTERNOON", "DAWN", "DUSK", "SUNRISE", "SUNSET",
    "NOON", "MIDNIGHT", "TWILIGHT", "MAGIC HOUR", "GOLDEN HOUR", "CONTINUOUS", "CONT", "CONT'D",
    "LATER", "MOMENTS LATER", "MOMENT LATER", "SAME", "SAME TIME", "SECONDS LATER",
    "MINUTES LATER", "HOURS LATER", "A FEW MINUTES LATER", "FEW MOMENTS LATER", "NEXT DAY",
    "THE NEXT DAY", "NEXT MORNING", "THE NEXT MORNING", "LATE NIGHT", "EARLY MORNING",
    "LATE AFTERNOON", "EARLY EVENING", "PRE-DAWN", "FIRST LIGHT", "DAYTIME", "NIGHTTIME",
    "PRESENT", "PRESENT DAY", "FLASHBACK", "INTERCUT", "SIMULTANEOUS",
)  # fmt: skip
# Every word a time-of-day part may be made of: a part is the time of day only when nothing else
# is left in it, so "DAY ROOM" stays a place while "LATER THAT NIGHT" and "DAY 2" are times.
_EXTRA_TIME_WORDS = (
    "A", "AN", "THE", "THAT", "THIS", "SAME", "NEXT", "FOLLOWING", "PREVIOUS", "EARLY", "LATE", "LATER",
    "EARLIER", "FEW", "SOME", "MOMENT", "MOMENTS", "SECOND", "SECONDS", "MINUTE", "MINUTES", "HOUR", "HOURS",
    "DAYS", "WEEK", "WEEKS", "MONTH", "MONTHS", "YEAR", "YEARS", "AGO", "BEFORE", "AFTER", "OF", "ON", "IN",
    "AT", "NOW", "THEN", "HOUR'S", "ONE", "TWO", "THREE", "PRE", "POST", "CONT'D", "CONTINUING", "BACK",
    "TO", "REAL", "TIME", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY",
    "TODAY", "TONIGHT", "YESTERDAY", "TOMORROW", "SPRING", "SUMMER", "AUTUMN", "WINTER", "CHRISTMAS", "EVE",
    "NEW", "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
    "NOVEMBER", "DECEMBER", "JOUR", "NUIT", "MATIN", "SOIR", "APRÈS-MIDI", "APRES", "MIDI", "AUBE",
    "CRÉPUSCULE", "PLUS", "TARD", "SUITE", "CONTINU", "DÍA", "DIA", "NOCHE", "TARDE", "MAÑANA", "MANANA",
    "AMANECER", "ATARDECER", "MÁS", "MAS", "CONTINUO", "GIORNO", "NOTTE", "SERA", "MATTINA", "POMERIGGIO",
    "ALBA", "TRAMONTO", "DOPO", "NOITE", "MANHÃ", "TAG", "NACHT", "MORGEN", "ABEND", "MITTAG", "NACHMITTAG",
    "DÄMMERUNG", "SPÄTER", "DAG", "AVOND", "OCHTEND", "MIDDAG", "LATER", "NAT", "MORGON", "KVÄLL", "KVELD",
    "ДЕНЬ", "НОЧЬ", "УТРО", "ВЕЧЕР", "ПОЗЖЕ", "ΜΕΡΑ", "ΜΈΡΑ", "ΝΥΧΤΑ", "ΝΎΧΤΑ", "ΠΡΩΙ", "ΠΡΩΊ", "ΒΡΑΔΥ",
    "ΒΡΆΔΥ", "ΑΠΟΓΕΥΜΑ", "ΑΠΌΓΕΥΜΑ", "ΣΟΥΡΟΥΠΟ", "ΣΟΎΡΟΥΠΟ", "ΞΗΜΕΡΩΜΑ", "ΑΡΓΟΤΕΡΑ", "ΑΡΓΌΤΕΡΑ", "ΣΥΝΕΧΕΙΑ",
    "ΣΥΝΈΧΕΙΑ",
)  # fmt: skip
_TIME_VOCABULARY = frozenset([*" ".join(TIME_WORDS).replace("-", " ").split(), *_EXTRA_TIME_WORDS])
_NON_PLACE = re.compile(
    r"\b(?:TITLES?|CREDITS?|POV|MONTAGE|SERIES OF SHOTS|FLASHBACK|FLASH FORWARD|INSERT|ANGLE|CLOSE ON|"
    r"CLOSE UP|CLOSE-UP|WIDE|INTERCUT|SPLIT SCREEN|BLACK|SUPER|SUPERIMPOSE|DREAM|FANTASY|"
    r"BACK TO SCENE|THE END|END|FADE|CUT|TITLE CARD|ON SCREEN|FOOTAGE|ARCHIVE|NEWSREEL|ANIMATION|"
    r"PROLOGUE|EPILOGUE|COLD OPEN|TEASER|TAG|ACT\s+\w+|VARIOUS|LATER|CONTINUOUS|SAME|OVER BLACK)\b",
    re.IGNORECASE,
)

_INT_EXT = {
    "INT": IntExt.INT,
    "INTERIOR": IntExt.INT,
    "INNEN": IntExt.INT,
    "INNE": IntExt.INT,
    "BINNEN": IntExt.INT,
    "ИНТ": IntExt.INT,
    "EXT": IntExt.EXT,
    "EXTERIOR": IntExt.EXT,
    "EST": IntExt.EXT,
    "AUSSEN": IntExt.EXT,
    "AUẞEN": IntExt.EXT,
    "AUßEN": IntExt.EXT,
    "UTE": IntExt.EXT,
    "BUITEN": IntExt.EXT,
    "НАТ": IntExt.EXT,
    "ЭКСТ": IntExt.EXT,
    "ΕΣΩΤ": IntExt.INT,
    "ΕΞΩΤ": IntExt.EXT,
}


@dataclass(frozen=True)
class Heading:
    """The parts of a scene heading.

    Attributes:
        text: the heading as written, without scene numbers, Fountain notes or a leading "."
            (spaces collapsed).
        int_ext: INT, EXT, INT./EXT. (also I/E) or NONE when the heading has no such prefix.
        location: the place only ("CEMETERY", "HOUSE - KITCHEN"); "" when the heading names none
            (".OPENING TITLES", ".SNIPER SCOPE POV", ".MONTAGE").
        time_of_day: "DAY", "LATER THAT NIGHT", "CONTINUOUS" …; "" when not given.
        number: the scene number written on the line ("#12#", "12A … 12A"), else None.
        notes: bracketed or parenthesised remarks ("LATER", "PRESENT", "FLASHBACK"), in order.
    """

    text: str
    int_ext: IntExt
    location: str
    time_of_day: str
    number: str | None = None
    notes: tuple[str, ...] = field(default=())


def is_heading(line: str) -> bool:
    """True if the line starts like a scene heading (INT., EXT., INT./EXT., I/E, EST …)."""
    text = strip_numbers(line.strip())[0]
    match = _PREFIX.match(text)
    return match is not None and (match.end() < len(text) or text.rstrip().endswith("."))


def strip_numbers(line: str) -> tuple[str, str | None]:
    """Remove scene numbers: Fountain's "#12#", or "12 INT. HOUSE - DAY 12" as printed in PDFs."""
    text = line.strip()
    number: str | None = None
    fountain = _FOUNTAIN_NUMBER.search(text)
    if fountain:
        return text[: fountain.start()].rstrip(), fountain.group("n")
    lead = _LEADING_NUMBER.match(text)
    if lead and _PREFIX.match(text[lead.end() :]):
        number = lead.group("n")
        text = text[lead.end() :]
        trail = _TRAILING_NUMBER.search(text)
        if trail and trail.group("n").upper() == number.upper():
            text = text[: trail.start()].rstrip()
    return text, number


def _prefix_kind(prefix: str) -> IntExt:
    compact = re.sub(r"[\s.]", "", prefix).upper()
    if "/" in compact or "-" in compact:
        return IntExt.INT_EXT
    return _INT_EXT.get(compact, IntExt.NONE)


def _is_time(part: str) -> bool:
    words = re.sub(r"[.,:;!?/&+]", " ", part.upper()).replace("-", " ").split()
    has_time_word = False
    for word in words:
        if word.isdigit() or re.fullmatch(r"\d{1,4}(?:ST|ND|RD|TH|S|'S)?", word):
            continue
        if word not in _TIME_VOCABULARY:
            return False
        has_time_word = True
    return has_time_word


def _take_notes(text: str) -> tuple[str, list[str]]:
    """Remove "[LATER]", "(PRESENT)" and the like; return the rest and the notes."""
    notes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        note = _SPACES.sub(" ", match.group("b") if match.group("b") is not None else match.group("p")).strip()
        if note:
            notes.append(note)
        return " "

    for _ in range(4):  # nested brackets come off from the inside out
        text, n = _NOTE.subn(keep, text)
        if not n:
            break
    return _SPACES.sub(" ", text).strip(), notes


def _trim(text: str) -> str:
    """Strip stray dashes, commas and a closing full stop, but keep "NO." and "ST." whole."""
    text = text.strip(" -–—,:")
    while text.endswith(".") and not re.search(r"(?:^|\s)[^\W\d_]{1,3}\.$", text):
        text = text[:-1].rstrip(" -–—,:")
    return text


def parse_heading(line: str) -> Heading:
    """Split a scene heading into interior/exterior, location, time of day, notes and number.

    The location never carries the time of day or notes, in whatever order they come:

    >>> h = parse_heading("INT. BLOOM HOUSE - (PRESENT) DAY")
    >>> (h.int_ext.value, h.location, h.time_of_day, h.notes)
    ('INT', 'BLOOM HOUSE', 'DAY', ('PRESENT',))
    >>> h = parse_heading("EXT. CEMETERY - DAY [LATER] #12#")
    >>> (h.location, h.time_of_day, h.notes, h.number)
    ('CEMETERY', 'DAY', ('LATER',), '12')

    A heading without INT/EXT (a Fountain forced heading ".BRICK'S GARAGE - NIGHT") keeps its
    place as the location unless it names no place (".OPENING TITLES", ".SNIPER SCOPE POV",
    ".MONTAGE", ".LATER").
    """
    text = _FOUNTAIN_NOTE.sub(" ", line.replace("\u00a0", " "))
    text = text.strip()
    if text.startswith(".") and not text.startswith(".."):
        text = text[1:]
    text, number = strip_numbers(text)
    text = _SPACES.sub(" ", text).strip()
    match = _PREFIX.match(text)
    int_ext = _prefix_kind(match.group("p")) if match else IntExt.NONE
    rest = text[match.end() :] if match else text
    rest, notes = _take_notes(rest)
    rest = _trim(rest.lstrip(" .-–—,:"))
    parts = [_trim(p) for p in _DASHES.split(rest) if _trim(p)]
    location, time_of_day = " - ".join(parts), ""
    # The time of day is the run of time-like parts at the end ("DAY - CONTINUOUS").
    cut = len(parts)
    while cut > (1 if match or len(parts) > 1 else 0) and _is_time(parts[cut - 1]):
        cut -= 1
    if cut < len(parts):
        location, time_of_day = " - ".join(parts[:cut]), " - ".join(parts[cut:])
    elif len(parts) == 1 and match:
        # "INT HOUSE NIGHT": no dash, the time of day is the last word(s).
        words = parts[0].split()
        end = len(words)
        while end > 1 and _is_time(" ".join(words[end - 1 :])):
            end -= 1
        if end < len(words) and _is_time(" ".join(words[end:])):
            location, time_of_day = " ".join(words[:end]), " ".join(words[end:])
    location = _trim(location)
    if not match and (not location or _NON_PLACE.search(location)):
        location = ""
    return Heading(
        text=text,
        int_ext=int_ext,
        location=location,
        time_of_day=time_of_day.strip(),
        number=number,
        notes=tuple(notes),
    )


def is_time_of_day(text: str) -> bool:
    """True if `text` names only a time of day or a continuity note ("DUSK", "Moments later",
    "later that night"), never a place that starts with one ("NIGHT MARKET", "DAY ROOM")."""
    rest = _trim(_take_notes(_SPACES.sub(" ", text.replace("\u00a0", " ")).strip())[0])
    return bool(rest) and _is_time(rest)


def place_of(text: str) -> str:
    """The place named by a heading or by a heading's location part ("MARISOL'S BEDROOM - DUSK:",
    "INT. KITCHEN (1985)", "DUSK"), read by `parse_heading`: prefix, time of day, notes and numbers
    off; '' when no place is left.

    >>> place_of("MARISOL'S BEDROOM - DUSK:"), place_of("INT. KITCHEN - NIGHT (1985)"), place_of("DUSK")
    ("MARISOL'S BEDROOM", 'KITCHEN', '')
    """
    line = _SPACES.sub(" ", text.replace("\u00a0", " ")).strip()
    if not line:
        return ""
    heading = parse_heading(line if _PREFIX.match(strip_numbers(line)[0]) else f"INT. {line}")
    location = heading.location
    return "" if not location or is_time_of_day(location) or _NON_PLACE.fullmatch(location) else location
