"""Stage 4 tab, master script: a rendered screenplay beside a Fountain editor that updates it.

The script is written automatically the first time the tab is opened when it never was, and it
grows on screen scene by scene. One scene can be rewritten with guidance; "Enrich" makes an
ordinary script visually verbose (action only); Fountain and PDF export. Formatting is pure.
"""

from __future__ import annotations

import queue
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, ElementKind, Scene, Script, Stage, Status
from aiuteur.pipeline.actions import EnrichScript, RewriteScene
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.stage import RunResult
from aiuteur.screenplay.builder import opening_elements
from aiuteur.ui.tab_api import GPU, TabEnv, form_classes, guard_save, mark_js, with_statuses
from aiuteur.ui.tab_api import surrounding_tab as _surrounding_tab

CSS_CLASS = "aiu-screenplay"
STYLE = f"""<style>
.{CSS_CLASS} {{ font-family: 'Courier Prime', 'Courier New', monospace; font-size: 14px; line-height: 1.35;
  max-width: 42em; margin: 0 auto; padding: 1em; background: #fff; color: #111; }}
.{CSS_CLASS} .h {{ font-weight: bold; text-transform: uppercase; margin: 1.4em 0 .6em; }}
.{CSS_CLASS} .a {{ margin: .6em 0; white-space: pre-wrap; }}
.{CSS_CLASS} .c {{ margin: .8em 0 0 16em; text-transform: uppercase; }}
.{CSS_CLASS} .p {{ margin: 0 0 0 12em; }}
.{CSS_CLASS} .d {{ margin: 0 8em 0 8em; white-space: pre-wrap; }}
.{CSS_CLASS} .t {{ text-align: right; text-transform: uppercase; margin: .6em 0; }}
.{CSS_CLASS} .m {{ text-align: center; margin: .6em 0; }}
.{CSS_CLASS} .s {{ color: #777; font-style: italic; margin: .3em 0; }}
.{CSS_CLASS} .title {{ text-align: center; font-weight: bold; text-transform: uppercase; margin: 1em 0 2em; }}
</style>"""


# The leave-page guard (aiuteur.ui.app.LEAVE_GUARD_HEAD): unsaved editor text asks before leaving,
# and "Stay" saves it with this button.
SAVE = "aiu-save-script"


# --- pure formatting ----------------------------------------------------------------------------------


def _lines(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def scene_html(scene: Scene, opening: int = 0) -> str:
    """One scene; its first `opening` elements ("FADE IN:", sections) stand before its heading, as written."""
    heading = [f'<div class="h">{escape(scene.heading)}</div>'] if scene.heading else []
    if opening:
        return "\n".join([_elements_html(scene.elements[:opening]), *heading,
                          _elements_html(scene.elements[opening:])]).strip()
    return "\n".join([*heading, _elements_html(scene.elements)]).strip()


def _elements_html(elements: list[Any]) -> str:
    parts: list[str] = []
    speaker: tuple[str | None, str | None] | None = None
    for e in elements:
        if e.kind in (ElementKind.DIALOGUE, ElementKind.PARENTHETICAL):
            if speaker != (e.character, e.extension) or (e.kind == ElementKind.DIALOGUE and parts[-1:] and \
                    parts[-1].startswith('<div class="d">')):
                ext = f" ({escape(e.extension)})" if e.extension else ""
                parts.append(f'<div class="c">{escape(e.character or "")}{ext}</div>')
                speaker = (e.character, e.extension)
            cls = "d" if e.kind == ElementKind.DIALOGUE else "p"
            parts.append(f'<div class="{cls}">{_lines(e.text)}</div>')
            continue
        speaker = None
        if e.kind == ElementKind.ACTION:
            parts.append(f'<div class="a">{_lines(e.text)}</div>')
        elif e.kind == ElementKind.TRANSITION:  # "FADE IN:" sits at the left margin, other transitions right
            cls = "a" if e.text.strip().upper().startswith("FADE IN") else "t"
            parts.append(f'<div class="{cls}">{escape(e.text)}</div>')
        elif e.kind in (ElementKind.CENTERED, ElementKind.LYRIC):
            parts.append(f'<div class="m">{_lines(e.text)}</div>')
        elif e.kind in (ElementKind.SYNOPSIS, ElementKind.SECTION):
            parts.append(f'<div class="s">{escape(e.text)}</div>')
    return "\n".join(parts)


def script_html(script: Script | None) -> str:
    """The screenplay as HTML: heading, action, centred cue, parenthetical, dialogue."""
    if script is None or not script.scenes:
        return f'{STYLE}<div class="{CSS_CLASS}"><em>No script yet.</em></div>'
    title = f'<div class="title">{escape(script.title)}</div>' if script.title else ""
    first = opening_elements(script)
    body = "".join(scene_html(s, first if k == 0 else 0) for k, s in enumerate(script.scenes))
    return f'{STYLE}<div class="{CSS_CLASS}">{title}{body}</div>'


def parse_editor(text: str) -> Script:
    from aiuteur.screenplay import parse_fountain

    return parse_fountain(text, "editor.fountain")


def preview(text: str) -> str:
    """The rendered screenplay of the editor's Fountain, or the parser's one-line complaint."""
    if not text.strip():
        return script_html(None)
    try:
        return script_html(parse_editor(text))
    except AiuteurError as e:
        return f'{STYLE}<div class="{CSS_CLASS}"><strong>⚠️ {escape(str(e))}</strong></div>'


def scene_choices(script: Script | None) -> list[tuple[str, str]]:
    if script is None:
        return []
    return [(f"{s.number}. {s.heading or '(no heading)'}", s.id) for s in script.scenes]


def result_text(result: RunResult) -> str:
    return "✅ Done." if result.ok else "⚠️ " + " ".join(result.errors)


def selected_span(text: str, index: Any, value: str) -> tuple[int, int] | None:
    """The (start, end) in `text` of a browser selection: Gradio gives the browser's offsets, which
    count UTF-16 units (an emoji counts two); fall back to the nearest occurrence of the value."""
    if not isinstance(index, (list, tuple)) or len(index) != 2 or not value:
        return None
    start, end = int(index[0]), int(index[1])
    if text[start:end] == value:
        return start, end
    units = 0
    for i, ch in enumerate(text):  # UTF-16 offsets -> Python indexes
        if units == start:
            if text[i:i + len(value)] == value:
                return i, i + len(value)
            break
        units += 2 if ord(ch) > 0xFFFF else 1
    found = [i for i in range(len(text)) if text.startswith(value, i)]
    if not found:
        return None
    best = min(found, key=lambda i: abs(i - start))
    return best, best + len(value)


def passage_note(text: str, span: tuple[int, int] | None) -> str:
    if not span:
        return "Highlight a passage in the Fountain editor to rewrite only that passage."
    start, end = span
    words = " ".join(text[start:end].split())
    short = words if len(words) <= 90 else words[:60] + " … " + words[-25:]
    return f"Highlighted ({end - start} characters): “{escape(short)}”"


def safe_stem(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:60] or "script"


def run_streaming(runner: Runner, project_id: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Run the script stage in a thread, yielding ("progress", text), ("partial", fountain) and
    finally ("done", RunResult) or ("error", AiuteurError)."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            result = runner.run(project_id, Stage.SCRIPT, progress=lambda f, s: events.put(("progress", (f, s))),
                                on_partial=lambda text: events.put(("partial", text)), **kwargs)
            events.put(("done", result))
        except AiuteurError as e:
            events.put(("error", e))
        except Exception as e:  # never a traceback in the UI
            events.put(("error", AiuteurError(f"The script could not be written ({type(e).__name__}).")))

    threading.Thread(target=work, name="aiuteur-script", daemon=True).start()
    while True:
        kind, value = events.get()
        yield kind, value
        if kind in ("done", "error"):
            return


# --- components ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptTab:
    guidance: gr.Textbox
    generate: gr.Button
    preview: gr.HTML
    editor: gr.Code | gr.Textbox
    save: gr.Button
    scene: gr.Dropdown
    scene_guidance: gr.Textbox
    regenerate: gr.Button
    enrich: gr.Button
    export_fountain: gr.Button
    export_pdf: gr.Button
    export_fdx: gr.Button
    file: gr.File
    status: gr.Markdown
    rev: gr.State
    page: gr.Tab | None  # the surrounding tab, to write the script on the first visit
    span: gr.State | None = None  # (start, end) of the passage highlighted in the editor
    passage_note: gr.Markdown | None = None
    passage_instruction: gr.Textbox | None = None
    passage_rewrite: gr.Button | None = None



def render(env: TabEnv) -> ScriptTab:
    with gr.Row():
        guidance = gr.Textbox(label="Guidance for the whole script (optional)", scale=4)
        generate = gr.Button("Write the script", variant="primary", scale=1)
    status = gr.Markdown()
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            view = gr.HTML(script_html(None), label="Screenplay")
        with gr.Column(scale=1):
            editor = gr.Textbox(label="Fountain", lines=30, max_lines=60, buttons=["copy"], elem_id="aiu-script-editor",
                                elem_classes=form_classes(SAVE))
            save = gr.Button("Save edits", elem_id=SAVE)
            note = gr.Markdown(passage_note("", None), elem_classes=["aiu-passage-note"])
            with gr.Row(equal_height=True):
                instruction = gr.Textbox(label="Instruction for the highlighted passage",
                                         placeholder="e.g. make Mara hesitate before she answers", scale=3)
                rewrite = gr.Button("Rewrite the highlighted passage", scale=1)
    with gr.Row():
        scene = gr.Dropdown(label="Scene", choices=[], scale=2)
        scene_guidance = gr.Textbox(label="Guidance for this scene", scale=3)
        regenerate = gr.Button("Rewrite this scene", scale=1)
    with gr.Row():
        enrich = gr.Button("Enrich: make the action visually verbose (dialogue untouched)")
        export_fountain = gr.Button("Export Fountain")
        export_pdf = gr.Button("Export PDF")
        export_fdx = gr.Button("Export Final Draft (.fdx)")
    file = gr.File(label="Download", interactive=False)
    return ScriptTab(guidance, generate, view, editor, save, scene, scene_guidance, regenerate, enrich,
                     export_fountain, export_pdf, export_fdx, file, status, gr.State(0), _surrounding_tab(),
                     gr.State(None), note, instruction, rewrite)


def _load(runner: Runner, pid: str) -> tuple[Script | None, int, Status]:
    view = runner.view(pid)
    data = view.data(Stage.SCRIPT)
    return (Script.model_validate(data) if data else None), view.revision(Stage.SCRIPT), view.statuses[Stage.SCRIPT]


@dataclass(frozen=True)
class _Panel:
    """What stage 4's event groups share: the outputs, and the helpers that fill them."""

    shown: list[Any]  # the screenplay, the editor, the scene picker, the revision, the status line
    then: dict[str, Any]  # chain env.refresh after model work
    fill: Callable[..., list[Any]]  # fill(runner, pid, status="") -> the whole tab
    write: Callable[..., Iterator[list[Any]]]  # write(pid, request, only_if_empty=False, **run) -> streamed values


def listen(tab: ScriptTab, env: TabEnv) -> None:
    """Stage 4's events, by purpose: loading, writing with the model, editing by hand, exports."""
    p = _panel(tab, env)
    _listen_loading(env, p)
    _listen_writing(tab, env, p)
    _listen_editor(tab, env, p)
    _listen_exports(tab, env)


def _panel(tab: ScriptTab, env: TabEnv) -> _Panel:
    """The outputs, the fill and the streamed writing every event group of the tab shares."""
    from aiuteur.screenplay import to_fountain

    shown = [tab.preview, tab.editor, tab.scene, tab.rev, tab.status]
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str, status: str = "") -> list[Any]:
        script, rev, _ = _load(runner, pid)
        return [script_html(script), to_fountain(script) if script else "",
                gr.Dropdown(choices=scene_choices(script), value=None), rev, status]

    def write(pid: str | None, request: gr.Request, *, only_if_empty: bool = False, **kwargs: Any
              ) -> Iterator[list[Any]]:
        """Run the script stage, the script growing on screen; `only_if_empty`: only when none was written.

        It always answers at least once: Gradio ends a generator that yielded nothing with None for
        every output, and the page shows that as an empty editor (a visit to a written script blanked
        it, and a save then wrote only what was typed into the blank)."""
        if not pid:
            yield [gr.skip()] * 4 + ["Open a project first."]
            return
        runner = env.runner_for(request)
        if only_if_empty:
            script, _, status = _load(runner, pid)
            if script is not None or status == Status.SKIPPED:
                yield [gr.skip()] * len(shown)  # written already: the screen stays as it is
                return
        lines: list[str] = []
        answered = False
        for kind, value in run_streaming(runner, pid, **kwargs):
            answered = True
            if kind == "progress":
                lines.append(f"{int(value[0] * 100)}% · {value[1]}")
                yield [gr.skip()] * 4 + ["\n\n".join(lines[-3:])]
            elif kind == "partial":
                yield [preview(value), value, gr.skip(), gr.skip(), "\n\n".join(lines[-3:])]
            elif kind == "error":
                if not only_if_empty:
                    gr.Warning(str(value))
                yield fill(runner, pid, "" if only_if_empty else f"⚠️ {value}")
            else:
                yield fill(runner, pid, result_text(value))
        if not answered:
            yield fill(runner, pid)

    return _Panel(shown, then, fill, write)


def _listen_loading(env: TabEnv, p: _Panel) -> None:
    """Fill the tab when the project or branch changes."""

    def on_load(pid: str | None, request: gr.Request) -> list[Any]:
        return p.fill(env.runner_for(request), pid) if pid else [gr.skip()] * len(p.shown)

    env.on_reload(on_load, [env.project], p.shown)


def _listen_writing(tab: ScriptTab, env: TabEnv, p: _Panel) -> None:
    """Model work, on the GPU queue: the whole script (also on the first visit), one scene, enrich."""
    shown, then, write = p.shown, p.then, p.write
    gpu: dict[str, Any] = {"concurrency_id": GPU, "concurrency_limit": 1}

    def on_generate(pid: str | None, guidance: str, request: gr.Request) -> Iterator[list[Any]]:
        yield from write(pid, request, guidance=guidance)

    def on_first_visit(pid: str | None, request: gr.Request) -> Iterator[list[Any]]:
        yield from write(pid, request, only_if_empty=True)

    def on_regenerate(pid: str | None, scene_id: str | None, guidance: str, request: gr.Request
                      ) -> Iterator[list[Any]]:
        if not scene_id:
            yield [gr.skip()] * 4 + ["Pick a scene to rewrite."]
            return
        yield from write(pid, request, guidance=guidance, action=RewriteScene(scene_id=scene_id))

    def on_enrich(pid: str | None, scene_id: str | None, guidance: str, request: gr.Request) -> Iterator[list[Any]]:
        yield from write(pid, request, guidance=guidance, action=EnrichScript(scene_id=scene_id or None))

    tab.generate.click(on_generate, [env.project, tab.guidance], shown, api_name="script_generate", **gpu).then(**then)
    if tab.page is not None:
        tab.page.select(on_first_visit, [env.project], shown, api_name="script_first_visit", **gpu).then(**then)
    scene_ins = [env.project, tab.scene, tab.scene_guidance]
    tab.regenerate.click(on_regenerate, scene_ins, shown, api_name="script_regenerate_scene", **gpu).then(**then)
    tab.enrich.click(on_enrich, scene_ins, shown, api_name="script_enrich", **gpu).then(**then)


def _listen_editor(tab: ScriptTab, env: TabEnv, p: _Panel) -> None:
    """The Fountain editor: typing previews, a highlighted passage is rewritten, "Save edits" saves."""
    shown, fill = p.shown, p.fill
    # typing previews; whatever sets the editor from the server (load, write, rewrite) sets the preview too
    tab.editor.input(preview, [tab.editor], [tab.preview], api_name="script_preview", show_progress="hidden",
                     trigger_mode="always_last")
    if tab.span is not None and tab.passage_note is not None and tab.passage_rewrite is not None \
            and tab.passage_instruction is not None:
        _listen_passage(tab, env, tab.span, tab.passage_note, tab.passage_instruction, tab.passage_rewrite)

    def on_save(pid: str | None, rev: int, text: str, request: gr.Request) -> list[Any]:
        from aiuteur.pipeline.scene_ids import keep_scene_ids

        if not pid:
            return [gr.skip()] * 4 + ["Open a project first."]
        runner = env.runner_for(request)
        try:
            old, _, _ = _load(runner, pid)
            runner.save(pid, Stage.SCRIPT, keep_scene_ids(old, parse_editor(text)), base_revision=rev)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [gr.skip()] * 4 + [f"⚠️ {e}"]
        return fill(runner, pid, "Saved.")

    guard_save(tab.save.click(*with_statuses(env, on_save, [env.project, tab.rev, tab.editor], shown),
                              api_name="script_save"), SAVE, tab.status)  # saved: leaving the page no longer asks


def _listen_exports(tab: ScriptTab, env: TabEnv) -> None:
    """The script as a file to download: Fountain, PDF, Final Draft."""
    from aiuteur.screenplay import to_fountain

    def export(pid: str | None, request: gr.Request, kind: str) -> tuple[str | None, str]:
        """The script as a file to download, and a status line (what a PDF could not print)."""
        from aiuteur.screenplay import fonts, to_fdx
        from aiuteur.screenplay.pdf import render_pdf

        if not pid:
            gr.Warning("Open a project first.")
            return None, "Open a project first."
        script, _, _ = _load(env.runner_for(request), pid)
        if script is None:
            gr.Warning("There is no script to export yet.")
            return None, "There is no script to export yet."
        folder = Path(tempfile.mkdtemp(prefix="aiuteur-export-"))
        path = folder / f"{safe_stem(script.title)}.{kind}"
        note = ""
        if kind == "pdf":
            data, missing = render_pdf(script)
            path.write_bytes(data)
            note = fonts.missing_sentence(missing)
            if note:
                gr.Warning(note)
        elif kind == "fdx":
            path.write_bytes(to_fdx(script))
        else:
            path.write_text(to_fountain(script), encoding="utf-8")
        return str(path), f"⚠️ {note}" if note else f"Exported {path.name}."

    def on_fountain(pid: str | None, request: gr.Request) -> tuple[str | None, str]:
        return export(pid, request, "fountain")

    def on_pdf(pid: str | None, request: gr.Request) -> tuple[str | None, str]:
        return export(pid, request, "pdf")

    def on_fdx(pid: str | None, request: gr.Request) -> tuple[str | None, str]:
        return export(pid, request, "fdx")

    files = [tab.file, tab.status]
    tab.export_fountain.click(on_fountain, [env.project], files, api_name="script_export_fountain")
    tab.export_pdf.click(on_pdf, [env.project], files, api_name="script_export_pdf")
    tab.export_fdx.click(on_fdx, [env.project], files, api_name="script_export_fdx")


def _listen_passage(tab: ScriptTab, env: TabEnv, span: gr.State, note: gr.Markdown, instruction: gr.Textbox,
                    rewrite: gr.Button) -> None:
    """Highlight a passage in the editor, give an instruction: only that passage is rewritten."""
    def on_select(text: str, evt: gr.SelectData) -> tuple[Any, str]:
        picked = selected_span(text or "", evt.index, str(evt.value or ""))
        return picked, passage_note(text or "", picked)

    if not isinstance(tab.editor, gr.Textbox):  # a code editor gives no selection event
        return
    tab.editor.select(on_select, [tab.editor], [span, note], api_visibility="private", show_progress="hidden")
    # typing moves the text under a remembered selection: forget it
    tab.editor.input(lambda: (None, passage_note("", None)), None, [span, note], api_visibility="private",
                     show_progress="hidden")

    tracker = gr.Progress()  # Gradio swaps in each event's own tracker

    def on_rewrite(pid: str | None, text: str, picked: Any, how: str, request: gr.Request,
                   progress: gr.Progress = tracker) -> list[Any]:
        if not pid:
            return [gr.skip(), gr.skip(), gr.skip(), "Open a project first."]
        if not picked:
            return [gr.skip(), gr.skip(), gr.skip(), passage_note("", None)]
        progress(0.1, desc="Rewriting the highlighted passage")
        try:
            out = env.runner_for(request).rewrite_passage(pid, Stage.SCRIPT, text or "", int(picked[0]),
                                                          int(picked[1]), how or "")
        except AiuteurError as e:
            gr.Warning(str(e))
            return [gr.skip(), gr.skip(), gr.skip(), f"⚠️ {e}"]
        return [out.text, preview(out.text), (out.start, out.end),
                f"Rewrote the highlighted passage ({out.end - out.start} characters now); the rest is unchanged. "
                "Read it, then **Save edits**."]

    rewrite.click(on_rewrite, [env.project, tab.editor, span, instruction], [tab.editor, tab.preview, span, note],
                  api_name="script_rewrite_passage", concurrency_id=GPU, concurrency_limit=1).success(
        None, js=mark_js(SAVE))  # the rewritten text is not saved yet
