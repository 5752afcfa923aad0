"""The shot list as a CSV (for spreadsheets and scheduling) and as a PDF table."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from aiuteur.domain import Stage, StyleAndAssets
from aiuteur.exports.material import SceneMaterial, scenes
from aiuteur.pipeline.shot_list import shot_lines
from aiuteur.screenplay.fonts import sans_font

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView

COLUMNS = ["Scene", "Shot", "Size", "Angle", "Movement", "Lens", "Duration (s)", "Action", "Dialogue", "In frame"]


def _names(view: ProjectView) -> dict[str, str]:
    data = view.data(Stage.ASSETS)
    return {a.id: a.name for a in StyleAndAssets.model_validate(data).registry.assets} if data else {}


def shot_rows(view: ProjectView) -> list[list[str]]:
    """One row per shot of every scene, in script order (COLUMNS)."""
    names = _names(view)
    rows = []
    material: list[SceneMaterial] = list(scenes(view))
    for m in material:
        for s in m.shots:
            rows.append([m.scene.number, s.number, s.size, s.angle, s.movement, s.lens, f"{s.duration_s:g}",
                         s.action, "\n".join(shot_lines(s, m.scene)), ", ".join(names.get(a, a) for a in s.assets)])
    return rows


def export_shot_list_csv(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    rows = shot_rows(view)
    if not rows:
        return []
    path = out / f"{base}_ShotList.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return [path]


def shot_list_pdf(title: str, rows: list[list[str]]) -> bytes:
    """A landscape table of every shot."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    family, drawable = sans_font(pdf, title + "".join("".join(row) for row in rows))
    pdf.set_title(drawable(title))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font(family, "B", 14)
    pdf.cell(0, 9, drawable(f"{title} - shot list"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=7.5)
    widths = (12, 12, 20, 20, 20, 14, 14, 74, 52, 39)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=3.6, first_row_as_headings=True) as table:
        for row in [COLUMNS, *rows]:
            r = table.row()
            for cell in row:
                r.cell(drawable(cell))
    return bytes(pdf.output())


def export_shot_list_pdf(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    rows = shot_rows(view)
    if not rows:
        return []
    path = out / f"{base}_ShotList.pdf"
    path.write_bytes(shot_list_pdf(view.project.title, rows))
    return [path]
