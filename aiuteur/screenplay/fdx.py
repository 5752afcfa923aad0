"""Final Draft (.fdx) import: paragraphs by their Type, read with defusedxml only.

DTDs, entity declarations and external references are refused (billion laughs, XXE).
ScriptNote elements, which Final Draft keeps inside paragraphs, are skipped; the Text runs of
a paragraph are joined. DualDialogue groups mark the second speaker as dual.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from aiuteur.domain.artifacts import ElementKind, Script
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.fountain import ScriptBuilder

_KINDS = {
    "action": ElementKind.ACTION,
    "general": ElementKind.ACTION,
    "shot": ElementKind.ACTION,
    "cast list": ElementKind.ACTION,
    "transition": ElementKind.TRANSITION,
    "lyrics": ElementKind.LYRIC,
    "lyric": ElementKind.LYRIC,
    "outline 1": ElementKind.SECTION,
    "outline 2": ElementKind.SECTION,
    "outline 3": ElementKind.SECTION,
    "outline 4": ElementKind.SECTION,
    "outline body": ElementKind.SYNOPSIS,
    "summary": ElementKind.SYNOPSIS,
}


def _text(paragraph: ET.Element) -> str:
    """The paragraph's Text runs joined, skipping ScriptNote and other nested elements."""
    return "".join(t.text or "" for t in paragraph.findall("Text")).replace("\r", "\n").strip()


def _paragraphs(parent: ET.Element, dual: bool = False) -> list[tuple[ET.Element, bool]]:
    out: list[tuple[ET.Element, bool]] = []
    for child in parent:
        if child.tag == "Paragraph":
            nested = child.find("DualDialogue")
            if nested is not None:
                out += _dual(nested)
            else:
                out.append((child, dual))
        elif child.tag == "DualDialogue":
            out += _dual(child)
    return out


def _dual(group: ET.Element) -> list[tuple[ET.Element, bool]]:
    out: list[tuple[ET.Element, bool]] = []
    cues = 0
    for paragraph in group.findall("Paragraph"):
        if (paragraph.get("Type") or "").strip().lower() == "character":
            cues += 1
        out.append((paragraph, cues >= 2))
    return out


def parse_fdx(data: bytes, filename: str = "script.fdx") -> Script:
    """Parse Final Draft XML bytes into a Script.

    Raises:
        ScreenplayError: for XML that is malformed, uses entities or a DTD, or is not FDX.
    """
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ScreenplayError(
            f"{filename} declares a DTD or XML entities ({type(exc).__name__}), which are refused for safety; "
            "export it again from Final Draft."
        ) from exc
    except (ET.ParseError, ValueError, UnicodeError) as exc:
        raise ScreenplayError(
            f"{filename} is not well-formed XML ({exc}); export it again from Final Draft as .fdx."
        ) from exc
    if root.tag != "FinalDraft":
        raise ScreenplayError(
            f"{filename} is XML but not a Final Draft file (its root element is <{root.tag[:40]}>); "
            "export it from Final Draft as .fdx."
        )
    content = root.find("Content")
    if content is None:
        raise ScreenplayError(
            f"{filename} has no <Content> section; export it again from Final Draft as .fdx."
        )

    title_page: dict[str, str] = {}
    title_lines = [_text(p) for p in root.iterfind("./TitlePage/Content/Paragraph")]
    title_lines = [t for t in title_lines if t]
    if title_lines:
        title_page["title"] = title_lines[0]
        if len(title_lines) > 1:
            title_page["credit"] = title_lines[1]
        if len(title_lines) > 2:
            title_page["author"] = title_lines[2]
        if len(title_lines) > 3:
            title_page["notes"] = "\n".join(title_lines[3:])

    builder = ScriptBuilder()
    for paragraph, dual in _paragraphs(content):
        kind = (paragraph.get("Type") or "Action").strip().lower()
        text = _text(paragraph)
        if kind == "scene heading":
            props = paragraph.find("SceneProperties")
            number = paragraph.get("Number") or (props.get("Number") if props is not None else None)
            builder.heading(text, number.strip() if number and number.strip() else None)
        elif kind == "character":
            builder.cue(text, dual)
        elif kind == "dialogue":
            if text:
                builder.speech(ElementKind.DIALOGUE, text)
        elif kind == "parenthetical":
            if text:
                builder.speech(ElementKind.PARENTHETICAL, text)
        elif kind in _KINDS:
            if text:
                builder.add(_KINDS[kind], text)
        elif text:  # unknown paragraph types keep their words as action
            builder.add(ElementKind.ACTION, text)
    return builder.script(title_page)
