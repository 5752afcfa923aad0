"""The Gradio app: a header, the dashboard and the project shell with one tab per stage.

`build_app()` only builds the layout and wires events: no model loads, no store is opened
until a request comes (the Store object is cheap). `launch_kwargs()` carries what Gradio 6
takes on `launch()`: the leave-page guard in `head`, the stylesheet and the theme.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from aiuteur.domain import Stage
from aiuteur.pipeline.runner import EngineProvider, Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui import views
from aiuteur.ui.auth import auth_from_env, user_of

log = logging.getLogger(__name__)

# Stage -> module with render(env) / listen(tab, env); a missing module shows a placeholder.
STAGE_TABS: dict[Stage, str] = {
    Stage.INPUT: "aiuteur.ui.input_tab",
    Stage.TREATMENT: "aiuteur.ui.treatment_tab",
    Stage.BEATS: "aiuteur.ui.beats_tab",
    Stage.SCRIPT: "aiuteur.ui.script_tab",
    Stage.ASSETS: "aiuteur.ui.assets_tab",
    Stage.HUB: "aiuteur.ui.hub_tab",
    Stage.SHOTS: "aiuteur.ui.shots_tab",
    Stage.ASSET_STATES: "aiuteur.ui.asset_states_tab",
    Stage.PROMPTS: "aiuteur.ui.prompts_tab",
    Stage.FRAMES: "aiuteur.ui.frames_tab",
    Stage.CONFIRM: "aiuteur.ui.confirm_tab",
    Stage.VIDEO: "aiuteur.ui.video_tab",
}

# The leave-page guard: unsaved edits or a running job ask before the page is left.
# Unsaved = the input tab's autosave is pending (`dirty`) or a form holds typed, unsaved fields
# (`forms`: save-button id -> true). A form is a block with the classes `aiu-form` and
# `aiu-saves-<save button id>`: any typing or ticking inside it marks it unsaved; its save, once
# it succeeds, marks it clean (`clean_js`). Gradio closes its connection in its own
# `beforeunload` handler, even when the person then chooses "Stay": ours runs first (capture,
# registered at parse time) and stops it when it asks, so the page stays connected, then saves
# every unsaved form. Hiding the page (another tab, a phone's lock) saves too.
LEAVE_GUARD_HEAD = """<script>
(() => {
  const a = window.aiuteur = window.aiuteur || {};
  a.dirty = a.dirty || false; a.busy = a.busy || 0; a.forms = a.forms || {};
  a.unsaved = () => a.dirty || Object.keys(a.forms).length > 0;
  a.mark = (id) => { a.forms[id] = true; };
  a.clean = (id) => { delete a.forms[id]; };
  a.flush = () => {
    if (a.saveTimer) { clearTimeout(a.saveTimer); a.saveTimer = null; }
    const ids = Object.keys(a.forms);
    if (a.dirty) ids.push("aiu-input-save");
    for (const id of ids) { const b = document.getElementById(id); if (b) b.click(); }
  };
  const formOf = (el) => {
    const f = el && el.closest ? el.closest(".aiu-form") : null;
    if (!f) return null;
    const c = [...f.classList].find((x) => x.startsWith("aiu-saves-"));
    return c ? c.slice("aiu-saves-".length) : null;
  };
  const typed = (e) => { const id = formOf(e.target); if (id) a.mark(id); };
  document.addEventListener("input", typed, true);
  document.addEventListener("change", typed, true);
  window.addEventListener("beforeunload", (e) => {
    if (!(a.unsaved() || a.busy > 0)) return;
    e.preventDefault(); e.returnValue = "";
    e.stopImmediatePropagation();  // keep Gradio from closing the connection: "Stay" must stay connected
    setTimeout(() => a.flush(), 0);  // runs only if the person stayed: save what was typed
  }, true);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && a.unsaved()) a.flush();
  });
})();
</script>"""



@dataclass
class AppContext:
    """What every request shares: the store and, built on first use, the engines.

    Lives inside one built app (never at module level), so two apps in one process do not
    share anything.
    """

    store: Store
    engines_factory: Callable[[], EngineProvider] | None = None
    _engines: EngineProvider | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def engines(self) -> EngineProvider:
        with self._lock:
            if self._engines is None:
                if self.engines_factory is not None:
                    self._engines = self.engines_factory()
                else:  # as the Runner does, but built once for every request of this app
                    from aiuteur.engines.profiles import active_profile
                    from aiuteur.engines.registry import Engines

                    home = self.store.home
                    self._engines = Engines(active_profile(models_dir=home.models).profile, home)
            return self._engines

    def runner_for(self, request: gr.Request | None = None) -> Runner:
        """One Runner per request over the shared store, seeing only the asking user's projects."""
        return Runner(self.store, engines_factory=self.engines, owner=user_of(request))


def profile_line() -> tuple[str, str]:
    """(profile name, why) of the active engine profile; says so plainly when unknown."""
    try:
        from aiuteur.engines.profiles import active_profile, families_line

        active = active_profile()
        return active.profile.name, f"{active.reason}; {families_line(active.profile)}"
    except Exception as e:  # the engines package is built by another engineer; never block the UI
        log.warning("no engine profile: %s", e)
        return "", f"no engine profile could be chosen ({e})"


def header_text(home: DataHome) -> str:
    name, why = profile_line()
    return views.header_markdown(name, why, home.warning, str(home.path))


def gpu_events(demo: gr.Blocks) -> list[dict[str, Any]]:
    """Every event queued on the GPU (model work), as Gradio's `cancels=` wants them."""
    from aiuteur.ui.tab_api import GPU

    return [fn.get_config() for fn in demo.fns.values() if getattr(fn, "concurrency_id", None) == GPU]


def wire_stop(demo: gr.Blocks, stop: gr.Button) -> None:
    """One Stop button cancels whatever model job this browser session is running or waiting for.

    Nothing half-made is saved: a stage saves its takes only when it finishes."""
    events = gpu_events(demo)
    if events:
        stop.click(None, None, None, cancels=events, api_visibility="private",
                   js="() => { window.aiuteur && (window.aiuteur.busy = 0); }")


def build_app(store: Store | None = None, *,
              engines_factory: Callable[[], EngineProvider] | None = None) -> gr.Blocks:
    """Build the Blocks app over `store` (default: the data folder of this process)."""
    from aiuteur.store.store import open_store
    from aiuteur.ui import api, dashboard, project

    ctx = AppContext(store or open_store(), engines_factory)
    with gr.Blocks(title="Aiuteur") as demo:
        header = gr.Markdown(elem_id="aiu-header")
        project_id = gr.State(None)
        scene_id = gr.State(None)
        with gr.Column(visible=True) as dash_col:
            dash = dashboard.render()
        with gr.Column(visible=False) as proj_col:  # Stop sits where model work runs, not on the dashboard
            stop = gr.Button("■ Stop the running model job", size="sm", variant="stop", scale=0, min_width=240)
            shell = project.render(ctx.runner_for, project_id, scene_id, STAGE_TABS)

        events = dashboard.listen(dash, ctx.runner_for, project_id, scene_id)
        project.listen(shell, ctx.runner_for)

        def show_project(pid: str | None) -> dict[Any, Any]:
            return {dash_col: gr.Column(visible=not pid), proj_col: gr.Column(visible=bool(pid))}

        # Opening (or creating) a project: switch views, then land on the saved stage and scene.
        for opened in events.opened:
            opened.then(show_project, [project_id], {dash_col, proj_col}, api_visibility="private").then(
                shell.load_fn, [project_id, scene_id], shell.load_outputs, api_visibility="private")

        def close() -> tuple[None, None]:
            return None, None

        shell.back.click(close, None, [project_id, scene_id], api_name="close_project").then(
            show_project, [project_id], {dash_col, proj_col}, api_visibility="private").then(
            events.refresh_fn, events.refresh_inputs, events.refresh_outputs, api_visibility="private")

        api.register(ctx)  # the stable client API (aiuteur/ui/api.py)
        wire_stop(demo, stop)
        demo.load(lambda: header_text(ctx.store.home), None, header, api_visibility="private")
        demo.load(events.refresh_fn, events.refresh_inputs, events.refresh_outputs, api_visibility="private")
    return demo


def launch_kwargs() -> dict[str, Any]:
    """Keyword arguments for `demo.launch()` (Gradio 6 takes head/css/theme there)."""
    kwargs: dict[str, Any] = {"head": LEAVE_GUARD_HEAD, "css": views.css(), "theme": gr.themes.Soft()}
    auth = auth_from_env()
    if auth:
        kwargs["auth"] = auth
        kwargs["auth_message"] = "This Aiuteur is shared: sign in to see your projects."
    return kwargs


def gpu_queue_kwargs() -> dict[str, Any]:
    """How GPU-bound events queue: one at a time, all under the same id."""
    from aiuteur.ui.tab_api import GPU

    return {"concurrency_id": GPU, "concurrency_limit": 1}
