"""The storyboard PDF: a grid of panels, the way board artists hand boards to editors
(Storyboarder's board export, a printed board): three panels across, two down, on landscape
A4, scene by scene. Each panel is framed and carries

- the shot number and its duration on a bar above the frame,
- the chosen start frame, with the end frame beside it when the shot has one,
- the shot size and the camera (angle, lens, movement),
- the action and the dialogue, labelled, cut with "..." when they overflow the panel.

Every shot of a scene that has at least one chosen frame gets a panel; a shot without a frame
yet shows an empty frame that says so, so the board always reads in full.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiuteur.exports.material import SceneMaterial, latin1, scenes
from aiuteur.pipeline.shot_list import shot_lines
from aiuteur.screenplay.fonts import sans_font

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView

COLS, ROWS = 3, 2
LEFT, TOP, GAP = 10.0, 18.0, 5.0
PANEL_W = (297.0 - 2 * LEFT - (COLS - 1) * GAP) / COLS  # 89 mm
BAR_H, IMAGE_H, TEXT_H = 6.0, 50.0, 29.0
PANEL_H = BAR_H + IMAGE_H + TEXT_H
LINE_H = 3.3


def _fit(pdf: Any, text: str, width: float, lines: int) -> list[str]:
    """Word-wrap `text` to `width` mm in the current font; at most `lines` lines, "..." when cut."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        line = ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if pdf.get_string_width(candidate) <= width:
                line = candidate
                continue
            if line:
                out.append(line)
            while pdf.get_string_width(word) > width:  # a word longer than the panel is broken
                cut = max(1, int(len(word) * width / pdf.get_string_width(word)) - 1)
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    if len(out) > lines:
        out = out[:lines]
        last = out[-1]
        while last and pdf.get_string_width(last + "...") > width:
            last = last[:-1]
        out[-1] = last.rstrip() + "..."
    return out


def _panel(pdf: Any, m: SceneMaterial, shot: Any, x: float, y: float, media_path: Any,
           family: str = "Helvetica", drawable: Callable[[str], str] = latin1) -> None:
    start, end = m.frames.get(shot.id, "start"), m.frames.get(shot.id, "end")
    # 1. The bar: shot number left, duration right.
    pdf.set_fill_color(235, 235, 235)
    pdf.rect(x, y, PANEL_W, BAR_H, style="DF")
    pdf.set_font(family, "B", 9)
    pdf.set_xy(x + 1.5, y + 0.8)
    pdf.cell(PANEL_W / 2, 4.4, drawable(f"SHOT {shot.number}"))
    pdf.set_xy(x + PANEL_W / 2, y + 0.8)
    pdf.cell(PANEL_W / 2 - 1.5, 4.4, f"{shot.duration_s:g} s", align="R")
    # 2. The frame(s).
    top = y + BAR_H
    pdf.rect(x, top, PANEL_W, IMAGE_H)
    if start is not None and start.image:
        if end is not None and end.image:
            half = (PANEL_W - 1) / 2
            pdf.image(str(media_path(start.image)), x=x, y=top, w=half, h=IMAGE_H, keep_aspect_ratio=True)
            pdf.image(str(media_path(end.image)), x=x + half + 1, y=top, w=half, h=IMAGE_H, keep_aspect_ratio=True)
            pdf.line(x + half + 0.5, top, x + half + 0.5, top + IMAGE_H)
        else:
            pdf.image(str(media_path(start.image)), x=x, y=top, w=PANEL_W, h=IMAGE_H, keep_aspect_ratio=True)
    else:
        pdf.set_font(family, "I", 8)
        pdf.set_xy(x, top + IMAGE_H / 2 - 2)
        pdf.cell(PANEL_W, 4, "no frame yet", align="C")
    # 3. Size and camera, action, dialogue.
    text_top = top + IMAGE_H
    pdf.rect(x, text_top, PANEL_W, TEXT_H)
    width = PANEL_W - 3
    rows: list[tuple[str, str]] = [
        ("B", drawable(f"{shot.size}  |  {shot.angle}, {shot.lens}, {shot.movement}")),
    ]
    pdf.set_font(family, size=7.5)
    room = int(TEXT_H // LINE_H) - 1
    action = _fit(pdf, drawable(f"Action: {shot.action.strip()}"), width, max(1, room // 2)) if shot.action.strip() else []
    spoken = shot_lines(shot, m.scene)
    dialogue = _fit(pdf, drawable("Dialogue: " + " / ".join(spoken)), width, room - len(action)) if spoken else []
    rows += [("", line) for line in action] + [("I", line) for line in dialogue]
    for n, (style, line) in enumerate(rows[: room + 1]):
        pdf.set_font(family, style, 7.5)
        pdf.set_xy(x + 1.5, text_top + 0.8 + n * LINE_H)
        pdf.cell(width, LINE_H, line)


def storyboard_pdf(title: str, material: list[SceneMaterial], media_path: object) -> bytes:
    """Panels for every shot of every scene with a chosen frame (`media_path(key)` gives its file)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    family, drawable = sans_font(pdf, title + "".join(
        m.scene.model_dump_json() + "".join(s.model_dump_json() for s in m.shots) for m in material))
    pdf.set_title(drawable(title))
    pdf.set_auto_page_break(auto=False)
    pdf.set_draw_color(90, 90, 90)
    pdf.set_line_width(0.3)
    for m in material:
        if not any((f := m.frames.get(s.id, "start")) is not None and f.image for s in m.shots):
            continue
        for i, shot in enumerate(m.shots):
            k = i % (COLS * ROWS)
            if k == 0:
                pdf.add_page()
                pdf.set_font(family, "B", 12)
                pdf.set_xy(LEFT, 7)
                pdf.cell(0, 7, drawable(f"{title}  -  Scene {m.scene.number}: {m.scene.heading}"))
                pdf.set_font(family, size=8)
                pdf.set_xy(LEFT, 7)
                pdf.cell(297 - 2 * LEFT, 7, f"page {pdf.page}", align="R")
            x = LEFT + (k % COLS) * (PANEL_W + GAP)
            y = TOP + (k // COLS) * (PANEL_H + GAP)
            _panel(pdf, m, shot, x, y, media_path, family, drawable)
    if pdf.page == 0:
        return b""
    return bytes(pdf.output())


def export_storyboard(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    data = storyboard_pdf(view.project.title, list(scenes(view)), runner.media_path)
    if not data:
        return []
    path = out / f"{base}_Storyboard.pdf"
    path.write_bytes(data)
    return [path]
