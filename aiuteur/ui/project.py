"""The project shell: title, branches, scene, pipeline graphic, and one tab per stage.

Every stage tab sits under a lock bar (status in words, "Lock") and, when the stage is locked,
a lock overlay: a banner above and a hatched read-only cover over the tab's content, with
"Unlock…". When unlocking would reopen approved work downstream, the runner's question is shown
as is with two answers: unlock in a new branch, or unlock here.

What the page shows of a bar follows two HTML values, through CSS (`views.css`): the overlay's
banner (present only while the stage is locked: the Lock button hides, the overlay column with
"Unlock…" and the read-only cover show) and the question (present only while one is asked: its
answers show). No save, lock, open or scene switch sends a button or a column: each of those makes
Gradio's page search its whole tree again and revisit every component inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import STAGE_ORDER, AiuteurError, NeedsChoiceError, Position, Stage, Status
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.work import ProjectView, SeenStage
from aiuteur.ui import backups, views, writing_style
from aiuteur.ui.tab_api import TabEnv, load_tab_module, loader_outputs, not_built_text, run_loaders

RunnerFor = Callable[[gr.Request | None], Runner]

# --- handlers (no Gradio) -------------------------------------------------------------------


def stage_status(view: ProjectView, stage: Stage, scene_id: str | None) -> Status:
    """A stage's status for the chosen scene (per-scene stages), else for the project."""
    if stage.per_scene and scene_id and scene_id in view.state.scene_ids:
        return view.scene_statuses(scene_id)[stage]
    return view.statuses[stage]


def seen_stage(value: Any) -> SeenStage | None:
    """What a lock bar showed of its stage (its state, filled with the statuses), or None."""
    if not isinstance(value, dict):
        return None
    try:
        return SeenStage(str(value["branch"]), int(value["revision"]), bool(value["locked"]))
    except (KeyError, TypeError, ValueError):
        return None


def lock_stage(runner: Runner, project_id: str, stage: Stage, scene_id: str | None,
               seen: SeenStage | None = None) -> str:
    """Lock a stage; a refusal raises LockError (or ConflictError) whose message is shown as is."""
    runner.lock(project_id, stage, scene_id if stage.per_scene else None, seen=seen)
    return f"🔒 {stage.title} is locked."


@dataclass(frozen=True)
class UnlockOutcome:
    message: str
    question: str = ""  # set when the user must choose: new branch or here
    new_branch: str = ""


def unlock_stage(runner: Runner, project_id: str, stage: Stage, scene_id: str | None,
                 mode: str | None = None, seen: SeenStage | None = None) -> UnlockOutcome:
    """Unlock; when locked work is downstream and no mode is given, return the runner's question."""
    try:
        branch = runner.unlock(project_id, stage, scene_id if stage.per_scene else None, mode=mode, seen=seen)
    except NeedsChoiceError as e:
        return UnlockOutcome(message="", question=str(e))
    if mode == "branch":
        return UnlockOutcome(f"Unlocked {stage.title} in the new branch “{branch.name}”; the approved "
                             "version stays intact on the branch you came from.", new_branch=branch.id)
    return UnlockOutcome(f"🔓 {stage.title} is unlocked.")


def shown_of(view: ProjectView) -> dict[str, Any]:
    """What the shell shows that a rename or a branch switch acts on: the title, the branch, the names."""
    return {"title": view.project.title, "branch": view.branch.id, "names": {b.id: b.name for b in view.branches}}


def shell_values(view: ProjectView, scene_id: str | None) -> dict[str, Any]:
    """Title, branch and scene choices of the shell for one view (pure)."""
    scene_ok = scene_id if scene_id in view.state.scene_ids else None
    return {
        "title": f"# {view.project.title}",
        "branches": views.branch_choices(view.branches),
        "branch": view.branch.id,
        "scenes": views.scene_choices(view.state.scenes),
        "scene": scene_ok,
        "stage": view.position.stage,
    }


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageBar:
    stage: Stage
    status: gr.Markdown
    message: gr.Markdown
    lock: gr.Button
    overlay: gr.Column
    overlay_html: gr.HTML
    unlock: gr.Button
    choice: gr.Column
    choice_text: gr.HTML
    unlock_branch: gr.Button
    unlock_here: gr.Button
    cancel: gr.Button
    content: gr.Column
    tab: gr.Tab
    seen: gr.State  # what the bar showed of the stage (branch, revision, locked): locks act on that only


@dataclass(frozen=True)
class Shell:
    env: TabEnv
    reload: gr.State
    scene_reload: gr.State
    title: gr.Markdown
    back: gr.Button
    new_title: gr.Textbox
    rename: gr.Button
    branch: gr.Dropdown
    branch_name: gr.Textbox
    rename_branch: gr.Button
    scene_pick: gr.Dropdown
    pipeline: gr.HTML
    notice: gr.Markdown
    tabs: gr.Tabs
    bars: dict[Stage, StageBar]
    tab_parts: dict[Stage, tuple[Any, Any]]  # stage -> (module, what its render returned)
    load_fn: Callable[..., dict[Any, Any]]
    load_outputs: set[Any]
    shown: gr.State  # the title and branches this screen showed: renames and switches act on that only
    backups: backups.BackupsPanel | None = None
    writing: writing_style.WritingPanel | None = None


def _render_bar(stage: Stage) -> tuple[gr.Markdown, gr.Markdown, gr.Button, gr.Column, gr.HTML, gr.Button,
                                       gr.Column, gr.HTML, gr.Button, gr.Button, gr.Button]:
    # the Lock button, the overlay column and the question's answers show and hide by CSS, following
    # the overlay's banner and the question (see the module's docstring)
    with gr.Row(equal_height=True):
        status = gr.Markdown(views.status_text(stage, Status.EMPTY))
        lock = gr.Button("🔒 Lock", size="sm", scale=0, min_width=90, elem_classes=["aiu-lock"])
    message = gr.Markdown()
    with gr.Column(elem_classes=["aiu-overlay-col"]) as overlay:
        overlay_html = gr.HTML("")
        unlock = gr.Button("🔓 Unlock…", size="sm")
    with gr.Column(elem_classes=["aiu-choice"]) as choice:
        choice_text = gr.HTML("")
        with gr.Row():
            unlock_branch = gr.Button("Unlock in a new branch", variant="primary", size="sm")
            unlock_here = gr.Button("Unlock here", size="sm")
            cancel = gr.Button("Cancel", size="sm")
    return status, message, lock, overlay, overlay_html, unlock, choice, choice_text, unlock_branch, unlock_here, cancel


def render(runner_for: RunnerFor, project: gr.State, scene: gr.State, stage_tabs: dict[Stage, str]) -> Shell:
    with gr.Row(equal_height=True):
        title = gr.Markdown("# Project")
        back = gr.Button("← All projects", size="sm", scale=0, min_width=140)
    with gr.Accordion("Project, branch and scene", open=False), gr.Row(equal_height=True):
        new_title = gr.Textbox(label="Rename project", scale=2)
        rename = gr.Button("Rename", scale=0, min_width=90)
        branch = gr.Dropdown(label="Branch", choices=[], scale=2)
        branch_name = gr.Textbox(label="Rename branch", scale=2)
        rename_branch = gr.Button("Rename branch", scale=0, min_width=120)
    backups_panel = backups.render()
    writing_panel = writing_style.render()
    scene_pick = gr.Dropdown(label="Scene (Phase B stages work on one scene)", choices=[], visible=False)
    pipeline = gr.HTML(js_on_load=views.CHIP_CLICK_JS)
    gr.HTML(views.legend_html())
    notice = gr.Markdown()
    shown = gr.State(None)
    reload = gr.State("")  # project or branch changed: every tab reloads
    scene_reload = gr.State("")  # ... or the scene changed: the per-scene tabs (6-12) reload

    bars: dict[Stage, StageBar] = {}
    outputs: list[Any] = [pipeline]
    refresh = _statuses(runner_for, bars, outputs)

    env = TabEnv(runner_for=runner_for, project=project, scene=scene, reload=reload, pipeline=pipeline,
                 refresh_outputs=outputs, refresh=refresh, scene_reload=scene_reload, scene_pick=scene_pick)
    tab_parts: dict[Stage, tuple[Any, Any]] = {}
    with gr.Tabs(overflow_behavior="wrap") as tabs:  # all twelve stages one click away at any width
        for stage in STAGE_ORDER:
            with gr.Tab(f"{stage.number}. {stage.title}", id=stage.value, elem_classes=["aiu-stage"]) as tab:
                # inside the tab: a component made directly under gr.Tabs counts as a tab there,
                # and the tab bar shifted its labels ("2. Treatment" twice, no "3. Beat sheet")
                seen = gr.State(None)
                parts = _render_bar(stage)
                with gr.Column(elem_classes=["aiu-content"]) as content:
                    module = load_tab_module(stage_tabs[stage]) if stage in stage_tabs else None
                    if module is None:
                        gr.HTML(views.not_built_html(not_built_text(stage)))
                    else:
                        tab_parts[stage] = (module, module.render(env.for_stage(stage)))
            bar = StageBar(stage, *parts, content=content, tab=tab, seen=seen)  # type: ignore[misc]
            bars[stage] = bar
            # The Lock button, the overlay column and the content cover follow the overlay's banner in the
            # page (CSS: `.aiu-stage:has(.aiu-overlay)`), so no button or column is resent: updating a
            # column makes the page revisit every component inside it, on each save, lock and switch.
            outputs.extend([bar.status, bar.overlay_html, bar.seen])

    # the tabs' loaders join these once every tab has registered its own (listen)
    load_outputs = {title, new_title, branch, scene_pick, scene, tabs, reload, scene_reload, notice, shown, *outputs,
                    *(b.message for b in bars.values()), *(b.choice_text for b in bars.values())}
    shell_parts = _ShellParts(title, new_title, shown, branch, scene_pick, scene, tabs, notice, reload, scene_reload)
    load = _whole_load(runner_for, env, shell_parts, bars, load_outputs)
    return Shell(env, reload, scene_reload, title, back, new_title, rename, branch, branch_name, rename_branch, scene_pick,
                 pipeline, notice, tabs, bars, tab_parts, load, load_outputs, shown, backups_panel,
                 writing_panel)


def _statuses(runner_for: RunnerFor, bars: dict[Stage, StageBar], outputs: list[Any]) -> Callable[..., list[Any]]:
    """`refresh(project_id, scene_id, request=None)`: the values of `outputs` (the pipeline graphic, then
    each bar's three parts); `bars` and `outputs` are filled as the tabs are drawn, read when it runs."""

    def refresh(project_id: str | None, scene_id: str | None, request: gr.Request | None = None) -> list[Any]:
        """Pipeline graphic, then per stage: status, the overlay's banner (empty unless locked), what it showed.

        The request names whose project it is (Gradio fills it when this is an event); without one, only a
        single-user instance can read the project."""
        if not project_id:
            return [""] + [gr.skip()] * (len(outputs) - 1)
        view = runner_for(request).view(project_id)
        sid = scene_id if scene_id in view.state.scene_ids else None
        label = view.state.scene_label(sid) if sid else ""
        by_scene = {x: view.scene_statuses(x) for x in view.state.scene_ids}
        finished = (Status.DONE, Status.LOCKED)
        done = {st: sum(1 for ss in by_scene.values() if ss[st] in finished) for st in STAGE_ORDER if st.per_scene}
        values: list[Any] = [views.pipeline_html(
            view.statuses, view.position.stage, scene_statuses=by_scene.get(sid) if sid else None,
            scene_label=label, scene_count=len(view.state.scene_ids), scenes_done=done)]
        for stage in bars:
            status = stage_status(view, stage, sid)
            locked = status == Status.LOCKED
            where = label if stage.per_scene else ""
            text = views.status_text(stage, status, where)
            if stage.per_scene and not sid:
                text += " · choose a scene above to work on it"
            seen = SeenStage.of(view, stage, sid)
            values += [text, views.lock_overlay_html(stage, where) if locked else "",
                       {"branch": seen.branch, "revision": seen.revision, "locked": seen.locked}]
        return values

    return refresh


@dataclass(frozen=True)
class _ShellParts:
    """The shell's own components that opening a project fills (besides the statuses and the tabs)."""

    title: gr.Markdown
    new_title: gr.Textbox
    shown: gr.State
    branch: gr.Dropdown
    scene_pick: gr.Dropdown
    scene: gr.State
    tabs: gr.Tabs
    notice: gr.Markdown
    reload: gr.State
    scene_reload: gr.State


def _whole_load(runner_for: RunnerFor, env: TabEnv, c: _ShellParts, bars: dict[Stage, StageBar],
                load_outputs: set[Any]) -> Callable[..., dict[Any, Any]]:
    """`load(project_id, scene_id, request=None, fresh=False)`: the whole shell in one answer."""

    def load(project_id: str | None, scene_id: str | None, request: gr.Request | None = None,
             fresh: bool = False) -> dict[Any, Any]:
        """Fill the whole shell for a project in one answer: title, branch, scene, statuses, every tab.

        Lands on the saved stage and scene. `fresh` (a project just opened) also clears what the
        last project left: the notice, the lock bars' messages and open questions."""
        if not project_id:  # closed meanwhile: nothing to fill (an empty dict is not "no change")
            return {x: gr.skip() for x in load_outputs}
        runner = runner_for(request)
        view = runner.view(project_id)
        sid = scene_id if scene_id in view.state.scene_ids else view.position.scene_id
        v = shell_values(view, sid)
        cleared: dict[Any, Any] = {c.notice: ""} if fresh else {}
        for bar in bars.values() if fresh else ():
            cleared[bar.message] = ""
            cleared[bar.choice_text] = ""
        return {
            c.title: v["title"], c.new_title: view.project.title, c.shown: shown_of(view),
            c.branch: gr.Dropdown(choices=v["branches"], value=v["branch"]),
            c.scene_pick: gr.Dropdown(choices=v["scenes"], value=v["scene"], visible=bool(v["scenes"])),
            c.scene: v["scene"], c.tabs: gr.Tabs(selected=v["stage"].value),
            **cleared,
            # the tokens still change, for any tab that listens on them rather than `env.on_reload`
            c.reload: f"{project_id}:{view.branch.id}:{time.monotonic_ns()}",
            c.scene_reload: f"{project_id}:{view.branch.id}:{v['scene']}:{time.monotonic_ns()}",
            **dict(zip(env.refresh_outputs, env.refresh(project_id, v["scene"], request), strict=True)),
            **run_loaders(env.loaders, project_id, v["scene"], request),
        }

    return load


def _warn(e: AiuteurError) -> str:
    """A refusal as a toast and as the line shown under it."""
    gr.Warning(str(e))
    return f"⚠️ {e}"


def _shown_value(shown: Any, key: str) -> Any:
    """One thing the shell showed (`shown_of`): what a rename or a switch acts on."""
    return shown.get(key) if isinstance(shown, dict) else None


def listen(s: Shell, runner_for: RunnerFor) -> None:
    """The shell's events, by purpose: names and branches, panels, lock bars, every tab, then the whole
    load after whatever changes the branch, the scene picker and openers, and each tab's visit."""
    env = s.env
    pending: list[Any] = []

    def then_load(dep: Any) -> None:
        """After `dep`, the whole shell reloads (wired at the end, once every tab's loader is known)."""
        pending.append(dep)

    _listen_names(s, runner_for, then_load)
    if s.backups is not None:
        backups.listen(s.backups, env, then_load)
    if s.writing is not None:
        writing_style.listen(s.writing, env)
    for stage, bar in s.bars.items():
        _listen_bar(s, bar, stage, runner_for, then_load, _warn)
    for stage, (module, parts) in s.tab_parts.items():
        module.listen(parts, env.for_stage(stage))

    # every tab has registered its loader: the whole-shell load fills them too
    s.load_outputs.update(loader_outputs(env.loaders))
    for dep in pending:
        dep.then(s.load_fn, [env.project, env.scene], s.load_outputs, api_visibility="private")
    _listen_scenes(s, runner_for, _warn)
    for stage, bar in s.bars.items():
        _listen_visit(s, bar, stage, runner_for, _warn)


def _listen_names(s: Shell, runner_for: RunnerFor, then_load: Callable[[Any], None]) -> None:
    """Rename the project, switch the branch (the whole shell follows), rename the branch."""
    project = s.env.project

    def on_rename(pid: str, title: str, shown: Any, request: gr.Request) -> tuple[Any, str, Any]:
        try:  # a refusal leaves the new title in its box
            runner = runner_for(request)
            renamed = runner.rename_project(pid, title, seen=_shown_value(shown, "title") or "").title
            now = shown_of(runner.view(pid))
        except AiuteurError as e:
            return gr.skip(), _warn(e), gr.skip()
        return f"# {renamed}", f"Renamed to “{renamed}”.", now

    s.rename.click(on_rename, [project, s.new_title, s.shown], [s.title, s.notice, s.shown],
                   api_name="rename_open_project")

    def on_switch(pid: str, branch_id: str, shown: Any, request: gr.Request) -> tuple[Any, str]:
        try:
            runner = runner_for(request)
            b = runner.switch_branch(pid, branch_id, seen=_shown_value(shown, "branch") or "")
            return b.position.scene_id, f"Now on branch “{b.name}”."
        except AiuteurError as e:
            return gr.skip(), _warn(e)

    # the whole shell reloads after, refused or not: a refused switch shows the branch it is on now
    then_load(s.branch.input(on_switch, [project, s.branch, s.shown], [s.env.scene, s.notice],
                             api_name="switch_branch"))

    def on_rename_branch(pid: str, branch_id: str, name: str, shown: Any, request: gr.Request) -> tuple[Any, str, Any]:
        try:
            runner = runner_for(request)
            names = _shown_value(shown, "names") or {}
            renamed = runner.rename_branch(pid, branch_id, name, seen=str(names.get(branch_id, ""))).name
            view = runner.view(pid)
        except AiuteurError as e:
            return gr.skip(), _warn(e), gr.skip()
        return (gr.Dropdown(choices=views.branch_choices(view.branches), value=view.branch.id),
                f"Branch renamed to “{renamed}”.", shown_of(view))

    s.rename_branch.click(on_rename_branch, [project, s.branch, s.branch_name, s.shown], [s.branch, s.notice, s.shown],
                          api_name="rename_branch")


#: What another scene changes on screen: the function that fills it, and the components it fills.
SceneRefresh = tuple[Callable[[str, str | None, gr.Request | None], dict[Any, Any]], list[Any]]


def _scene_refresh(s: Shell) -> SceneRefresh:
    """What another scene changes, and the function that fills it: the pipeline graphic, the
    per-scene bars (statuses, no message left from the last scene) and stages 7-12's content; the
    project's own bars stay as shown."""
    env = s.env
    scene_loaders = [x for x in env.loaders if x.per_scene]
    scene_bars = [b for b in s.bars.values() if b.stage.per_scene]
    said = [x for b in scene_bars for x in (b.message, b.choice_text)]
    scene_statuses = [s.pipeline, *(x for b in scene_bars for x in (b.status, b.overlay_html, b.seen))]

    def scene_values(pid: str, scene_id: str | None, request: gr.Request | None) -> dict[Any, Any]:
        cleared = dict.fromkeys(said, "")
        statuses = dict(zip(env.refresh_outputs, env.refresh(pid, scene_id, request), strict=True))
        return {s.scene_reload: f"{pid}:scene:{scene_id}:{time.monotonic_ns()}", **cleared,
                **{c: statuses[c] for c in scene_statuses}, **run_loaders(scene_loaders, pid, scene_id, request)}

    return scene_values, [*said, *scene_statuses, *loader_outputs(scene_loaders)]


def _listen_scenes(s: Shell, runner_for: RunnerFor, warn: Callable[[AiuteurError], str]) -> None:
    """The one scene picker: another scene at the same stage, in one event."""
    project, scene = s.env.project, s.env.scene
    refresh = _scene_refresh(s)  # built once, shared with the openers
    scene_values, changed = refresh
    picked_outputs = [scene, s.scene_reload, s.notice, *changed]

    def on_scene(pid: str | None, scene_id: str | None, shown: str | None, request: gr.Request) -> dict[Any, Any]:
        """Another scene at the same stage: statuses and stages 7-12 follow, in one event.

        Where the new scene was left is not moved (the hub still reopens it there). The scene
        already shown (the picker left without a new choice) changes nothing."""
        if not pid:
            return {s.notice: "Open a project first."}
        if scene_id == shown:
            return {c: gr.skip() for c in picked_outputs}
        try:
            runner = runner_for(request)
            stage = runner.open(pid).stage
            if stage.per_scene and scene_id:
                runner.visit(pid, stage, scene_id, remember=False)
        except AiuteurError as e:
            return {s.notice: warn(e)}
        return {scene: scene_id, s.notice: "", **scene_values(pid, scene_id, request)}

    # `blur`, not `input`: Gradio's dropdown sends `input` twice for one click on an option (once as it
    # picks, once as it then leaves the field), and once for Enter; it leaves the field exactly once
    # for either, with the choice already made. Leaving it without a new choice changes nothing.
    s.scene_pick.blur(on_scene, [project, s.scene_pick, scene], picked_outputs, api_name="choose_scene",
                      trigger_mode="always_last")
    _listen_scene_openers(s, runner_for, warn, refresh)


def _listen_scene_openers(s: Shell, runner_for: RunnerFor, warn: Callable[[AiuteurError], str],
                          refresh: SceneRefresh) -> None:
    """Whatever opens a scene where it was left (the hub's rows and button): one event each."""
    env = s.env
    project, scene = env.project, env.scene
    scene_values, changed = refresh
    open_outputs = [scene, s.scene_reload, s.scene_pick, s.tabs, s.notice, *changed]

    def open_scene_at(pid: str | None, scene_id: str | None, request: gr.Request | None) -> dict[Any, Any]:
        """Open a scene where it was left (any of stages 7-12), else where it stands."""
        if not pid or not scene_id:
            return {s.notice: "Choose a scene first (the Scene picker above, or click its row)."}
        try:
            pos = runner_for(request).open_scene(pid, scene_id)
        except AiuteurError as e:
            return {s.notice: warn(e)}
        stage = pos.stage if pos.stage.per_scene else Stage.SHOTS
        label = runner_for(request).view(pid).state.scene_label(scene_id)
        return {scene: scene_id, s.scene_pick: gr.Dropdown(value=scene_id), s.tabs: gr.Tabs(selected=stage.value),
                s.notice: f"Opened {label} at Stage {stage.number} · {stage.title}, where it was left.",
                **scene_values(pid, scene_id, request)}

    def on_open_picked(pid: str | None, scene_id: str | None, request: gr.Request) -> dict[Any, Any]:
        return open_scene_at(pid, scene_id, request)

    def on_open_row(pid: str | None, request: gr.Request, evt: gr.EventData) -> dict[Any, Any]:
        from aiuteur.ui.dashboard import selected_value

        return open_scene_at(pid, selected_value(evt), request)

    for i, (trigger, picked) in enumerate(env.openers):
        name = "hub_open_scene" if i == 0 else f"open_scene_{i}"
        if picked is None:
            trigger(on_open_row, [project], open_outputs, api_visibility="private")
        else:
            trigger(on_open_picked, [project, picked], open_outputs, api_name=name)


def _listen_visit(s: Shell, bar: StageBar, stage: Stage, runner_for: RunnerFor,
                  warn: Callable[[AiuteurError], str]) -> None:
    """Opening a stage's tab: remember it (per scene for stages 7-12), statuses follow, one event."""
    project, scene = s.env.project, s.env.scene
    fresh = [x for x in s.env.loaders if x.on_visit and x.stage == stage]

    outputs = [*s.env.refresh_outputs, *loader_outputs(fresh)]

    def on_visit(pid: str | None, scene_id: str | None, request: gr.Request) -> dict[Any, Any]:
        if pid:
            here = Position(stage=stage, scene_id=scene_id if stage.per_scene else None)
            try:
                runner = runner_for(request)
                if runner.open(pid) == here:  # already here: the answer that moved the tab drew the screen
                    return {c: gr.skip() for c in outputs}
                runner.visit(pid, stage, here.scene_id)
            except AiuteurError as e:
                warn(e)
        values = dict(zip(s.env.refresh_outputs, s.env.refresh(pid, scene_id, request), strict=True))
        if pid and fresh:
            values.update(run_loaders(fresh, pid, scene_id, request))
        return values

    bar.tab.select(on_visit, [project, scene], outputs,
                   api_name=f"visit_{stage.value}", show_progress="hidden")


def _listen_bar(s: Shell, bar: StageBar, stage: Stage, runner_for: RunnerFor,
                then_load: Callable[[Any], None],
                warn: Callable[[AiuteurError], str]) -> None:
    project, scene = s.env.project, s.env.scene
    name = stage.value

    refresh_outputs = list(s.env.refresh_outputs)

    # Locking and unlocking here change statuses only: one event answers with the message and the
    # refreshed pipeline graphic, lock bars and overlays (no full reload chain).
    # `bar.seen` is what the bar showed: work someone changed (or locked) since is not locked unseen
    def on_lock(pid: str, scene_id: str | None, seen: Any, request: gr.Request) -> list[Any]:
        try:
            said = lock_stage(runner_for(request), pid, stage, scene_id, seen_stage(seen))
        except AiuteurError as e:
            said = warn(e)
        return [said, *s.env.refresh(pid, scene_id, request)]

    bar.lock.click(on_lock, [project, scene, bar.seen], [bar.message, *refresh_outputs], api_name=f"lock_{name}")

    def unlocker(mode: str | None) -> Callable[..., list[Any]]:
        def on_unlock(pid: str, scene_id: str | None, seen: Any, request: gr.Request) -> list[Any]:
            try:
                out = unlock_stage(runner_for(request), pid, stage, scene_id, mode, seen_stage(seen))
            except AiuteurError as e:
                shown = [warn(e), ""]
            else:
                shown = ["", views.question_html(out.question)] if out.question else [out.message, ""]
            return [*shown, *s.env.refresh(pid, scene_id, request)]
        return on_unlock

    outs = [bar.message, bar.choice_text, *refresh_outputs]
    ins = [project, scene, bar.seen]
    bar.unlock.click(unlocker(None), ins, outs, api_name=f"unlock_{name}")
    # a new branch: the branch picker, the position and every tab follow (the full load)
    then_load(bar.unlock_branch.click(unlocker("branch"), ins, outs, api_name=f"unlock_{name}_branch"))
    bar.unlock_here.click(unlocker("here"), ins, outs, api_name=f"unlock_{name}_here")
    bar.cancel.click(lambda: ("", "Still locked; nothing changed."), None,
                     [bar.choice_text, bar.message], api_visibility="private")
