"""Stage 1, input: project parameters, mode, the main text, extra sources and the structured brief.

Autosave is throttled in the browser: typing marks the page dirty and saves at most once per 2 s
(the last edit always gets saved); leaving a field saves at once. Every save goes through the one
"Save now" button, so saves never overlap (`trigger_mode="always_last"`) and each carries the
revision it was made from: an edit by someone else meanwhile is a ConflictError whose message is
shown while the user's text stays in the form.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from pydantic import ValidationError

from aiuteur.domain import (
    AiuteurError,
    ConflictError,
    InputError,
    InputMode,
    ProjectType,
    SourceRole,
    SourceText,
    Stage,
    Status,
    StoryInput,
)
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import TabEnv, seen

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_TYPES = [".txt", ".md", ".fountain", ".fdx", ".pdf"]
SCREENPLAY_EXTS = {".fountain", ".fdx"}
SAVE_ELEM_ID = "aiu-input-save"

MODE_CHOICES = [
    ("Expand an idea", InputMode.EXPAND.value),
    ("Condense a long text", InputMode.CONDENSE.value),
    ("Transform a text (new genre, tone or medium)", InputMode.TRANSFORM.value),
    ("Skip to script (import a finished screenplay)", InputMode.SKIP_TO_SCRIPT.value),
    ("Skip to stage 4 (write the script from these inputs)", InputMode.SKIP_TO_STAGE4.value),
]
TYPE_CHOICES = [("Narrative short", ProjectType.NARRATIVE.value),
                ("Commercial / trailer", ProjectType.COMMERCIAL.value),
                ("Visuals for audio", ProjectType.AUDIO_VISUALS.value)]
RATINGS = ["G", "PG", "PG-13", "R", "NC-17", "Unrated"]
GENRES = ["Drama", "Comedy", "Thriller", "Horror", "Sci-fi", "Fantasy", "Romance", "Mystery", "Action",
          "Animation", "Documentary", "Musical", "Parody", "Mythology"]
ASPECTS = ["16:9", "9:16", "1:1", "2.39:1"]
HAS_SCRIPT = [("Not said", "unknown"), ("Yes", "yes"), ("No", "no")]
EXTRA_ROLES = [("Character notes", SourceRole.CHARACTER_NOTES.value), ("World", SourceRole.WORLD.value),
               ("Parody source", SourceRole.PARODY_SOURCE.value), ("Other context", SourceRole.CONTEXT.value)]
UPLOAD_ROLES = [("Main text", SourceRole.PRIMARY.value), *EXTRA_ROLES,
                ("Filled brief template (fills the brief)", "brief")]

# The brief's fields in template order: (field, heading a person reads).
BRIEF_FIELDS: list[tuple[str, str]] = [
    ("has_script", "Script (Y/N)"), ("plot", "Plot"), ("dialogue_rules", "Dialogue rules"),
    ("dialogue_examples", "Dialogue examples"), ("character_descriptions", "Character descriptions"),
    ("vibe", "General vibe"), ("shot_styles", "Shot styles"), ("story_rules", "Story rules"),
]

# Browser-side autosave: mark dirty; save at most once per 2 s while typing (trailing save kept).
THROTTLE_JS = f"""() => {{
  const a = window.aiuteur = window.aiuteur || {{dirty: false, busy: 0}};
  a.dirty = true;
  if (!a.saveTimer) {{
    a.saveTimer = setTimeout(() => {{
      a.saveTimer = null;
      const b = document.getElementById("{SAVE_ELEM_ID}"); if (b) b.click();
    }}, 2000);
  }}
}}"""
# Leaving a field, or a discrete choice: save now if anything is unsaved.
FLUSH_JS = f"""() => {{
  const a = window.aiuteur = window.aiuteur || {{dirty: false, busy: 0}};
  if (a.saveTimer) {{ clearTimeout(a.saveTimer); a.saveTimer = null; }}
  if (a.dirty) {{ const b = document.getElementById("{SAVE_ELEM_ID}"); if (b) b.click(); }}
}}"""
CHOICE_JS = "() => { (window.aiuteur = window.aiuteur || {dirty: false, busy: 0}).dirty = true; }"
CLEAN_JS = "() => { const a = window.aiuteur; if (a && !a.saveTimer) { a.dirty = false; } }"


# --- pure helpers ---------------------------------------------------------------------------


def form_from_input(si: StoryInput | None) -> dict[str, Any]:
    """The form's values (by field name) for a saved StoryInput (or the defaults)."""
    si = si or StoryInput()
    p, b = si.params, si.brief
    primary = si.primary
    return {
        "min_minutes": p.min_minutes, "max_minutes": p.max_minutes, "project_type": p.project_type.value,
        "content_rating": p.content_rating, "genres": list(p.genres), "tone": p.tone,
        "aspect_ratio": p.aspect_ratio, "mode": si.mode.value, "transform_target": si.transform_target,
        "primary": primary.text if primary else "",
        "primary_from": primary.name if primary and primary.format != "typed" else "",
        "has_script": "unknown" if b.has_script is None else ("yes" if b.has_script else "no"),
        "plot": b.plot, "dialogue_rules": b.dialogue_rules, "dialogue_examples": b.dialogue_examples,
        "character_descriptions": b.character_descriptions, "vibe": b.vibe, "shot_styles": b.shot_styles,
        "brief_story_rules": b.story_rules, "story_rules": "\n".join(si.story_rules),
    }


def _validated(data: dict[str, Any]) -> StoryInput:
    try:
        return StoryInput.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ())) or "input"
        raise InputError(f"Input could not be saved: {where}: {err.get('msg', 'invalid')}.") from None


def input_from_form(form: dict[str, Any], saved: StoryInput | None) -> StoryInput:
    """A StoryInput from the form, keeping the saved extra sources (they are edited elsewhere)."""
    saved = saved or StoryInput()
    extras = [s for s in saved.sources if s.role != SourceRole.PRIMARY]
    old = saved.primary
    text = str(form.get("primary") or "")
    sources = list(extras)
    if text.strip() or old is not None:
        from_file = str(form.get("primary_from") or "")
        fmt = _format_of(from_file) if from_file else "typed"
        primary = SourceText(id=old.id if old else SourceText().id, name=from_file or (old.name if old else ""),
                             role=SourceRole.PRIMARY, format=fmt, text=text)  # type: ignore[arg-type]
        sources = [primary, *extras]
    has = form.get("has_script") or "unknown"
    return _validated({
        "mode": form.get("mode") or InputMode.EXPAND.value,
        "sources": [s.model_dump(mode="json") for s in sources],
        "brief": {
            "has_script": None if has == "unknown" else has == "yes",
            "plot": form.get("plot") or "", "dialogue_rules": form.get("dialogue_rules") or "",
            "dialogue_examples": form.get("dialogue_examples") or "",
            "character_descriptions": form.get("character_descriptions") or "",
            "vibe": form.get("vibe") or "", "shot_styles": form.get("shot_styles") or "",
            "story_rules": form.get("brief_story_rules") or "",
        },
        "params": {
            "min_minutes": float(form.get("min_minutes") or 1.0), "max_minutes": float(form.get("max_minutes") or 3.0),
            "project_type": form.get("project_type") or ProjectType.NARRATIVE.value,
            "content_rating": form.get("content_rating") or "PG-13",
            "genres": list(form.get("genres") or []), "tone": form.get("tone") or "",
            "aspect_ratio": form.get("aspect_ratio") or "16:9",
        },
        "transform_target": form.get("transform_target") or "",
        "story_rules": [r.strip() for r in str(form.get("story_rules") or "").splitlines() if r.strip()],
        "written_style_capsule": saved.written_style_capsule,
    })


def _format_of(filename: str) -> str:
    ext = Path(filename).suffix.lower().lstrip(".")
    return ext if ext in ("txt", "md", "fountain", "fdx", "pdf") else "txt"


def saved_input(runner: Runner, project_id: str) -> tuple[StoryInput | None, int, bool]:
    """The saved StoryInput (or None), its revision, and whether the stage is locked."""
    view = runner.view(project_id)
    data = view.data(Stage.INPUT)
    si = StoryInput.model_validate(data) if data else None
    return si, view.revision(Stage.INPUT), view.statuses[Stage.INPUT] == Status.LOCKED


def save_form(runner: Runner, project_id: str, form: dict[str, Any], base_revision: int | None) -> tuple[int, str]:
    """Save the form as the project's StoryInput; returns (new revision, status line)."""
    saved, _, _ = saved_input(runner, project_id)
    story = input_from_form(form, saved)
    record = runner.save(project_id, Stage.INPUT, story, base_revision=seen(base_revision))
    return record.revision, f"Saved (revision {record.revision})."


def read_upload(path: str | Path, *, screenplay: bool = False) -> str:
    """The text of an uploaded file; screenplay formats become Fountain when that importer exists.

    Raises:
        InputError: the file is over 20 MB, binary, or cannot be read.
    """
    p = Path(path)
    name = p.name
    size = p.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise InputError(f"{name} is {size / 1024 / 1024:.1f} MB; files up to 20 MB can be read.")
    data = p.read_bytes()
    ext = p.suffix.lower()
    if ext in SCREENPLAY_EXTS or (ext == ".pdf" and screenplay):
        try:
            from aiuteur.screenplay import import_screenplay, to_fountain
        except ImportError:
            if ext == ".fdx":
                raise InputError(f"{name}: Final Draft files cannot be read in this version; "
                                 "export it as Fountain or plain text.") from None
        else:
            try:
                return str(to_fountain(import_screenplay(data, name)))
            except AiuteurError as e:
                raise InputError(str(e)) from None
    if ext == ".pdf":
        try:
            from aiuteur.screenplay.pdf import pdf_text
        except ImportError:
            raise InputError(f"{name}: PDF files cannot be read in this version; upload a .txt copy.") from None
        try:
            return str(pdf_text(data, name)).replace("\f", "\n\n")
        except AiuteurError as e:
            raise InputError(str(e)) from None
    return decode_text(data, name)


def decode_text(data: bytes, name: str) -> str:
    """Text from an uploaded file's bytes (see `aiuteur.screenplay.text`); anything else is refused in one line."""
    from aiuteur.screenplay.text import decode_text as decode

    return decode(data, name, advice="upload a .txt, .md, .fountain, .fdx or .pdf file",
                  other_formats="upload a .fountain, .fdx or .pdf file")


def brief_template() -> str:
    """The structured brief as a Markdown template to fill in and upload back."""
    lines = ["# Aiuteur brief", "",
             "Fill in what you know; leave the rest empty. Upload it back as 'Filled brief template'.", ""]
    for _, heading in BRIEF_FIELDS:
        lines += [f"## {heading}", "", ""]
    return "\n".join(lines)


def parse_brief(text: str) -> dict[str, str]:
    """Brief fields from a filled template: the text under each known '## Heading'."""
    by_heading = {h.casefold(): f for f, h in BRIEF_FIELDS}
    out: dict[str, str] = {}
    current: str | None = None
    buf: list[str] = []
    for line in [*text.splitlines(), "## end"]:
        m = re.match(r"^#{1,3}\s*(.+?)\s*:?\s*$", line)
        if m:
            if current:
                out[current] = "\n".join(buf).strip()
            current, buf = by_heading.get(m.group(1).casefold()), []
        elif current:
            buf.append(line)
    if "has_script" in out:
        v = out["has_script"].strip().casefold()
        out["has_script"] = "yes" if v.startswith("y") else "no" if v.startswith("n") else "unknown"
    return out


def add_source(runner: Runner, project_id: str, source: SourceText, base_revision: int | None) -> int:
    """Add an extra (context) source to the saved input; returns the new revision."""
    saved, _, _ = saved_input(runner, project_id)
    saved = saved or StoryInput()
    story = saved.model_copy(update={"sources": [*saved.sources, source]})
    return runner.save(project_id, Stage.INPUT, _validated(story.model_dump(mode="json")),
                       base_revision=seen(base_revision)).revision


def remove_source(runner: Runner, project_id: str, source_id: str, base_revision: int | None) -> int:
    saved, _, _ = saved_input(runner, project_id)
    if saved is None or all(s.id != source_id for s in saved.sources):
        raise InputError("That source is no longer in the input; nothing was removed.")
    story = saved.model_copy(update={"sources": [s for s in saved.sources if s.id != source_id]})
    return runner.save(project_id, Stage.INPUT, story, base_revision=seen(base_revision)).revision


def sources_markdown(si: StoryInput | None) -> str:
    extras = [s for s in (si.sources if si else []) if s.role != SourceRole.PRIMARY]
    if not extras:
        return "_No extra sources yet. Character notes, world notes or a parody source go here as context._"
    roles = {v: label for label, v in EXTRA_ROLES}
    return "\n".join(f"- **{s.name or 'typed text'}** · {roles.get(s.role.value, s.role.value)} · "
                     f"{len(s.text):,} characters" for s in extras)


def source_choices(si: StoryInput | None) -> list[tuple[str, str]]:
    return [(f"{s.name or 'typed text'} ({s.role.value})", s.id)
            for s in (si.sources if si else []) if s.role != SourceRole.PRIMARY]


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputTab:
    fields: dict[str, Any]  # field name -> component (the form; see form_from_input)
    status: gr.Markdown
    save: gr.Button
    rev: gr.State
    upload: gr.File
    upload_role: gr.Dropdown
    sources: gr.Markdown
    extra_name: gr.Textbox
    extra_role: gr.Dropdown
    extra_text: gr.Textbox
    add_extra: gr.Button
    remove_pick: gr.Dropdown
    remove: gr.Button
    template: gr.Button
    template_file: gr.File
    upload_box: gr.Accordion | None = None


def render(env: TabEnv) -> InputTab:
    f: dict[str, Any] = {}
    with gr.Accordion("Project parameters", open=True):
        with gr.Row():
            f["min_minutes"] = gr.Number(label="Target length from (min)", value=1.0, minimum=0.1, maximum=180)
            f["max_minutes"] = gr.Number(label="to (min)", value=3.0, minimum=0.1, maximum=180)
            f["project_type"] = gr.Dropdown(label="Project type", choices=TYPE_CHOICES, value=TYPE_CHOICES[0][1])
            f["content_rating"] = gr.Dropdown(label="Content rating", choices=RATINGS, value="PG-13",
                                              allow_custom_value=True)
        with gr.Row():
            f["genres"] = gr.Dropdown(label="Genres", choices=GENRES, multiselect=True, allow_custom_value=True)
            f["tone"] = gr.Textbox(label="Tone", placeholder="e.g. wry, tender, dread under sunlight")
            f["aspect_ratio"] = gr.Radio(label="Aspect ratio", choices=ASPECTS, value="16:9")
    with gr.Row():
        f["mode"] = gr.Radio(label="What should Aiuteur do with your text?", choices=MODE_CHOICES,
                             value=InputMode.EXPAND.value, scale=3)
        f["transform_target"] = gr.Textbox(label="Transform into (genre, tone or medium)", visible=False, scale=2)
    f["primary"] = gr.Textbox(label="Your story, idea or screenplay", lines=10, max_lines=30,
                              placeholder="Type or paste here, or upload a file below.")
    f["primary_from"] = gr.Textbox(label="Main text came from file", interactive=False, max_lines=1)
    with gr.Row(equal_height=True):
        status = gr.Markdown("")
        save = gr.Button("Save now", size="sm", scale=0, min_width=110, elem_id=SAVE_ELEM_ID)
    rev = gr.State(0)
    with gr.Accordion("Upload a file or add context", open=False) as upload_box:
        with gr.Row():
            upload = gr.File(label="Upload .txt, .md, .fountain, .fdx or .pdf (up to 20 MB)",
                             file_types=UPLOAD_TYPES, type="filepath", scale=2)
            upload_role = gr.Dropdown(label="Use the file as", choices=UPLOAD_ROLES,
                                      value=SourceRole.PRIMARY.value, scale=1)
        sources = gr.Markdown()
        with gr.Row():
            extra_name = gr.Textbox(label="Name of a typed source", scale=1)
            extra_role = gr.Dropdown(label="Its role", choices=EXTRA_ROLES, value=SourceRole.CHARACTER_NOTES.value,
                                     scale=1)
        extra_text = gr.Textbox(label="Typed context", lines=4)
        with gr.Row():
            add_extra = gr.Button("Add as context", size="sm")
            remove_pick = gr.Dropdown(label="Extra source", choices=[], scale=2)
            remove = gr.Button("Remove source", size="sm")
    with gr.Accordion("Structured brief (all optional)", open=False):
        with gr.Row():
            template = gr.Button("Download a brief template (.md)", size="sm")
            template_file = gr.File(label="Brief template", interactive=False, height=80)
        f["has_script"] = gr.Radio(label="Do you already have a script?", choices=HAS_SCRIPT, value="unknown")
        f["plot"] = gr.Textbox(label="Plot", lines=3)
        with gr.Row():
            f["dialogue_rules"] = gr.Textbox(label="Dialogue rules", lines=3)
            f["dialogue_examples"] = gr.Textbox(label="Dialogue examples", lines=3)
        f["character_descriptions"] = gr.Textbox(label="Character descriptions", lines=3)
        with gr.Row():
            f["vibe"] = gr.Textbox(label="General vibe", lines=2)
            f["shot_styles"] = gr.Textbox(label="Shot styles", lines=2)
        f["brief_story_rules"] = gr.Textbox(label="Story rules (as written in the brief)", lines=2)
    f["story_rules"] = gr.Textbox(
        label="Story rules: one per line, applied to every text and image prompt",
        lines=3, placeholder="All characters are eggs.\nThe story is set in 1600s Europe.")
    return InputTab(f, status, save, rev, upload, upload_role, sources, extra_name, extra_role, extra_text,
                    add_extra, remove_pick, remove, template, template_file, upload_box)


TEXT_FIELDS = {"tone", "transform_target", "primary", "plot", "dialogue_rules", "dialogue_examples",
               "character_descriptions", "vibe", "shot_styles", "brief_story_rules", "story_rules",
               "min_minutes", "max_minutes"}


def listen(tab: InputTab, env: TabEnv) -> None:
    """Stage 1's events, by purpose: the form (load and save), autosave, the JSON endpoint, files, sources."""
    _listen_form(tab, env)
    _listen_autosave(tab)
    _listen_story_api(env)
    _listen_upload(tab, env)
    _listen_sources(tab, env)


def _listen_form(tab: InputTab, env: TabEnv) -> None:
    """Fill the form when the project opens; save it (the one path every autosave takes)."""
    names = {comp: name for name, comp in tab.fields.items()}
    form_inputs = {env.project, env.scene, tab.rev, *tab.fields.values()}

    def form_of(values: dict[Any, Any]) -> dict[str, Any]:
        return {names[c]: v for c, v in values.items() if c in names}

    def fill(si: StoryInput | None, revision: int, locked: bool) -> dict[Any, Any]:
        form = form_from_input(si)
        out: dict[Any, Any] = {comp: gr.update(value=form[name], interactive=not locked and name != "primary_from")
                               for name, comp in tab.fields.items()}
        out[tab.fields["transform_target"]] = gr.update(value=form["transform_target"], interactive=not locked,
                                                        visible=form["mode"] == InputMode.TRANSFORM.value)
        out.update({tab.rev: revision, tab.sources: sources_markdown(si),
                    tab.remove_pick: gr.Dropdown(choices=source_choices(si), value=None)})
        if tab.upload_box is not None and form["mode"] == InputMode.SKIP_TO_SCRIPT.value:
            out[tab.upload_box] = gr.Accordion(open=True)  # a finished screenplay is a file
        return out

    fill_outputs = [*tab.fields.values(), tab.rev, tab.sources, tab.remove_pick,
                    *([tab.upload_box] if tab.upload_box else [])]

    def on_load(pid: str | None, request: gr.Request) -> dict[Any, Any]:
        if not pid:
            return {tab.status: ""}
        si, revision, locked = saved_input(env.runner_for(request), pid)
        return {**fill(si, revision, locked), tab.status: "🔒 Locked: read-only." if locked else ""}

    env.on_reload(on_load, [env.project], [*fill_outputs, tab.status])

    # save: the one path every autosave takes; one event answers with the statuses too
    def on_save(values: dict[Any, Any], request: gr.Request) -> dict[Any, Any]:
        pid = values[env.project]
        if not pid:
            return {tab.status: "Open a project first."}
        try:
            revision, msg = save_form(env.runner_for(request), pid, form_of(values), values[tab.rev])
        except AiuteurError as e:  # ConflictError, LockError, InputError: the form keeps the user's text
            gr.Warning(str(e))
            return {tab.status: f"⚠️ {e}"}
        return {tab.rev: revision, tab.status: msg,
                **dict(zip(env.refresh_outputs, env.refresh(pid, values[env.scene], request), strict=True))}

    saved = tab.save.click(on_save, form_inputs, [tab.rev, tab.status, *env.refresh_outputs], api_name="save_input",
                           trigger_mode="always_last", show_progress="hidden")
    saved.then(None, None, None, js=CLEAN_JS)


def _listen_autosave(tab: InputTab) -> None:
    """Typing saves after a pause (and on leaving the field); a discrete choice saves at once."""
    for name, comp in tab.fields.items():
        if name == "primary_from":
            continue
        if name in TEXT_FIELDS:
            comp.input(None, None, None, js=THROTTLE_JS)
            comp.blur(None, None, None, js=FLUSH_JS)
        else:  # a discrete choice: save at once
            comp.input(None, None, None, js=CHOICE_JS).then(None, None, None, js=FLUSH_JS)

    def on_mode(mode: str) -> list[Any]:
        """Transform asks for its target; skip-to-script opens the upload (a finished screenplay is a file)."""
        out: list[Any] = [gr.update(visible=mode == InputMode.TRANSFORM.value)]
        if tab.upload_box is not None:
            out.append(gr.Accordion(open=True) if mode == InputMode.SKIP_TO_SCRIPT.value else gr.skip())
        return out

    # the person's choice (a load sets the same visibility itself, in its own answer)
    tab.fields["mode"].input(on_mode, tab.fields["mode"],
                              [tab.fields["transform_target"], *([tab.upload_box] if tab.upload_box else [])],
                              api_visibility="private")


def _listen_story_api(env: TabEnv) -> None:
    """JSON endpoint for scripts: save a whole StoryInput by project id."""

    def save_story_input(project_id: str, story_input: dict[str, Any], base_revision: int | None = None,
                         request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Save a StoryInput (JSON) for a project from the input revision you read (none or 0: nothing
        saved yet); returns the new revision, or the error shown to users with your version to reapply."""
        try:
            rec = env.runner_for(request).save(project_id, Stage.INPUT, story_input,
                                               base_revision=seen(base_revision))
        except ConflictError as e:  # the caller's version comes back with the error, to reapply
            return {"ok": False, "error": str(e), "yours": e.yours}
        except AiuteurError as e:
            return {"ok": False, "error": str(e)}
        return {"ok": True, "revision": rec.revision}

    gr.api(save_story_input, api_name="save_story_input")


def _listen_upload(tab: InputTab, env: TabEnv) -> None:
    """An uploaded file: the main text, an extra source, or a filled brief."""

    def on_upload(pid: str | None, path: str | None, role: str, mode: str, revision: int,
                  request: gr.Request) -> dict[Any, Any]:
        if not pid or not path:
            return {tab.status: "Open a project first.", tab.upload: None}  # an empty dict is not a valid update
        try:
            name = Path(path).name
            if role == "brief":
                fields = parse_brief(read_upload(path))
                return {**{tab.fields[k if k != "story_rules" else "brief_story_rules"]: v for k, v in fields.items()},
                        tab.status: f"Filled the brief from {name}; saving…", tab.upload: None}
            text = read_upload(path, screenplay=mode == InputMode.SKIP_TO_SCRIPT.value)
            if role == SourceRole.PRIMARY.value:
                return {tab.fields["primary"]: text, tab.fields["primary_from"]: name, tab.upload: None,
                        tab.status: f"Loaded {name} ({len(text):,} characters) as the main text; saving…"}
            runner = env.runner_for(request)
            new_rev = add_source(runner, pid, SourceText(name=name, role=SourceRole(role),
                                                         format=_format_of(name), text=text), revision)  # type: ignore[arg-type]
            si, _, _ = saved_input(runner, pid)
            return {tab.rev: new_rev, tab.sources: sources_markdown(si), tab.upload: None,
                    tab.remove_pick: gr.Dropdown(choices=source_choices(si), value=None),
                    tab.status: f"Added {name} as context."}
        except AiuteurError as e:
            gr.Warning(str(e))
            return {tab.status: f"⚠️ {e}", tab.upload: None}

    upload_outputs = [*tab.fields.values(), tab.status, tab.upload, tab.rev, tab.sources, tab.remove_pick]
    tab.upload.upload(on_upload, [env.project, tab.upload, tab.upload_role, tab.fields["mode"], tab.rev],
                      upload_outputs, api_name="upload_input_file").then(
        None, None, None, js=CHOICE_JS).then(None, None, None, js=FLUSH_JS)


def _listen_sources(tab: InputTab, env: TabEnv) -> None:
    """Typed context added, a source removed, the brief template downloaded."""

    def on_add(pid: str | None, name: str, role: str, text: str, revision: int, request: gr.Request) -> dict[Any, Any]:
        if not pid:
            return {tab.status: "Open a project first."}
        try:
            if not (text or "").strip():
                raise InputError("Type or paste some context before adding it.")
            runner = env.runner_for(request)
            new_rev = add_source(runner, pid, SourceText(name=name.strip() or "typed notes", role=SourceRole(role),
                                                         format="typed", text=text), revision)
            si, _, _ = saved_input(runner, pid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return {tab.status: f"⚠️ {e}"}
        return {tab.rev: new_rev, tab.sources: sources_markdown(si), tab.extra_text: "", tab.extra_name: "",
                tab.remove_pick: gr.Dropdown(choices=source_choices(si), value=None), tab.status: "Context added."}

    tab.add_extra.click(on_add, [env.project, tab.extra_name, tab.extra_role, tab.extra_text, tab.rev],
                        [tab.rev, tab.sources, tab.extra_text, tab.extra_name, tab.remove_pick, tab.status],
                        api_name="add_input_source")

    def on_remove(pid: str | None, source_id: str | None, revision: int, request: gr.Request) -> dict[Any, Any]:
        if not pid or not source_id:
            return {tab.status: "Choose a source to remove."}
        try:
            runner = env.runner_for(request)
            new_rev = remove_source(runner, pid, source_id, revision)
            si, _, _ = saved_input(runner, pid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return {tab.status: f"⚠️ {e}"}
        return {tab.rev: new_rev, tab.sources: sources_markdown(si), tab.status: "Source removed.",
                tab.remove_pick: gr.Dropdown(choices=source_choices(si), value=None)}

    tab.remove.click(on_remove, [env.project, tab.remove_pick, tab.rev],
                     [tab.rev, tab.sources, tab.remove_pick, tab.status], api_name="remove_input_source")

    def on_template() -> str:
        path = Path(tempfile.mkdtemp(prefix="aiuteur-brief-")) / "aiuteur-brief-template.md"
        path.write_text(brief_template(), encoding="utf-8")
        return str(path)

    tab.template.click(on_template, None, tab.template_file, api_name="brief_template")
