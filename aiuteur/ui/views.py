"""Pure formatting for the UI: values in, HTML/Markdown/choices out. No Gradio, no store.

Every colour of the pipeline graphic, the legend and the lock overlay comes from
`STATUS_COLOURS`; every explanation from `STATUS_MEANINGS`. Nothing here decides a status:
statuses are derived by the pipeline graph and only drawn here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape

from aiuteur.domain import STAGE_ORDER, Branch, Folder, ProjectSummary, Stage, Status
from aiuteur.domain.stages import STATUS_COLOURS, STATUS_MEANINGS

APP_NAME = "Aiuteur"
ALL_FOLDERS = "__all__"
NO_FOLDER = "__none__"

# --- header ---------------------------------------------------------------------------------


def header_markdown(profile: str, reason: str, storage_warning: str = "", data_path: str = "") -> str:
    """The app header in one line: name and active profile; why and where in its tooltip.

    A storage warning (work would be lost) gets its own line; on the test profile a short note
    says its output is noise.
    """
    details = reason + (f" · Data folder: {data_path}" if data_path else "")
    line = (f"**{APP_NAME}** · profile: **{profile or 'unknown'}** "
            f'<span class="aiu-why" title="{escape(details, quote=True)}">ⓘ</span>')
    if profile == "tiny":
        line += " · ⚠️ test models: what they make is noise, not a film"
    return line + (f"\n\n> ⚠️ **{storage_warning}**" if storage_warning else "")


# --- dashboard ------------------------------------------------------------------------------


def when(iso: str, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', else the date: last-edited time a person reads."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = (now - t).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return t.strftime("%Y-%m-%d")


def card_label(summary: ProjectSummary) -> str:
    """Where the project stands: 'Scene 3 · Stage 8' in Phase B, else 'Stage 2 · Treatment'."""
    return summary.scene_label or f"Stage {summary.stage.number} · {summary.stage.title}"


def filter_cards(cards: Iterable[ProjectSummary], folder: str | None) -> list[ProjectSummary]:
    """Cards in one folder (`NO_FOLDER`: outside any folder; `ALL_FOLDERS`/None: all)."""
    if folder in (None, "", ALL_FOLDERS):
        return list(cards)
    if folder == NO_FOLDER:
        return [c for c in cards if not c.folder_id]
    return [c for c in cards if c.folder_id == folder]


def cards_html(cards: list[ProjectSummary], folders: list[Folder], *, search: str = "",
               now: datetime | None = None) -> str:
    """The project cards: title, where it stands, folder and last edit."""
    if not cards:
        if search.strip():
            return f'<div class="aiu-empty">No project title contains “{escape(search.strip())}”.</div>'
        return '<div class="aiu-empty">No projects here yet. Create one with a title below.</div>'
    names = {f.id: f.name for f in folders}
    out = ['<div class="aiu-cards">']
    for c in cards:
        folder = names.get(c.folder_id or "", "")
        folder_html = f'<span class="aiu-card-folder">📁 {escape(folder)}</span>' if folder else ""
        out.append(
            f'<div class="aiu-card" data-project="{escape(c.id)}">'
            f'<div class="aiu-card-title">{escape(c.title)}</div>'
            f'<div class="aiu-card-stage">{escape(card_label(c))}</div>'
            f'<div class="aiu-card-meta">{folder_html}<span>edited {escape(when(c.updated_at, now))}</span></div>'
            "</div>"
        )
    out.append("</div>")
    return "".join(out)


def project_choices(cards: list[ProjectSummary]) -> list[tuple[str, str]]:
    """Dropdown choices (label, project id) for the dashboard's project picker."""
    return [(f"{c.title} — {card_label(c)}", c.id) for c in cards]


def folder_choices(folders: list[Folder], *, with_filters: bool = False) -> list[tuple[str, str]]:
    """Dropdown choices (label, folder id); with the 'all' and 'no folder' filters when asked."""
    base = [(f"📁 {f.name}", f.id) for f in sorted(folders, key=lambda f: f.name.casefold())]
    if with_filters:
        return [("All projects", ALL_FOLDERS), ("Not in a folder", NO_FOLDER), *base]
    return [("(no folder)", NO_FOLDER), *base]


# --- project shell --------------------------------------------------------------------------


def branch_choices(branches: list[Branch]) -> list[tuple[str, str]]:
    return [(b.name + (f" (from {b.forked_at})" if b.forked_at else ""), b.id) for b in branches]


def scene_choices(scenes: list[dict[str, object]]) -> list[tuple[str, str]]:
    return [(f"Scene {s.get('number', '?')} — {s.get('heading', '')}".strip(" —"), str(s["id"]))
            for s in scenes]


def status_text(stage: Stage, status: Status, scene_label: str = "") -> str:
    """'Stage 3 · Beat sheet — done: finished, not locked' (one line, for a lock bar)."""
    where = f" ({scene_label})" if scene_label else ""
    return f"**Stage {stage.number} · {stage.title}**{where} — {status.value}: {STATUS_MEANINGS[status]}"


def _chip(stage: Stage, status: Status, current: bool, detail: str = "") -> str:
    colour = STATUS_COLOURS[status]
    cls = "aiu-chip aiu-current" if current else "aiu-chip"
    extra = f'<span class="aiu-chip-detail">{escape(detail)}</span>' if detail else ""
    return (
        f'<div class="{cls}" data-stage="{stage.value}" data-status="{status.value}" data-number="{stage.number}" '
        f'style="border-color:{colour}" title="Open stage {stage.number}: {escape(STATUS_MEANINGS[status])}">'
        f'<span class="aiu-chip-num" style="background:{colour}">{stage.number}</span>'
        f'<span class="aiu-chip-title">{escape(stage.title)}</span>'
        f'<span class="aiu-chip-status" style="color:{colour}">{status.value}</span>{extra}</div>'
    )


# A click on a stage's chip opens that stage's tab (the tab's own select event then follows).
CHIP_CLICK_JS = """
element.addEventListener('click', (e) => {
  const chip = e.target.closest && e.target.closest('.aiu-chip[data-number]');
  if (!chip) return;
  const tab = [...document.querySelectorAll('[role=tab]')]
    .find((b) => b.textContent.trim().startsWith(chip.dataset.number + '. '));
  if (tab) tab.click();
});
"""


def pipeline_html(statuses: Mapping[Stage, Status], current: Stage | None = None, *,
                  scene_statuses: Mapping[Stage, Status] | None = None, scene_label: str = "",
                  scene_count: int = 0, scenes_done: Mapping[Stage, int] | None = None) -> str:
    """The pipeline graphic: Phase A chips, then Phase B chips.

    A per-scene stage's chip shows the chosen scene's own status (the same as the lock bar
    beneath it, so the two never disagree), or the film's aggregate when no scene is chosen; how
    many scenes are finished is said in words ("1 of 2 scenes done"), never as a second colour.
    """
    parts = ['<div class="aiu-pipeline">']
    for phase, stages in (("Phase A · the whole story", [s for s in STAGE_ORDER if not s.per_scene]),
                          ("Phase B · scene by scene", [s for s in STAGE_ORDER if s.per_scene])):
        parts.append(f'<div class="aiu-phase"><div class="aiu-phase-name">{phase}</div><div class="aiu-chips">')
        for stage in stages:
            detail = ""
            status = statuses.get(stage, Status.EMPTY)
            if stage.per_scene:
                if not scene_count:
                    detail = "no scenes yet"
                elif scenes_done is not None:
                    detail = f"{scenes_done.get(stage, 0)} of {scene_count} {plural(scene_count, 'scene')} done"
                else:
                    detail = f"{scene_count} {plural(scene_count, 'scene')}"
                if scene_statuses and stage in scene_statuses and scene_label:
                    status = scene_statuses[stage]
                    detail = f"{scene_label} · {detail}"
            parts.append(_chip(stage, status, stage == current, detail))
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def plural(n: int, word: str) -> str:
    """'scene' or 'scenes' for n (never "all 1 scenes")."""
    return word if n == 1 else f"{word}s"


def legend_html() -> str:
    """What each colour means, from the same table the graphic uses."""
    items = "".join(
        f'<span class="aiu-legend-item"><span class="aiu-dot" style="background:{STATUS_COLOURS[s]}"></span>'
        f"<b>{s.value}</b> {escape(STATUS_MEANINGS[s])}</span>"
        for s in Status
    )
    return f'<div class="aiu-legend">{items}</div>'


def lock_overlay_html(stage: Stage, scene_label: str = "") -> str:
    """The banner over a locked stage: read-only, and how to reopen it."""
    colour = STATUS_COLOURS[Status.LOCKED]
    where = f" for {escape(scene_label)}" if scene_label else ""
    return (
        f'<div class="aiu-overlay" style="border-color:{colour};background:{colour}1a">'
        f'<b style="color:{colour}">🔒 {escape(stage.title)}{where} is locked — approved and read-only.</b> '
        "Unlock it to change anything. If later stages are locked too, you will be asked whether to "
        "unlock in a new branch (the approved version stays intact) or here."
        "</div>"
    )


def question_html(question: str) -> str:
    """The runner's question before an unlock that would reopen approved work (its answers show with it)."""
    return f'<div class="aiu-question">{escape(question)}</div>' if question else ""


def not_built_html(text: str) -> str:
    return f'<div class="aiu-not-built">{escape(text)}</div>'


def css() -> str:
    """The app stylesheet; the locked colour comes from STATUS_COLOURS."""
    locked = STATUS_COLOURS[Status.LOCKED]
    return f"""
.aiu-cards {{ display:grid; grid-template-columns:repeat(auto-fill,minmax(220px,1fr)); gap:12px; }}
.aiu-card {{ border:1px solid #d1d5db; border-radius:10px; padding:12px; background:var(--block-background-fill);
            cursor:pointer; }}
.aiu-card:hover, .aiu-chip:hover {{ box-shadow:0 0 0 2px #6366f188; }}
.aiu-hub tr[data-scene] {{ cursor:pointer; }}
.aiu-hub tr[data-scene]:hover {{ background:#6366f11a; }}
.aiu-card-title {{ font-weight:700; font-size:1.05em; margin-bottom:4px; }}
.aiu-card-stage {{ font-size:.95em; margin-bottom:6px; }}
.aiu-card-meta {{ font-size:.8em; opacity:.75; display:flex; gap:10px; flex-wrap:wrap; }}
.aiu-empty, .aiu-not-built {{ padding:16px; border:1px dashed #9ca3af; border-radius:8px; }}
.aiu-pipeline {{ display:flex; gap:18px; flex-wrap:wrap; }}
.aiu-phase-name {{ font-size:.8em; opacity:.7; margin-bottom:4px; }}
.aiu-chips {{ display:flex; gap:6px; flex-wrap:wrap; }}
.aiu-chip {{ border:2px solid; border-radius:8px; padding:3px 8px; display:flex; flex-direction:column;
            align-items:flex-start; min-width:92px; font-size:.85em; cursor:pointer; }}
.aiu-chip.aiu-current {{ box-shadow:0 0 0 3px #11182755; font-weight:600; }}
.aiu-chip-num {{ color:white; border-radius:50%; width:1.4em; height:1.4em; display:inline-flex;
                align-items:center; justify-content:center; font-size:.8em; }}
.aiu-chip-status {{ font-size:.8em; font-weight:600; }}
.aiu-chip-detail {{ font-size:.72em; opacity:.75; }}
.aiu-legend {{ display:flex; gap:14px; flex-wrap:wrap; font-size:.8em; margin-top:6px; }}
.aiu-dot {{ display:inline-block; width:.8em; height:.8em; border-radius:50%; margin-right:4px; }}
.aiu-overlay {{ border:2px solid; border-radius:8px; padding:10px; }}
.aiu-content {{ position:relative; }}
#aiu-form-names-block {{ display:none; }}
.aiu-unsaved-dialog {{ max-width:34em; border:1px solid #d1d5db; border-radius:10px; padding:18px;
                      background:var(--block-background-fill); color:var(--body-text-color); }}
.aiu-unsaved-dialog::backdrop {{ background:#0006; }}
.aiu-unsaved-buttons {{ display:flex; gap:8px; flex-wrap:wrap; margin-top:12px; }}
.aiu-unsaved-buttons button {{ padding:6px 12px; border-radius:6px; border:1px solid #9ca3af; cursor:pointer; }}
.aiu-unsaved-buttons .aiu-unsaved-save {{ background:#4f46e5; color:#fff; border-color:#4f46e5; }}
.aiu-stage:has(.aiu-overlay) .aiu-lock, .aiu-overlay-col:not(:has(.aiu-overlay)),
.aiu-choice:not(:has(.aiu-question)) {{ display:none !important; }}
.aiu-question {{ font-weight:700; }}
.aiu-stage:has(.aiu-overlay) .aiu-content::after {{ content:"🔒 locked — read-only"; position:absolute; inset:0; z-index:20;
    display:flex; align-items:flex-start; justify-content:center; padding-top:8px; font-weight:700;
    color:{locked}; background:repeating-linear-gradient(45deg,{locked}14 0 12px,{locked}26 12px 24px);
    border:2px solid {locked}; border-radius:8px; cursor:not-allowed; }}
"""
