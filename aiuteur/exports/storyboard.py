"""The storyboard PDF: every shot's chosen keyframes with its number, size, movement, action and
dialogue, six panels to a landscape page, scene by scene."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiuteur.exports.material import SceneMaterial, latin1, scenes
from aiuteur.pipeline.shot_list import shot_lines

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import ProjectView, Runner

COLS, ROWS = 3, 2
PANEL_W, IMAGE_H, TEXT_H = 88.0, 49.5, 32.0


def storyboard_pdf(title: str, material: list[SceneMaterial], media_path: object) -> bytes:
    """Panels for every shot that has a chosen start frame (`media_path(key)` gives its file)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_title(latin1(title))
    pdf.set_auto_page_break(auto=False)
    left, top, gap = 10.0, 18.0, 6.0
    for m in material:
        panels = [(s, m.frames.get(s.id, "start"), m.frames.get(s.id, "end")) for s in m.shots]
        panels = [(s, a, b) for s, a, b in panels if a is not None and a.image]
        for i, (shot, start, end) in enumerate(panels):
            k = i % (COLS * ROWS)
            if k == 0:
                pdf.add_page()
                pdf.set_font("Helvetica", "B", 12)
                pdf.set_xy(left, 8)
                pdf.cell(0, 7, latin1(f"{title} - Scene {m.scene.number}: {m.scene.heading}"))
            x = left + (k % COLS) * (PANEL_W + gap)
            y = top + (k // COLS) * (IMAGE_H + TEXT_H + gap)
            assert start is not None and start.image
            if end is not None and end.image:  # start and end side by side
                half = (PANEL_W - 2) / 2
                pdf.image(str(media_path(start.image)), x=x, y=y, w=half, h=IMAGE_H, keep_aspect_ratio=True)  # type: ignore[operator]
                pdf.image(str(media_path(end.image)), x=x + half + 2, y=y, w=half, h=IMAGE_H, keep_aspect_ratio=True)  # type: ignore[operator]
            else:
                pdf.image(str(media_path(start.image)), x=x, y=y, w=PANEL_W, h=IMAGE_H, keep_aspect_ratio=True)  # type: ignore[operator]
            pdf.rect(x, y, PANEL_W, IMAGE_H)
            pdf.set_xy(x, y + IMAGE_H + 1)
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(PANEL_W, 4.5, latin1(f"Shot {shot.number}  ·  {shot.size}  ·  {shot.movement}  ·  "
                                          f"{shot.duration_s:g} s").replace("·", "-"))
            pdf.set_xy(x, y + IMAGE_H + 6)
            pdf.set_font("Helvetica", size=7.5)
            words = shot.action.strip()
            lines = shot_lines(shot, m.scene)
            text = words + ("\n" if words and lines else "") + "\n".join(lines)
            pdf.multi_cell(PANEL_W, 3.4, latin1(_clip(text, 420)), max_line_height=3.4)
    if pdf.page == 0:
        return b""
    return bytes(pdf.output())


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def export_storyboard(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    data = storyboard_pdf(view.project.title, list(scenes(view)), runner.media_path)
    if not data:
        return []
    path = out / f"{base}_Storyboard.pdf"
    path.write_bytes(data)
    return [path]
