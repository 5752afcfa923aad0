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
traceback. After any change, chain `env.refresh` so the pipeline graphic and lock bar follow.

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
        env.reload.change(load_beats, [env.project], [tab.table])  # project opened / branch switched
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import gradio as gr

from aiuteur.domain import Stage
from aiuteur.pipeline.runner import Runner

#: The concurrency id every GPU-bound event shares (queued one at a time).
GPU = "gpu"


@dataclass(frozen=True)
class TabEnv:
    """What the shell hands every stage tab.

    Attributes:
        runner_for: `runner_for(request)` gives a Runner over the shared Store for this request
            (owner is '' until hosted accounts exist). Cheap: build one per event.
        project: the open project's id ('' or None when none is open).
        scene: the current scene id for Phase B stages, or None.
        reload: a token the shell changes whenever the project, branch or scene changes (open,
            branch switch, unlock into a branch). Tabs load their data on `env.reload.change`.
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
    refresh: Callable[[str | None, str | None], list[Any]]
    stage: Stage = Stage.INPUT
    scene_reload: gr.State | None = None

    def for_stage(self, stage: Stage) -> TabEnv:
        """The same environment, naming the tab's stage (a per-scene tab reloads with the scene)."""
        reload = self.scene_reload if stage.per_scene and self.scene_reload is not None else self.reload
        return TabEnv(self.runner_for, self.project, self.scene, reload, self.pipeline,
                      self.refresh_outputs, self.refresh, stage, self.scene_reload)


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
    """elem_classes for a block whose fields `save_id`'s button saves (the leave guard watches it)."""
    return ["aiu-form", f"aiu-saves-{save_id}"]


def clean_js(save_id: str) -> str:
    """JavaScript for `.success(None, js=...)` after a save: the form holds nothing unsaved now."""
    return f"() => {{ window.aiuteur && window.aiuteur.clean('{save_id}'); }}"
