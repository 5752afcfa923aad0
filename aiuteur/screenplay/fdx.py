"""Final Draft (.fdx): import by paragraph Type (defusedxml only) and export (`to_fdx`).

Import: DTDs, entity declarations and external references are refused (billion laughs, XXE).
ScriptNote elements, which Final Draft keeps inside paragraphs, are skipped; the Text runs of a
paragraph (styled runs: Style="Bold+Underline", revision marks: Revision="2") are joined.
DualDialogue groups mark the second speaker as dual; SceneProperties give the scene number
and the synopsis (its Summary); StartsNewPage="Yes" is a page break; an Action aligned to the
centre is centred text. No maintained Python library reads FDX (screenplain only writes it),
so this reader is our own.

Export: the elements Final Draft and Fade In write themselves (Scene Heading with Number and
SceneProperties, Action, Character, Parenthetical, Dialogue, Transition, Lyrics, DualDialogue,
TitlePage), with ElementSettings for each type so the layout (Courier 12, standard indents) is
in the file. `to_fdx` and `parse_fdx` round-trip every scene, cue and line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from aiuteur.domain.artifacts import ElementKind, Script, ScriptElement
from aiuteur.screenplay.builder import ScriptBuilder, opening_elements
from aiuteur.screenplay.cues import join_cue
from aiuteur.screenplay.errors import ScreenplayError
from aiuteur.screenplay.limits import MAX_SCENES

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
    "new act": ElementKind.SECTION,
    "end of act": ElementKind.SECTION,
}
_CREDIT_LINE = ("written by", "screenplay by", "teleplay by", "story by", "by", "script by")


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


def parse_fdx(data: bytes, filename: str = "script.fdx", *, max_scenes: int = MAX_SCENES) -> Script:
    """Parse Final Draft XML bytes into a Script.

    Raises:
        ScreenplayError: for XML that is malformed, uses entities or a DTD, or is not FDX.
    """
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ScreenplayError(
            f"{filename} declares a DTD or XML entities, which are refused for safety; "
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

    title_paragraphs = list(root.iterfind("./TitlePage/Content/Paragraph"))
    title_page = _title_page([_text(p) for p in title_paragraphs if p.get("Alignment", "Center") == "Center"])
    title_page.update(_title_notes([_text(p) for p in title_paragraphs if p.get("Alignment", "Center") != "Center"],
                                   title_page.pop("notes", "")))

    builder = ScriptBuilder(filename, max_scenes=max_scenes)
    for paragraph, dual in _paragraphs(content):
        kind = (paragraph.get("Type") or "Action").strip().lower()
        text = _text(paragraph)
        if (paragraph.get("StartsNewPage") or "").lower() == "yes":
            builder.add(ElementKind.PAGE_BREAK, "")
        if kind == "scene heading":
            props = paragraph.find("SceneProperties")
            number = paragraph.get("Number") or (props.get("Number") if props is not None else None)
            builder.heading(text, number.strip() if number and number.strip() else None)
            summary = props.find("Summary") if props is not None else None
            if summary is not None:
                synopsis = "\n".join(t for t in (_text(p) for p in summary.iter("Paragraph")) if t)
                if synopsis:
                    builder.add(ElementKind.SYNOPSIS, synopsis)
        elif kind == "character":
            builder.cue(text, dual)
        elif kind == "dialogue":
            if text:
                builder.speech(ElementKind.DIALOGUE, text)
        elif kind == "parenthetical":
            if text:
                builder.speech(ElementKind.PARENTHETICAL, text)
        elif kind == "action" and (paragraph.get("Alignment") or "").lower() == "center" and text:
            builder.add(ElementKind.CENTERED, text)
        elif kind in _KINDS:
            if text:
                builder.add(_KINDS[kind], text)
        elif text:  # unknown paragraph types keep their words as action
            builder.add(ElementKind.ACTION, text)
    return builder.script(title_page)


def _title_page(lines: list[str]) -> dict[str, str]:
    """Final Draft's title page is free text: the title, a credit line, the author, the rest."""
    lines = [line for line in lines if line]
    if not lines:
        return {}
    page = {"title": lines[0]}
    rest = lines[1:]
    credit = next((i for i, line in enumerate(rest[:3]) if line.lower().rstrip(":") in _CREDIT_LINE), None)
    if credit is not None:
        page["credit"] = rest[credit]
        if credit > 0:
            page["title"] = "\n".join([lines[0], *rest[:credit]])
        rest = rest[credit + 1 :]
    if rest:
        page["author"] = rest[0]
        rest = rest[1:]
    if rest:
        page["notes"] = "\n".join(rest)
    return page


_TITLE_KEYS = ("draft date", "contact", "copyright", "revision", "notes")
_LABEL = re.compile(rf"^(?P<key>{'|'.join(_TITLE_KEYS)})\s*:\s*(?P<value>.*)$", re.IGNORECASE)


def _title_notes(lines: list[str], notes: str) -> dict[str, str]:
    """The left-aligned block of a title page (draft date, contact, notes). A line "Draft date: …"
    starts that field and the lines after it continue it; unlabelled lines are notes. A date
    typed alone is never mistaken for the author, who is in the centred block."""
    page: dict[str, list[str]] = {"notes": [notes] if notes else []}
    key = "notes"
    for line in (x for x in lines if x):
        match = _LABEL.match(line)
        if match:
            key = match.group("key").lower()
            line = match.group("value")
        page.setdefault(key, []).append(line)
    return {k: "\n".join(v) for k, v in page.items() if v}


# --- export ----------------------------------------------------------------------------------

# (Type, left indent, right indent, space before in points, alignment, style): Final Draft's
# standard screenplay template, in inches from the left edge of a US Letter page.
_ELEMENTS = (
    ("General", 1.50, 7.50, 0, "Left", ""),
    ("Scene Heading", 1.50, 7.50, 24, "Left", "AllCaps"),
    ("Action", 1.50, 7.50, 12, "Left", ""),
    ("Character", 3.50, 7.25, 12, "Left", "AllCaps"),
    ("Parenthetical", 3.00, 5.50, 0, "Left", ""),
    ("Dialogue", 2.50, 6.00, 0, "Left", ""),
    ("Transition", 5.50, 7.10, 12, "Right", "AllCaps"),
    ("Shot", 1.50, 7.50, 24, "Left", "AllCaps"),
    ("Lyrics", 2.50, 6.00, 0, "Left", "Italic"),
    ("Outline 1", 1.50, 7.50, 12, "Left", "Bold"),
    ("Outline Body", 1.50, 7.50, 12, "Left", ""),
)
_NEXT = {"Scene Heading": "Action", "Action": "Action", "Character": "Dialogue", "Parenthetical": "Dialogue",
         "Dialogue": "Action", "Transition": "Scene Heading", "Shot": "Action", "Lyrics": "Lyrics",
         "General": "General", "Outline 1": "Outline Body", "Outline Body": "Outline Body"}


def _element_settings(root: ET.Element) -> None:
    for name, left, right, before, align, style in _ELEMENTS:
        settings = ET.SubElement(root, "ElementSettings", Type=name)
        ET.SubElement(settings, "FontSpec", AdornmentStyle="0", Background="#FFFFFFFFFFFF",
                      Color="#000000000000", Font="Courier Final Draft", RevisionID="0", Size="12", Style=style)
        ET.SubElement(settings, "ParagraphSpec", Alignment=align, FirstIndent="0.00", Leading="Regular",
                      LeftIndent=f"{left:.2f}", RightIndent=f"{right:.2f}", SpaceBefore=str(before), Spacing="1",
                      StartsNewPage="No")
        ET.SubElement(settings, "Behavior", PaginateAs=name, ReturnKey=_NEXT[name], Shortcut="")


def _paragraph(parent: ET.Element, kind: str, text: str, **attrs: str) -> ET.Element:
    paragraph = ET.SubElement(parent, "Paragraph", {"Type": kind, **attrs})
    ET.SubElement(paragraph, "Text").text = text
    return paragraph


def _speech(parent: ET.Element, elements: list[ScriptElement]) -> None:
    first = elements[0]
    _paragraph(parent, "Character", join_cue(first.character or "", first.extension))
    for element in elements:
        if element.kind == ElementKind.PARENTHETICAL:
            text = " ".join(element.text.split())
            _paragraph(parent, "Parenthetical", text if text.startswith("(") else f"({text})")
        else:
            _paragraph(parent, "Dialogue", element.text)


def _speeches(elements: list[ScriptElement]) -> list[list[ScriptElement]]:
    """Consecutive speech elements split into speeches (one cue each)."""
    groups: list[list[ScriptElement]] = []
    for element in elements:
        key = (element.character, element.extension, element.dual)
        last = groups[-1][-1] if groups else None
        if (
            last is None
            or (last.character, last.extension, last.dual) != key
            or (element.kind == ElementKind.DIALOGUE and last.kind == ElementKind.DIALOGUE)
        ):
            groups.append([element])
        else:
            groups[-1].append(element)
    return groups


def _plain(parent: ET.Element, element: ScriptElement, page_break: bool) -> None:
    attrs = {"StartsNewPage": "Yes"} if page_break else {}
    kind, text = element.kind, element.text
    if kind == ElementKind.ACTION:
        _paragraph(parent, "Action", text, **attrs)
    elif kind == ElementKind.TRANSITION:
        _paragraph(parent, "Transition", text, **attrs)
    elif kind == ElementKind.CENTERED:
        _paragraph(parent, "Action", text, Alignment="Center", **attrs)
    elif kind == ElementKind.LYRIC:
        _paragraph(parent, "Lyrics", text, **attrs)
    elif kind == ElementKind.SECTION:
        _paragraph(parent, "Outline 1", text, **attrs)
    elif kind == ElementKind.SYNOPSIS:
        _paragraph(parent, "Outline Body", text, **attrs)


def _body(content: ET.Element, elements: list[ScriptElement], page_break: list[bool]) -> None:
    i = 0
    while i < len(elements):
        element = elements[i]
        if element.kind == ElementKind.PAGE_BREAK:
            if page_break[0]:  # two breaks in a row: an empty page
                _paragraph(content, "Action", "", StartsNewPage="Yes")
            page_break[0] = True
            i += 1
            continue
        if element.kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
            j = i
            while j < len(elements) and elements[j].kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
                j += 1
            groups = _speeches(elements[i:j])
            k = 0
            while k < len(groups):
                if page_break[0]:  # a page break before a speech goes on an empty action line
                    _paragraph(content, "Action", "", StartsNewPage="Yes")
                    page_break[0] = False
                if not groups[k][0].dual and k + 1 < len(groups) and groups[k + 1][0].dual:
                    holder = ET.SubElement(content, "Paragraph")
                    dual = ET.SubElement(holder, "DualDialogue")
                    _speech(dual, groups[k])
                    _speech(dual, groups[k + 1])
                    k += 2
                else:
                    _speech(content, groups[k])
                    k += 1
            i = j
            continue
        _plain(content, element, page_break[0])
        page_break[0] = False
        i += 1


def to_fdx(script: Script) -> bytes:
    """The script as a Final Draft document (.fdx bytes, UTF-8) that Final Draft and Fade In open."""
    from aiuteur.screenplay.fountain import implied_heading

    root = ET.Element("FinalDraft", DocumentType="Script", Template="No", Version="5")
    content = ET.SubElement(root, "Content")
    page_break = [False]
    openers = opening_elements(script)
    for index, scene in enumerate(script.scenes):
        elements = scene.elements
        if index == 0:
            _body(content, elements[:openers], page_break)
            elements = elements[openers:]
        if not implied_heading(script, index):
            attrs = {"StartsNewPage": "Yes"} if page_break[0] else {}
            page_break[0] = False
            heading = scene.heading or f"{scene.int_ext.value} {scene.location}".strip() or "SCENE"
            paragraph = ET.SubElement(content, "Paragraph", {"Number": scene.number, "Type": "Scene Heading", **attrs})
            props = ET.SubElement(paragraph, "SceneProperties", Length="", Page="", Title="")
            if elements and elements[0].kind == ElementKind.SYNOPSIS:
                summary = ET.SubElement(props, "Summary")
                _paragraph(summary, "General", elements[0].text)
                elements = elements[1:]
            elif scene.synopsis:
                summary = ET.SubElement(props, "Summary")
                _paragraph(summary, "General", scene.synopsis)
            ET.SubElement(paragraph, "Text").text = heading
        _body(content, elements, page_break)
    if page_break[0]:
        _paragraph(content, "Action", "", StartsNewPage="Yes")

    page = dict(script.title_page)
    if script.title and "title" not in page:
        page["title"] = script.title
    if page:
        title_content = ET.SubElement(ET.SubElement(root, "TitlePage"), "Content")
        for key in ("title", "credit", "author", "authors", "source"):
            for line in page.get(key, "").split("\n"):
                if line.strip():
                    _paragraph(title_content, "Title", line, Alignment="Center")
        for key, value in page.items():
            if key in ("title", "credit", "author", "authors", "source"):
                continue
            lines = [line for line in value.split("\n") if line.strip()]
            for n, line in enumerate(lines):  # "Draft date: …" so the field is read back as such
                label = f"{key[0].upper()}{key[1:]}: " if n == 0 and key != "notes" else ""
                _paragraph(title_content, "General", label + line, Alignment="Left")
    _element_settings(root)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + body + "\n").encode("utf-8")
