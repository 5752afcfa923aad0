"""Project shell panel: the written style capsule (the project's writing voice) and custom prompts.

Written style capsules (example prose and dialogue) shape script and dialogue writing only; the
library is shared by the user's projects. Custom prompts: any template in `prompts/` can be seen,
overridden for this project, and reset; every take records which text made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, ConflictError, InputError, NotFoundError, Stage, StoryInput
from aiuteur.pipeline import capsules, custom_prompts
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import TabEnv

NO_CAPSULE = "__none__"


@dataclass(frozen=True)
class WritingPanel:
    capsule: gr.Dropdown
    use_capsule: gr.Button
    cap_name: gr.Textbox
    cap_prose: gr.Textbox
    cap_dialogue: gr.Textbox
    cap_create: gr.Button
    cap_update: gr.Button
    cap_delete: gr.Button
    template: gr.Dropdown
    template_text: gr.Textbox
    template_vars: gr.Markdown
    save_override: gr.Button
    reset_override: gr.Button
    message: gr.Markdown
    shown: gr.State  # the writing voice this panel showed: a choice over someone else's newer one is refused
    capsule_seen: gr.State  # {"id", "revision"} of the capsule whose text the panel showed
    template_seen: gr.State  # {"role", "text"} of the prompt template the panel showed


# --- pure helpers (tested without a browser) ------------------------------------------------


def capsule_choices(runner: Runner) -> list[tuple[str, str]]:
    return [("No capsule (the model's own voice)", NO_CAPSULE)] + [
        (c.name, c.id) for c in capsules.list_capsules(runner.capsules)]


def project_capsule(runner: Runner, project_id: str) -> str:
    data = runner.view(project_id).data(Stage.INPUT) or {}
    return data.get("written_style_capsule") or NO_CAPSULE


def use_capsule(runner: Runner, project_id: str, capsule_id: str | None, seen: str | None = None) -> str:
    """Make a capsule (or none) this project's writing voice; saved in the input stage.

    `seen` is the voice the user saw (None or NO_CAPSULE: none): if someone chose another since,
    nothing is saved. Only this field changes, from the input revision read here, so a story edit
    saved meanwhile is never replaced."""
    view = runner.view(project_id)
    story = StoryInput.model_validate(view.data(Stage.INPUT) or {})
    now = story.written_style_capsule or NO_CAPSULE
    if now != (seen or NO_CAPSULE):
        name = "no capsule" if now == NO_CAPSULE else f"“{_capsule_name(runner, now)}”"
        raise ConflictError(f"The writing voice was changed by someone else since you opened it (now {name}); "
                            "nothing was saved. Reload the project and choose again.", yours=capsule_id)
    chosen = None if capsule_id in (None, "", NO_CAPSULE) else capsule_id
    if chosen is not None:
        try:
            capsules.get_capsule(chosen, runner.capsules)
        except NotFoundError:
            raise InputError("That capsule is not in your library.") from None
    runner.save(project_id, Stage.INPUT, story.model_copy(update={"written_style_capsule": chosen}),
                base_revision=view.revision(Stage.INPUT))
    return "The script will be written without a capsule." if chosen is None else \
        f"Scenes and dialogue will be written in the voice of “{capsules.get_capsule(chosen, runner.capsules).name}”."


def _capsule_name(runner: Runner, capsule_id: str) -> str:
    try:
        return capsules.get_capsule(capsule_id, runner.capsules).name
    except AiuteurError:
        return capsule_id


def capsule_seen(runner: Runner, capsule_id: str | None) -> dict[str, Any] | None:
    """What the panel shows of a capsule, to change it from: its id and revision (None: none)."""
    if capsule_id in (None, "", NO_CAPSULE):
        return None
    try:
        cap = capsules.get_capsule(str(capsule_id), runner.capsules)
    except AiuteurError:
        return None
    return {"id": cap.id, "revision": cap.revision}


def seen_revision(capsule_id: str, seen: Any) -> int:
    """The revision of `capsule_id` the panel showed; refused when it showed another capsule."""
    if not isinstance(seen, dict) or seen.get("id") != capsule_id:
        raise InputError("Pick the capsule in the list first, so its text is on screen, then change it.")
    return int(seen["revision"])


def template_seen(runner: Runner, project_id: str, stage_role: str, seen: Any) -> str:
    """The text of `stage_role` the panel showed; refused when it showed another template."""
    if not isinstance(seen, dict) or seen.get("role") != stage_role:
        raise InputError(f"Open the template {stage_role} first (choose it in the list), then change it.")
    return str(seen["text"])


def template_choices(runner: Runner, project_id: str) -> list[tuple[str, str]]:
    return [(f"{p.stage_role}{' • overridden' if p.overridden else ''}", p.stage_role)
            for p in custom_prompts.list_prompts(runner.view(project_id).project)]


def template_view(runner: Runner, project_id: str, stage_role: str) -> tuple[str, str]:
    """(text this project uses, a line on the variables an override may use)."""
    project = runner.view(project_id).project
    info = next((p for p in custom_prompts.list_prompts(project) if p.stage_role == stage_role), None)
    if info is None:
        raise InputError(f"No prompt template {stage_role!r}.")
    names = ", ".join(f"`${v}`" for v in info.variables) or "none"
    state = "**overridden for this project**" if info.overridden else f"default `{info.default_id}`"
    return custom_prompts.view(project, stage_role), f"{state} · variables it may use: {names}"


# --- layout and events ----------------------------------------------------------------------


def render() -> WritingPanel:
    with gr.Accordion("Writing voice and custom prompts", open=False):
        gr.Markdown("A **written style capsule** (example prose and dialogue) shapes how scenes and dialogue "
                    "are written — never treatments or images. Your capsules are shared by your projects.")
        with gr.Row(equal_height=True):
            capsule = gr.Dropdown(label="Writing voice of this project", choices=[], scale=3)
            use = gr.Button("Use for this project", size="sm", scale=0, min_width=160)
        with gr.Accordion("Create or edit a capsule", open=False):
            cap_name = gr.Textbox(label="Name", max_length=120)
            cap_prose = gr.Textbox(label="Example prose", lines=4, max_length=20_000)
            cap_dialogue = gr.Textbox(label="Example dialogue", lines=4, max_length=20_000)
            with gr.Row():
                cap_create = gr.Button("Save as a new capsule", size="sm")
                cap_update = gr.Button("Update the chosen capsule", size="sm")
                cap_delete = gr.Button("Delete the chosen capsule", size="sm", variant="stop")
        gr.Markdown("**Custom prompts**: see and change the instructions the models get at each stage, for "
                    "this project only. Takes record which text made them.")
        template = gr.Dropdown(label="Template", choices=[])
        template_vars = gr.Markdown()
        template_text = gr.Textbox(label="Text used by this project", lines=10)
        with gr.Row():
            save_override = gr.Button("Save for this project", size="sm")
            reset_override = gr.Button("Reset to default", size="sm")
        message = gr.Markdown()
    return WritingPanel(capsule, use, cap_name, cap_prose, cap_dialogue, cap_create, cap_update, cap_delete,
                        template, template_text, template_vars, save_override, reset_override, message,
                        gr.State(None), gr.State(None), gr.State(None))


def _fail(e: AiuteurError) -> str:
    """A refusal as the panel's message line."""
    return f"⚠️ {e}"


def _mine(runner: Runner, capsule_id: str | None) -> str:
    """The capsule's id when it is in this user's library; else one sentence saying what to do."""
    if capsule_id in (None, "", NO_CAPSULE):
        raise InputError("Choose a capsule in the list first.")
    try:
        return capsules.get_capsule(str(capsule_id), runner.capsules).id
    except NotFoundError:
        raise InputError("That capsule is not in your library.") from None


def listen(p: WritingPanel, env: TabEnv) -> None:
    """The writing voice and prompt templates, by purpose: loading, the project's capsule, the
    capsule library, the prompt templates."""
    _listen_loading(p, env)
    _listen_project_voice(p, env)
    _listen_library(p, env)
    _listen_templates(p, env)


def _listen_loading(p: WritingPanel, env: TabEnv) -> None:
    """Fill the panel when the project opens."""

    def on_load(pid: str | None, request: gr.Request) -> tuple[Any, Any, Any, Any, Any]:
        if not pid:
            return gr.Dropdown(choices=[], value=None), gr.Dropdown(choices=[], value=None), None, None, None
        runner = env.runner_for(request)
        now = project_capsule(runner, pid)
        return (gr.Dropdown(choices=capsule_choices(runner), value=now),
                gr.Dropdown(choices=template_choices(runner, pid), value=None), now, capsule_seen(runner, now), None)

    env.on_reload(on_load, [env.project], [p.capsule, p.template, p.shown, p.capsule_seen, p.template_seen])


def _listen_project_voice(p: WritingPanel, env: TabEnv) -> None:
    """The capsule this project writes with: pick one to see it, use it."""

    def on_use(pid: str, capsule_id: str | None, seen: str | None, request: gr.Request) -> tuple[str, Any]:
        try:
            said = use_capsule(env.runner_for(request), pid, capsule_id, seen)
        except AiuteurError as e:  # a conflict keeps the user's choice in the dropdown
            return _fail(e), gr.skip()
        return said, capsule_id or NO_CAPSULE

    p.use_capsule.click(on_use, [env.project, p.capsule, p.shown], [p.message, p.shown],
                        api_name="use_written_capsule")

    def on_pick_capsule(capsule_id: str | None, request: gr.Request) -> tuple[Any, Any, Any, Any]:
        if capsule_id in (None, "", NO_CAPSULE):
            return "", "", "", None
        try:
            cap = capsules.get_capsule(str(capsule_id), env.runner_for(request).capsules)
        except AiuteurError:
            return "", "", "", None
        return cap.name, cap.example_prose, cap.example_dialogue, {"id": cap.id, "revision": cap.revision}

    p.capsule.input(on_pick_capsule, [p.capsule], [p.cap_name, p.cap_prose, p.cap_dialogue, p.capsule_seen],
                    api_name="pick_written_capsule")


def _listen_library(p: WritingPanel, env: TabEnv) -> None:
    """The user's capsule library: create, update, delete."""

    def on_create(name: str, prose: str, dialogue: str, request: gr.Request) -> tuple[Any, str, Any]:
        runner = env.runner_for(request)
        try:  # a new capsule replaces nothing: no revision to check
            cap = capsules.create_capsule(name or "", prose or "", dialogue or "", runner.capsules)
        except AiuteurError as e:
            return gr.skip(), _fail(e), gr.skip()
        return (gr.Dropdown(choices=capsule_choices(runner), value=cap.id), f"Capsule “{cap.name}” saved.",
                {"id": cap.id, "revision": cap.revision})

    p.cap_create.click(on_create, [p.cap_name, p.cap_prose, p.cap_dialogue], [p.capsule, p.message, p.capsule_seen],
                       api_name="create_written_capsule")

    def on_update(capsule_id: str | None, name: str, prose: str, dialogue: str, seen: Any,
                  request: gr.Request) -> tuple[Any, str, Any]:
        runner = env.runner_for(request)
        try:  # a refusal leaves the typed name and examples in their boxes
            mine = _mine(runner, capsule_id)
            cap = capsules.update_capsule(mine, name=name, example_prose=prose, example_dialogue=dialogue,
                                          library=runner.capsules, base_revision=seen_revision(mine, seen))
        except AiuteurError as e:
            return gr.skip(), _fail(e), gr.skip()
        return (gr.Dropdown(choices=capsule_choices(runner), value=cap.id), f"Capsule “{cap.name}” updated.",
                {"id": cap.id, "revision": cap.revision})

    p.cap_update.click(on_update, [p.capsule, p.cap_name, p.cap_prose, p.cap_dialogue, p.capsule_seen],
                       [p.capsule, p.message, p.capsule_seen], api_name="update_written_capsule")

    def on_delete(capsule_id: str | None, seen: Any, request: gr.Request) -> tuple[Any, str, Any]:
        runner = env.runner_for(request)
        try:
            mine = _mine(runner, capsule_id)
            capsules.delete_capsule(mine, runner.capsules, seen_revision(mine, seen))
        except AiuteurError as e:
            return gr.skip(), _fail(e), gr.skip()
        return gr.Dropdown(choices=capsule_choices(runner), value=NO_CAPSULE), "Capsule deleted.", None

    p.cap_delete.click(on_delete, [p.capsule, p.capsule_seen], [p.capsule, p.message, p.capsule_seen],
                       api_name="delete_written_capsule")


def _listen_templates(p: WritingPanel, env: TabEnv) -> None:
    """The project's prompt templates: view one, save your text over it, reset it."""

    def on_template(pid: str, stage_role: str | None, request: gr.Request) -> tuple[str, str, Any]:
        if not stage_role:
            return "", "", None
        try:
            text, variables = template_view(env.runner_for(request), pid, stage_role)
        except AiuteurError as e:
            return "", _fail(e), None
        return text, variables, {"role": stage_role, "text": text}

    p.template.input(on_template, [env.project, p.template], [p.template_text, p.template_vars, p.template_seen],
                     api_name="view_prompt_template")

    def on_override(pid: str, stage_role: str | None, text: str, seen: Any,
                    request: gr.Request) -> tuple[Any, str, Any]:
        runner = env.runner_for(request)
        try:  # a refusal leaves the user's text in the box
            if not stage_role:
                raise InputError("Choose a template first.")
            runner.set_prompt_override(pid, stage_role, text or "", seen=template_seen(runner, pid, stage_role, seen))
        except AiuteurError as e:
            return gr.skip(), _fail(e), gr.skip()
        return (gr.Dropdown(choices=template_choices(runner, pid), value=stage_role),
                f"This project now uses your text for {stage_role}.",
                {"role": stage_role, "text": custom_prompts.view(runner.view(pid).project, stage_role)})

    p.save_override.click(on_override, [env.project, p.template, p.template_text, p.template_seen],
                          [p.template, p.message, p.template_seen], api_name="override_prompt")

    def on_reset(pid: str, stage_role: str | None, seen: Any, request: gr.Request) -> tuple[Any, Any, str, Any]:
        runner = env.runner_for(request)
        try:
            if not stage_role:
                raise InputError("Choose a template first.")
            runner.set_prompt_override(pid, stage_role, None, seen=template_seen(runner, pid, stage_role, seen))
            text, _ = template_view(runner, pid, stage_role)
        except AiuteurError as e:
            return gr.skip(), gr.skip(), _fail(e), gr.skip()
        return (gr.Dropdown(choices=template_choices(runner, pid), value=stage_role), text,
                f"{stage_role} is back to its default.", {"role": stage_role, "text": text})

    p.reset_override.click(on_reset, [env.project, p.template, p.template_seen],
                           [p.template, p.template_text, p.message, p.template_seen], api_name="reset_prompt")
