"""The contract between the project shell and a stage tab.

Add a stage tab without touching the shell: write `aiuteur/ui/<stage>_tab.py` exposing

    render(env: TabEnv) -> Any         # build components inside the current gr.Tab; return them
    listen(tab: Any, env: TabEnv) -> None   # wire events; `tab` is what render() returned

and it appears in `aiuteur.ui.app.STAGE_TABS` (already listed for all twelve stages; a module
that does not exist yet shows an honest "not built in this version yet" placeholder). The shell
draws the title, branch selector, pipeline graphic, lock bar and lock overlay around the tab.

Rules (see /work/shared/STYLE.md): per-user state is only ids (`env.project`, `env.scene`);
everything else is read through `env.runner_for(request)`. Every working event has an
`api_name` without a leading slash; GPU events pass `concurrency_id=GPU` and
`concurrency_limit=1`. Show an `AiuteurError` message as is (`gr.Warning(str(e))`); never a
traceback. After any change, chain `env.refresh` so the pipeline graphic and lock bar follow (a
save answers with them itself: `with_statuses`). No event takes more than six inputs
(`tests/ui/test_event_inputs.py`): a form sends what it showed (which asset or shot, at which
revision) as one `gr.State` its fill writes, and its fields as a set; wire a tab's events in small
groups by purpose (`_listen_loading`, `_listen_model_work`, ...) sharing one fill.

Example (`aiuteur/ui/beats_tab.py`):

    @dataclass(frozen=True)
    class BeatsTab:
        table: gr.Dataframe
        generate: gr.Button

    def render(env: TabEnv) -> BeatsTab:
        return BeatsTab(gr.Dataframe(headers=["Beat", "Summary"]), gr.Button("Generate beats"))

    def listen(tab: BeatsTab, env: TabEnv) -> None:
        def on_generate(project_id: str, request: gr.Request) -> list[list[str]]:
            result = env.runner_for(request).run(project_id, Stage.BEATS)
            return views.beats_rows(result)                   # format in ui/views.py
        tab.generate.click(on_generate, [env.project], [tab.table], api_name="beats_generate",
                           concurrency_id=GPU, concurrency_limit=1
                           ).then(env.refresh, [env.project, env.scene], env.refresh_outputs)
        env.on_reload(load_beats, [env.project], [tab.table])  # project opened / branch switched
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import gradio as gr

from aiuteur.domain import Stage
from aiuteur.pipeline.runner import Runner

#: The concurrency id every GPU-bound event shares (queued one at a time).
GPU = "gpu"


def seen(rev: Any) -> int:
    """The revision a tab showed, for `Runner.save(base_revision=...)`: 0 when it showed nothing saved
    (or never loaded), so a save over someone else's work is refused instead of replacing it."""
    try:
        return max(0, int(rev)) if rev is not None else 0
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class TabEnv:
    """What the shell hands every stage tab.

    Attributes:
        runner_for: `runner_for(request)` gives a Runner over the shared Store for this request
            (owner is '' until hosted accounts exist). Cheap: build one per event.
        project: the open project's id ('' or None when none is open).
        scene: the current scene id for Phase B stages, or None.
        reload: a token the shell changes whenever the project, branch or scene changes (open,
            branch switch, unlock into a branch). Tabs register their loader with `env.on_reload`.
        pipeline: the pipeline graphic (HTML) above the tabs.
        refresh_outputs: the shell components `refresh` fills, in order.
        refresh: `refresh(project_id, scene_id)` returns new values for `refresh_outputs`
            (pipeline graphic, lock bars and overlays). Chain it after any action:
            `.then(env.refresh, [env.project, env.scene], env.refresh_outputs)`.
        stage: the stage of the tab being built (set per tab by the shell).
        scene_reload: a token the shell changes when the project, branch *or scene* changes. A
            per-scene tab gets it as its `reload` (`for_stage`), so switching scenes reloads
            stages 6-12 only; whoever switches the scene (the hub's "open") writes this one.
    """

    runner_for: Callable[[gr.Request | None], Runner]
    project: gr.State
    scene: gr.State
    reload: gr.State
    pipeline: gr.HTML
    refresh_outputs: Sequence[Any]
    refresh: Callable[..., list[Any]]  # (project_id, scene_id, request=None)
    stage: Stage = Stage.INPUT
    scene_reload: gr.State | None = None
    loaders: list[Loader] = field(default_factory=list)
    scene_pick: gr.Dropdown | None = None
    openers: list[tuple[Callable[..., Any], Any]] = field(default_factory=list)

    def for_stage(self, stage: Stage) -> TabEnv:
        """The same environment, naming the tab's stage (a per-scene tab reloads with the scene)."""
        reload = self.scene_reload if stage.per_scene and self.scene_reload is not None else self.reload
        return TabEnv(self.runner_for, self.project, self.scene, reload, self.pipeline,
                      self.refresh_outputs, self.refresh, stage, self.scene_reload, self.loaders,
                      self.scene_pick, self.openers)

    def on_reload(self, fn: Callable[..., Any], inputs: Sequence[Any], outputs: Sequence[Any], *,
                  on_visit: bool = False) -> None:
        """Fill the tab when the project, branch (or, for stages 6-12, the scene) changes.

        `fn(project_id[, scene_id], request)` returns the outputs' values (a list, or a dict by
        component). The shell calls every tab's loader inside the one event that opens the
        project or switches the scene: one answer fills the whole screen, no chain of events.
        `on_visit`: also fill it each time its tab is opened (a read-only overview that other
        tabs' work changes, like the hub's table).
        """
        ins = list(inputs)
        if any(x is not self.project and x is not self.scene for x in ins):
            raise ValueError("a tab loader reads only env.project and env.scene")
        self.loaders.append(Loader(self.stage, fn, with_scene=self.scene in ins, outputs=list(outputs),
                                   on_visit=on_visit))

    def opens_scene(self, trigger: Callable[..., Any], picked: Any | None = None) -> None:
        """Let `trigger` (an event listener method, e.g. `button.click`) open a scene where it was left.

        The scene is `picked`'s value, or with `picked=None` the `gr.SelectData.value` of a
        select event (a clicked row). The shell wires it once every tab's loader is known: one
        event moves the scene picker, the tab, the statuses and stages 7-12's content."""
        self.openers.append((trigger, picked))


@dataclass(frozen=True)
class Loader:
    """One tab's loader: `fn(project_id[, scene_id], request)` fills `outputs`."""

    stage: Stage
    fn: Callable[..., Any]
    with_scene: bool
    outputs: list[Any]
    on_visit: bool = False

    @property
    def per_scene(self) -> bool:
        return self.stage.per_scene

    def values(self, project_id: str | None, scene_id: str | None, request: gr.Request | None) -> dict[Any, Any]:
        """The loader's answer as {component: value}."""
        args = (project_id, scene_id) if self.with_scene else (project_id,)
        out = self.fn(*args, request)
        if isinstance(out, dict):
            return out
        if len(self.outputs) == 1:
            return {self.outputs[0]: out}
        return dict(zip(self.outputs, out, strict=True))


def with_statuses(env: TabEnv, fn: Callable[..., Any], inputs: Sequence[Any] | set[Any],
                  outputs: Sequence[Any], *, scene_in: gr.State | None = None
                  ) -> tuple[Callable[..., Any], list[Any] | set[Any], list[Any]]:
    """An edit (a save) that answers with what it changed *and* the statuses it moved, in one event.

    `fn` keeps its own signature: `fn(*inputs, request)`, or `fn(values, request)` when `inputs`
    is a set (a form); `inputs` must hold `env.project`. Its answer (a list or a dict by component)
    is followed by the pipeline graphic and lock bars (`env.refresh`), so the event needs no
    `.then(env.refresh, ...)`. Returns the handler, its inputs (the scene added) and its outputs,
    for the listener: `button.click(*with_statuses(env, on_save, ins, shown), api_name=...)`.

    `scene_in`: a form's state (one of the set `inputs`) whose value holds the scene it showed
    (`{"scene": ...}`); the statuses follow that scene and `env.scene` is not sent.
    """
    outs = [*outputs, *env.refresh_outputs]

    def answer(out: Any, pid: str | None, scene_id: str | None, request: gr.Request) -> Any:
        statuses = env.refresh(pid, scene_id, request)
        if isinstance(out, dict):
            return {**out, **dict(zip(env.refresh_outputs, statuses, strict=True))}
        own = list(out) if len(outputs) > 1 else [out]
        return [*own, *statuses]

    if isinstance(inputs, set):
        def scene_of(values: dict[Any, Any]) -> Any:
            if scene_in is None:
                return values[env.scene]
            shown = values[scene_in]
            return shown.get("scene") if isinstance(shown, dict) else None

        def on_form(values: dict[Any, Any], request: gr.Request) -> Any:
            return answer(fn(values, request), values[env.project], scene_of(values), request)

        on_form.__name__ = getattr(fn, "__name__", "on_form")
        return on_form, {*inputs, env.project, scene_in if scene_in is not None else env.scene}, outs
    if scene_in is not None:
        raise ValueError("scene_in is for a form (a set of inputs)")

    own_inputs = list(inputs)
    ins = own_inputs if any(x is env.scene for x in own_inputs) else [*own_inputs, env.scene]
    at = next(i for i, x in enumerate(ins) if x is env.project)
    scene_at = next(i for i, x in enumerate(ins) if x is env.scene)
    n = len(own_inputs)

    # Gradio fills a gr.Request only in a positional parameter before *args (never a keyword-only one)
    def on_edit(request: gr.Request, *args: Any) -> Any:
        return answer(fn(*args[:n], request), args[at], args[scene_at], request)

    on_edit.__name__ = getattr(fn, "__name__", "on_edit")
    return on_edit, ins, outs


def gate_on_skipped(env: TabEnv, buttons: Sequence[gr.Button]) -> None:
    """`buttons` (a stage's "write it" buttons) are off while the stage is skipped on purpose
    (a film that starts from its script skips the treatment and beat sheet): checked whenever the
    project loads or the tab is opened, so a mode chosen on stage 1 shows at once."""
    from aiuteur.domain import Status

    stage = env.stage

    def on_gate(pid: str | None, request: gr.Request | None) -> dict[Any, Any]:
        """By component: a one-button list would be taken as that button's value (its label)."""
        if not pid:
            return {b: gr.skip() for b in buttons}
        skipped = env.runner_for(request).view(pid).statuses[stage] == Status.SKIPPED
        return {b: gr.Button(interactive=not skipped) for b in buttons}

    env.on_reload(on_gate, [env.project], list(buttons), on_visit=True)


def run_loaders(loaders: Sequence[Loader], project_id: str | None, scene_id: str | None,
                request: gr.Request | None) -> dict[Any, Any]:
    """Every loader's values, merged (for one event's answer)."""
    values: dict[Any, Any] = {}
    for loader in loaders:
        values.update(loader.values(project_id, scene_id, request))
    return values


def loader_outputs(loaders: Sequence[Loader]) -> list[Any]:
    """The components the loaders fill, each once, in order."""
    seen: dict[int, Any] = {}
    for loader in loaders:
        for c in loader.outputs:
            seen.setdefault(id(c), c)
    return list(seen.values())


class TabModule(Protocol):
    """What `aiuteur/ui/<stage>_tab.py` exposes."""

    def render(self, env: TabEnv) -> Any:
        """Build the tab's components inside the current gr.Tab and return them."""

    def listen(self, tab: Any, env: TabEnv) -> None:
        """Wire the tab's events (each working event with an api_name)."""


def load_tab_module(module_name: str) -> ModuleType | None:
    """Import a tab module, or None when this version does not have it yet.

    Only a missing module itself means "not built"; an import error inside it is raised, so a
    broken tab is never hidden behind a placeholder.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            return None
        raise
    if not (callable(getattr(module, "render", None)) and callable(getattr(module, "listen", None))):
        raise TypeError(f"{module_name} must define render(env) and listen(tab, env).")
    return module


def not_built_text(stage: Stage) -> str:
    """The plain placeholder line for a stage tab this version does not have."""
    return f"Stage {stage.number} — {stage.title} is not built in this version yet."


def surrounding_tab() -> gr.Tab | None:
    """The gr.Tab being rendered right now (a tab module uses it to act when it is selected)."""
    block = gr.context.Context.block
    while block is not None and not isinstance(block, gr.Tab):
        block = getattr(block, "parent", None)
    return block


def form_classes(save_id: str) -> list[str]:
    """elem_classes for a block whose fields `save_id`'s button saves (the leave guard watches it):
    typing or ticking in it counts as unsaved until that save succeeds. The save button needs
    `elem_id=save_id` (the guard clicks it when the person chooses to stay)."""
    return ["aiu-form", f"aiu-saves-{save_id}"]


def clean_js(save_id: str) -> str:
    """JavaScript for `.success(None, [status], None, js=...)` after a save, given the status line it
    answered: the form holds nothing unsaved now, unless the save was refused (a "⚠️" line, e.g.
    someone else saved since) or more was typed while it was on its way: then what was typed is
    still unsaved and leaving still asks. Whoever waits for this save (the in-app guard's "Save and
    continue") hears the answer (`aiuteur.ui.unsaved`)."""
    return (f"(said) => {{ if (window.aiuteur && window.aiuteur.answered) "
            f"window.aiuteur.answered('{save_id}', !String(said || '').startsWith('⚠')); }}")


def failed_js(save_id: str) -> str:
    """JavaScript for `.failure(...)` after a save: it ended in an error, so nothing was saved."""
    return f"() => {{ window.aiuteur && window.aiuteur.answered && window.aiuteur.answered('{save_id}', false); }}"


def mark_js(save_id: str) -> str:
    """JavaScript for an event that put new, unsaved text in `save_id`'s form (a passage rewritten)."""
    return f"() => {{ window.aiuteur && window.aiuteur.mark('{save_id}'); }}"


def guard_save(event: Any, save_id: str, status: Any) -> None:
    """After a save event (what `.click` returned): its form is clean once the save succeeded; a save
    that failed leaves it unsaved, and says so to whoever waits for it."""
    event.success(None, [status], None, js=clean_js(save_id))
    event.failure(None, None, None, js=failed_js(save_id))
