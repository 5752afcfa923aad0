"""Deliverables a filmmaker hands on: screenplay, shot lists, storyboard, cuts, timeline, bundle.

`export_all` writes every deliverable that the project has material for, and says plainly which
ones it could not write and why (nothing made yet, or not built in this version).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiuteur.domain import Script, Stage

if TYPE_CHECKING:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.pipeline.work import ProjectView

Exporter = Callable[["Runner", "ProjectView", Path, str], list[Path]]


def safe_name(title: str) -> str:
    """A file-name-safe version of a title (ASCII letters, digits and underscores)."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")
    return name[:60] or "Project"


def _script(view: ProjectView) -> Script | None:
    data = view.data(Stage.SCRIPT)
    return Script.model_validate(data) if data else None


def export_fountain(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    from aiuteur.screenplay import to_fountain

    script = _script(view)
    if script is None:
        return []
    path = out / f"{base}_Screenplay.fountain"
    path.write_text(to_fountain(script), encoding="utf-8")
    return [path]


def export_screenplay_pdf(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    from aiuteur.screenplay import to_pdf

    script = _script(view)
    if script is None:
        return []
    path = out / f"{base}_Screenplay.pdf"
    path.write_bytes(to_pdf(script))
    return [path]


def export_fdx(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    from aiuteur.screenplay import to_fdx

    script = _script(view)
    if script is None:
        return []
    path = out / f"{base}_Screenplay.fdx"
    path.write_bytes(to_fdx(script))
    return [path]


def export_project_bundle(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
    from aiuteur.exports.bundle import export_bundle

    return [export_bundle(runner.store, view.project.id, out / f"{base}_bundle.zip")]


def _lazy(module: str, name: str) -> Exporter:
    """An exporter imported on first use (fpdf2, opentimelineio and ffmpeg load only when exporting)."""
    def run(runner: Runner, view: ProjectView, out: Path, base: str) -> list[Path]:
        import importlib

        fn: Exporter = getattr(importlib.import_module(f"aiuteur.exports.{module}"), name)
        return fn(runner, view, out, base)

    run.__name__ = name
    return run


EXPORTERS: dict[str, Exporter] = {
    "screenplay (Fountain)": export_fountain,
    "screenplay (PDF)": export_screenplay_pdf,
    "screenplay (Final Draft)": export_fdx,
    "shot list (CSV)": _lazy("shotlist", "export_shot_list_csv"),
    "shot list (PDF)": _lazy("shotlist", "export_shot_list_pdf"),
    "storyboard (PDF)": _lazy("storyboard", "export_storyboard"),
    "animatics (mp4)": _lazy("cuts", "export_animatics"),
    "scene cuts (mp4)": _lazy("cuts", "export_scene_cuts"),
    "clips (mp4)": _lazy("cuts", "export_clips"),
    "subtitles (SRT)": _lazy("subtitles", "export_subtitles"),
    "timeline (OpenTimelineIO)": _lazy("timeline", "export_timeline"),
    "cut for editors (FCP7 XML, CMX 3600 EDL)": _lazy("editors", "export_editor_cuts"),
    "project bundle (zip)": export_project_bundle,
}
NOT_BUILT: list[str] = []


def export_all(runner: Runner, project_id: str, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Write every deliverable into `out_dir`; return (files written, what was not and why)."""
    view = runner.view(project_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = safe_name(view.project.title)
    written: list[Path] = []
    missing: list[str] = []
    for what, fn in EXPORTERS.items():
        paths = fn(runner, view, out_dir, base)
        if paths:
            written.extend(paths)
        else:
            missing.append(f"{what}: nothing to export yet")
    missing.extend(f"{what}: not built in this version yet" for what in NOT_BUILT)
    script = _script(view)
    if script is not None and any(p.name.endswith("_Screenplay.pdf") for p in written):
        from aiuteur.screenplay import fonts
        from aiuteur.screenplay.pdf import printed_text

        chars = fonts.missing(printed_text(script))
        if chars:
            shown = " ".join(chars[:12]) + (f" and {len(chars) - 12} more" if len(chars) > 12 else "")
            missing.append(f"screenplay (PDF): {len(chars)} character{'s' if len(chars) != 1 else ''} ({shown}) "
                           "that its fonts have no glyph for; they print as empty boxes")
    return written, missing
