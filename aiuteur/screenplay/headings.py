"""Scene headings: "INT. HOUSE - KITCHEN - NIGHT" into interior/exterior, location and time of day."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiuteur.domain.artifacts import IntExt

# INT./EXT., EXT/INT, I/E, INT-EXT, INT, EXT, EST, INTERIOR …, each followed by ".", " " or end.
_PREFIX = re.compile(
    r"^(?P<p>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|INT\.?\s*-\s*EXT|EXT\.?\s*-\s*INT|I\s*/\s*E|E\s*/\s*I"
    r"|INTERIOR|EXTERIOR|INT|EXT|EST)(?:\.|(?=\s)|$)\s*",
    re.IGNORECASE,
)
_NUMBER = r"[A-Z]?\d{1,4}[A-Z]{0,3}(?:[.\-]\d{1,3}[A-Z]?)?"
_LEADING_NUMBER = re.compile(rf"^\s*(?P<n>{_NUMBER})[.)]?\s+(?=\S)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(rf"\s+(?P<n>{_NUMBER})\.?\s*$", re.IGNORECASE)
_FOUNTAIN_NUMBER = re.compile(r"\s*#(?P<n>[\w.\-]+)#\s*$")
_DASHES = re.compile(r"\s+[-–—]{1,2}\s+|\s*--\s*|\s+[–—]\s*|\s*[–—]\s+")

TIME_WORDS = (
    "DAY", "NIGHT", "MORNING", "EVENING", "AFTERNOON", "DAWN", "DUSK", "SUNRISE", "SUNSET",
    "NOON", "MIDNIGHT", "TWILIGHT", "MAGIC HOUR", "GOLDEN HOUR", "CONTINUOUS", "CONT", "CONT'D",
    "LATER", "MOMENTS LATER", "MOMENT LATER", "SAME", "SAME TIME", "SECONDS LATER",
    "MINUTES LATER", "HOURS LATER", "A FEW MINUTES LATER", "FEW MOMENTS LATER", "NEXT DAY",
    "THE NEXT DAY", "NEXT MORNING", "THE NEXT MORNING", "LATE NIGHT", "EARLY MORNING",
    "LATE AFTERNOON", "EARLY EVENING", "PRE-DAWN", "FIRST LIGHT", "DAYTIME", "NIGHTTIME",
    "PRESENT", "PRESENT DAY", "FLASHBACK", "INTERCUT", "SIMULTANEOUS",
)  # fmt: skip
_TIME = re.compile(
    r"^(?:(?:" + "|".join(re.escape(w) for w in sorted(TIME_WORDS, key=len, reverse=True)) + r")\b"
    r"[\w\s'’.,()/\-]*)$",
    re.IGNORECASE,
)
_TIME_AT_END = re.compile(
    r"^(?P<loc>.*?\S)\s+(?P<time>(?:"
    + "|".join(re.escape(w) for w in sorted(TIME_WORDS, key=len, reverse=True))
    + r"))\s*$",
    re.IGNORECASE,
)

_INT_EXT = {
    "INT": IntExt.INT,
    "INTERIOR": IntExt.INT,
    "EXT": IntExt.EXT,
    "EXTERIOR": IntExt.EXT,
    "EST": IntExt.EXT,
}


@dataclass(frozen=True)
class Heading:
    """The parts of a scene heading; `number` is a scene number written on the heading line."""

    text: str
    int_ext: IntExt
    location: str
    time_of_day: str
    number: str | None = None


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


def parse_heading(line: str) -> Heading:
    """Split a heading into its parts; a heading without INT/EXT keeps its text as the location
    only when a time of day follows it ("HOUSE - NIGHT"), otherwise the location is empty
    (".MONTAGE", ".FLASHBACK" are headings but not places)."""
    text, number = strip_numbers(line)
    text = re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()
    match = _PREFIX.match(text)
    int_ext = _prefix_kind(match.group("p")) if match else IntExt.NONE
    rest = text[match.end() :].strip(" .-–—") if match else text.strip()
    parts = [p.strip() for p in _DASHES.split(rest) if p.strip()]
    location, time_of_day = rest, ""
    for i in range(len(parts) - 1, 0, -1):
        if _TIME.match(parts[i]):
            location, time_of_day = " - ".join(parts[:i]), " - ".join(parts[i:])
    if not time_of_day and len(parts) <= 1:
        # "INT HOUSE NIGHT": no dash, the time of day is the last word(s).
        tail = _TIME_AT_END.match(rest)
        if tail and match:
            location, time_of_day = tail.group("loc").strip(" .-"), tail.group("time")
    elif not time_of_day:
        location = " - ".join(parts)
    if not match and not time_of_day:
        location = ""
    return Heading(
        text=text, int_ext=int_ext, location=location.strip(), time_of_day=time_of_day.strip(), number=number
    )
