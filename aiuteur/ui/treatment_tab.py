"""Stage 2 tab, treatment: the three variants side by side; choose, edit, regenerate all or one.

Each variant has its own guidance box beside its "Regenerate this" button; "Regenerate all" has
one too. Handlers are thin: they call the runner and format through the pure functions below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, Stage, Treatment, TreatmentVariant
from aiuteur.pipeline.actions import Action, RewriteVariant
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.stage import RunResult
from aiuteur.ui.tab_api import GPU, TabEnv, form_classes, gate_on_skipped, guard_save, mark_js, with_statuses

N = 3
SAVE = "aiu-save-treatment"  # the leave guard: typed titles, loglines and prose are unsaved until saved


# --- pure formatting -------------------------------------------------------------------------------


def variant_values(treatment: Treatment | None) -> list[str]:
    """title, logline, prose for each of the three variants (empty strings when none yet)."""
    out: list[str] = []
    for i in range(N):
        v = treatment.variants[i] if treatment else None
        out += [v.title, v.logline, v.prose] if v else ["", "", ""]
    return out


def chosen_text(treatment: Treatment | None) -> str:
    if treatment is None:
        return "No treatments yet: press **Write three treatments**."
    if treatment.chosen is None:
        head = "Choose the treatment the beats will be made from."
    else:
        head = f"✅ Treatment {treatment.chosen + 1} is chosen: *{treatment.variants[treatment.chosen].title}*."
    angles = [f"{i + 1}: {v.angle}" for i, v in enumerate(treatment.variants) if v.angle]
    lines = [head, *(["Angles — " + "; ".join(angles) + "."] if angles else [])]
    lines += [f"⚠️ Treatment {i + 1} is weak (kept after every try; rewrite it or edit it): {v.weak}"
              for i, v in enumerate(treatment.variants) if v.weak]
    return "\n\n".join(lines)


def edited(saved: Treatment, values: list[str], chosen: int | None) -> Treatment:
    """The saved treatment with the edited texts (and the choice) applied; a weak mark stays
    until the filmmaker changes that variant's prose."""
    variants = []
    for i in range(N):
        old = saved.variants[i]
        prose = values[3 * i + 2]
        variants.append(TreatmentVariant(title=values[3 * i].strip() or f"Treatment {i + 1}", logline=values[3 * i + 1],
                                         prose=prose, angle=old.angle, weak=old.weak if prose == old.prose else ""))
    return saved.model_copy(update={"variants": variants, "chosen": chosen})


def result_text(result: RunResult) -> str:
    notes = "".join(f" ⚠️ {n}" for n in result.notes)
    return ("✅ Written." + notes) if result.ok else "⚠️ " + " ".join(result.errors)


def load(runner: Runner, project_id: str) -> tuple[Treatment | None, int]:
    view = runner.view(project_id)
    data = view.data(Stage.TREATMENT)
    return (Treatment.model_validate(data) if data else None), view.revision(Stage.TREATMENT)


# --- components ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantColumn:
    title: gr.Textbox
    logline: gr.Textbox
    prose: gr.Textbox
    choose: gr.Button
    guidance: gr.Textbox
    regenerate: gr.Button
    span: gr.State | None = None  # (start, end) of the passage highlighted in the prose
    passage_note: gr.Markdown | None = None
    passage_instruction: gr.Textbox | None = None
    passage_rewrite: gr.Button | None = None


@dataclass(frozen=True)
class TreatmentTab:
    chosen: gr.Markdown
    guidance: gr.Textbox
    generate: gr.Button
    save: gr.Button
    status: gr.Markdown
    rev: gr.State
    columns: list[VariantColumn]

    @property
    def fields(self) -> list[gr.Textbox]:
        return [f for c in self.columns for f in (c.title, c.logline, c.prose)]


def render(env: TabEnv) -> TreatmentTab:
    chosen = gr.Markdown(chosen_text(None))
    with gr.Row():
        guidance = gr.Textbox(label="Guidance for all three (optional)", scale=4,
                              placeholder="e.g. darker ending, more humour, keep the grandmother alive")
        generate = gr.Button("Write three treatments", variant="primary", scale=1)
    columns = []
    with gr.Row(equal_height=False):
        for i in range(N):
            with gr.Column():
                title = gr.Textbox(label=f"Treatment {i + 1}: title", max_lines=1, elem_classes=form_classes(SAVE))
                logline = gr.Textbox(label="Logline", lines=2, elem_classes=form_classes(SAVE))
                prose = gr.Textbox(label="Prose", lines=16, elem_classes=form_classes(SAVE))
                choose = gr.Button(f"Choose treatment {i + 1}")
                with gr.Row():
                    g = gr.Textbox(label="Guidance for this one", scale=3, placeholder="what to change")
                    regen = gr.Button("Regenerate this", scale=1)
                note = gr.Markdown("Highlight a passage of the prose to rewrite only that passage.")
                with gr.Row():
                    how = gr.Textbox(label="Instruction for the highlighted prose", scale=3,
                                     placeholder="e.g. make this darker")
                    rewrite = gr.Button("Rewrite it", scale=1)
                columns.append(VariantColumn(title, logline, prose, choose, g, regen, gr.State(None), note, how,
                                             rewrite))
    save = gr.Button("Save edits", elem_id=SAVE)
    status = gr.Markdown()
    return TreatmentTab(chosen, guidance, generate, save, status, gr.State(0), columns)


@dataclass(frozen=True)
class _Columns:
    """What stage 2's event groups share: the outputs, and the helper that fills them."""

    shown: list[Any]  # the three variants' fields, the chosen line, the revision (the status line follows)
    then: dict[str, Any]  # chain env.refresh after model work
    fill: Callable[..., list[Any]]  # fill(runner, pid) -> the shown values


def listen(tab: TreatmentTab, env: TabEnv) -> None:
    """Stage 2's events, by purpose: loading, model work, choosing and saving, one passage rewritten."""
    c = _columns(tab, env)
    _listen_loading(tab, env, c)
    _listen_model_work(tab, env, c)
    _listen_edits(tab, env, c)
    _listen_passages(tab, env)


def _columns(tab: TreatmentTab, env: TabEnv) -> _Columns:
    """The outputs and the fill every event group of the tab shares."""
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str) -> list[Any]:
        t, rev = load(runner, pid)
        return [*variant_values(t), chosen_text(t), rev]

    return _Columns([*tab.fields, tab.chosen, tab.rev], then, fill)


def _listen_loading(tab: TreatmentTab, env: TabEnv, c: _Columns) -> None:
    """Fill the tab when the project opens; the write button is off while the stage is skipped."""
    def on_load(pid: str | None, request: gr.Request) -> list[Any]:
        return c.fill(env.runner_for(request), pid) if pid else [gr.skip()] * len(c.shown)

    gate_on_skipped(env, [tab.generate])  # a skipped stage has nothing to write
    env.on_reload(on_load, [env.project], c.shown)


def _listen_model_work(tab: TreatmentTab, env: TabEnv, c: _Columns) -> None:
    """Model work, on the GPU queue: all three treatments, or one again with its guidance."""
    shown, then, fill = c.shown, c.then, c.fill

    def run(pid: str | None, request: gr.Request, *, guidance: str, action: Action | None = None) -> list[Any]:
        if not pid:
            return [gr.skip()] * len(shown) + ["Open a project first."]
        runner = env.runner_for(request)
        try:
            result = runner.run(pid, Stage.TREATMENT, action=action, guidance=guidance)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [*fill(runner, pid), f"⚠️ {e}"]
        return [*fill(runner, pid), result_text(result)]

    def on_generate(pid: str | None, guidance: str, request: gr.Request) -> list[Any]:
        return run(pid, request, guidance=guidance)

    gpu: dict[str, Any] = {"concurrency_id": GPU, "concurrency_limit": 1}
    tab.generate.click(on_generate, [env.project, tab.guidance], [*shown, tab.status], api_name="treatment_generate",
                       **gpu).then(**then)
    for i, col in enumerate(tab.columns):
        def on_regenerate(pid: str | None, guidance: str, request: gr.Request, i: int = i) -> list[Any]:
            return run(pid, request, guidance=guidance, action=RewriteVariant(index=i))

        col.regenerate.click(on_regenerate, [env.project, col.guidance], [*shown, tab.status],
                             api_name=f"treatment_variant_{i + 1}", **gpu).then(**then)


def _listen_edits(tab: TreatmentTab, env: TabEnv, c: _Columns) -> None:
    """Choose a treatment or save the edits: the three columns go as one form (nothing typed in
    another column is lost), one event that answers with the statuses."""
    shown, fill = c.shown, c.fill
    form: set[gr.blocks.Block] = {env.project, tab.rev, *tab.fields}

    def save(values: dict[Any, Any], request: gr.Request, chosen: int | str | None = "keep") -> list[Any]:
        pid, rev = values[env.project], values[tab.rev]
        if not pid:
            return [gr.skip()] * len(shown) + ["Open a project first."]
        runner = env.runner_for(request)
        saved, _ = load(runner, pid)
        if saved is None:
            return [gr.skip()] * len(shown) + ["Write the treatments first."]
        texts = [values[f] for f in tab.fields]
        choice = saved.chosen if chosen == "keep" else chosen
        try:
            runner.save(pid, Stage.TREATMENT, edited(saved, texts, choice if isinstance(choice, int) else None),
                        base_revision=rev)
        except AiuteurError as e:
            gr.Warning(str(e))
            return [gr.skip()] * len(shown) + [f"⚠️ {e}"]
        return [*fill(runner, pid), "Saved."]

    for i, col in enumerate(tab.columns):
        def on_choose(values: dict[Any, Any], request: gr.Request, i: int = i) -> list[Any]:
            return save(values, request, i)

        guard_save(col.choose.click(*with_statuses(env, on_choose, form, [*shown, tab.status]),
                                    api_name=f"treatment_choose_{i + 1}"), SAVE, tab.status)

    def on_save(values: dict[Any, Any], request: gr.Request) -> list[Any]:
        return save(values, request)

    guard_save(tab.save.click(*with_statuses(env, on_save, form, [*shown, tab.status]), api_name="treatment_save"),
               SAVE, tab.status)


def _listen_passages(tab: TreatmentTab, env: TabEnv) -> None:
    """Highlight a passage of one treatment's prose and give an instruction: only it is rewritten."""
    from aiuteur.ui.script_tab import passage_note, selected_span

    for col in tab.columns:
        if col.span is None or col.passage_note is None or col.passage_instruction is None \
                or col.passage_rewrite is None:
            continue

        def on_select(text: str, evt: gr.SelectData) -> tuple[Any, str]:
            picked = selected_span(text or "", evt.index, str(evt.value or ""))
            return picked, passage_note(text or "", picked)

        col.prose.select(on_select, [col.prose], [col.span, col.passage_note], api_visibility="private",
                         show_progress="hidden")
        col.prose.input(lambda: (None, passage_note("", None)), None, [col.span, col.passage_note],
                        api_visibility="private", show_progress="hidden")

        def on_rewrite(pid: str | None, text: str, picked: Any, how: str, request: gr.Request) -> list[Any]:
            if not pid:
                return [gr.skip(), gr.skip(), "Open a project first."]
            if not picked:
                return [gr.skip(), gr.skip(), passage_note("", None)]
            try:
                out = env.runner_for(request).rewrite_passage(pid, Stage.TREATMENT, text or "",
                                                              int(picked[0]), int(picked[1]), how or "")
            except AiuteurError as e:
                gr.Warning(str(e))
                return [gr.skip(), gr.skip(), f"⚠️ {e}"]
            return [out.text, (out.start, out.end),
                    "Rewrote the highlighted passage; the rest is unchanged. Read it, then **Save edits**."]

        col.passage_rewrite.click(on_rewrite, [env.project, col.prose, col.span, col.passage_instruction],
                                  [col.prose, col.span, col.passage_note], api_visibility="private",
                                  concurrency_id=GPU, concurrency_limit=1).success(None, js=mark_js(SAVE))

