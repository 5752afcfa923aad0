"""The Gradio app: a header, the dashboard and the project shell with one tab per stage.

`build_app()` only builds the layout and wires events: no model loads, no store is opened
until a request comes (the Store object is cheap). `launch_app()` is the one way the app is
served (`python app.py`, `python -m aiuteur serve`, the tests): queue, media folder, upload size
limit, identity and private-file middleware, and `launch_kwargs()` (the leave-page guard in
`head` and its first listener in the page, the stylesheet, the theme, `AIUTEUR_AUTH` passwords).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.components.base import Component

from aiuteur.domain import Stage
from aiuteur.engines.cluster import model_jobs_at_once
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.slot import ModelSlot
from aiuteur.pipeline.stage import EngineProvider
from aiuteur.settings import DataHome
from aiuteur.store import Store
from aiuteur.ui import views
from aiuteur.ui.auth import (
    GuestIdentity,
    auth_from_env,
    instance_secret,
    oauth_enabled,
    sign_in_available,
    user_of,
)
from aiuteur.ui.private_files import FileGate, FileOwners
from aiuteur.ui.unsaved import GUARD_HEAD, LeaveGuardFirst, guard_refills

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

# The leave-page guard and the in-app guard (aiuteur/ui/unsaved.py): unsaved typing asks before the
# page is left, and before an in-app action replaces the form that holds it.
LEAVE_GUARD_HEAD = GUARD_HEAD


@dataclass
class AppContext:
    """What every request shares: the store and, built on first use, the engines.

    Lives inside one built app (never at module level), so two apps in one process do not
    share anything.
    """

    store: Store
    engines_factory: Callable[[], EngineProvider] | None = None
    slot: ModelSlot = field(default_factory=lambda: ModelSlot(capacity=model_jobs_at_once()))
    files: FileOwners = field(default_factory=FileOwners)
    secret: bytes | None = None  # signs guest identities on a Space with sign-in
    signin: bool = False  # HF sign-in (a Space with hf_oauth), decided when the app is built
    passwords: bool = False  # AIUTEUR_AUTH, decided when the app is built
    _engines: EngineProvider | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def engines(self) -> EngineProvider:
        with self._lock:
            if self._engines is None:
                if self.engines_factory is not None:
                    self._engines = self.engines_factory()
                else:  # as the Runner does, but built once for every request of this app
                    from aiuteur.engines.registry import Engines

                    self._engines = Engines.for_home(self.store.home)
            return self._engines

    def owner(self, request: gr.Request | None) -> str:
        return user_of(request, self.secret, signin=self.signin, passwords=self.passwords)

    def runner_for(self, request: gr.Request | None = None) -> Runner:
        """One Runner per request over the shared store, seeing only the asking user's projects.

        Its model jobs take turns with other users' on the app's one model slot, and stop when
        the request's caller has gone (closed the page, disconnected, pressed Stop)."""
        return Runner(self.store, engines_factory=self.engines, owner=self.owner(request),
                      slot=self.slot, cancelled=caller_gone())


def caller_gone() -> Callable[[], bool]:
    """A check that the queued Gradio event running this code has lost its caller.

    Gradio marks an event not alive when its client's stream closes, and drops it from the active
    jobs when it is cancelled (Stop). Outside a queued event (a test calling a handler) it is
    always False."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return lambda: False
    mine = [e for job in queue.active_jobs if job for e in job if e._id == event_id]
    if not mine:
        return lambda: False
    event = mine[0]

    def gone() -> bool:
        return not event.alive or not any(job and event in job for job in queue.active_jobs)

    return gone


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

    store = store or open_store()
    ctx = AppContext(store, engines_factory, secret=instance_secret(store.home.path) if oauth_enabled() else None,
                     signin=oauth_enabled(), passwords=auth_from_env() is not None)
    with gr.Blocks(title="Aiuteur") as demo:
        header = gr.Markdown(elem_id="aiu-header")
        if sign_in_available():
            # Gradio installs /login/huggingface, /login/callback and /logout when the app has one
            gr.LoginButton(size="sm", scale=0, min_width=240)
        elif oauth_enabled():
            log.warning("SPACE_ID and OAUTH_CLIENT_ID are set but this is not a Space (SYSTEM=spaces) and no "
                        "Hugging Face login is present: no sign-in button; visitors work as signed guests.")
        project_id = gr.State(None)
        scene_id = gr.State(None)
        with gr.Column(visible=True) as dash_col:
            dash = dashboard.render()
        with gr.Column(visible=False) as proj_col:  # Stop sits where model work runs, not on the dashboard
            stop = gr.Button("■ Stop the running model job", size="sm", variant="stop", scale=0, min_width=240)
            shell = project.render(ctx.runner_for, project_id, scene_id, STAGE_TABS)

        project.listen(shell, ctx.runner_for)

        def show_project(pid: str | None) -> dict[Any, Any]:
            return {dash_col: gr.Column(visible=not pid), proj_col: gr.Column(visible=True if pid else "hidden")}

        def open_view(pid: str, sid: str | None, request: gr.Request | None) -> dict[Any, Any]:
            """Opening (or creating) a project: switch views and fill the whole shell, in the same event."""
            return {**show_project(pid), **shell.load_fn(pid, sid, request, fresh=True)}

        opened = dashboard.OpenedView(open_view, [dash_col, proj_col, *shell.load_outputs])
        events = dashboard.listen(dash, ctx.runner_for, project_id, scene_id, opened)

        def close(search: str, folder: str | None, request: gr.Request) -> dict[Any, Any]:
            """Back to the dashboard in one event: the cards say where each project now stands."""
            return {project_id: None, scene_id: None, dash.notice: "", **show_project(None),
                    **events.refresh_fn(search, folder, request)}

        shell.back.click(close, events.refresh_inputs,
                         [project_id, scene_id, dash.notice, dash_col, proj_col, *events.refresh_outputs],
                         api_name="close_project")

        api.register(ctx)  # the stable client API (aiuteur/ui/api.py)
        wire_stop(demo, stop)
        demo.load(lambda: header_text(ctx.store.home), None, header, api_visibility="private")
        demo.load(events.refresh_fn, events.refresh_inputs, events.refresh_outputs, api_visibility="private")
        guard_refills(demo)  # last: every event that refills or hides a form asks first when it holds typing
    share_the_model_slot(demo)
    progress_on_own_answers(demo, shell.env.refresh_outputs)
    setattr(demo, "aiuteur_context", ctx)  # noqa: B010  (launch_app reads it)
    return demo


def context_of(demo: gr.Blocks) -> AppContext:
    ctx = getattr(demo, "aiuteur_context", None)
    if not isinstance(ctx, AppContext):
        raise TypeError("this Blocks was not made by aiuteur.ui.app.build_app")
    return ctx


def _whole_env(name: str, default: int, what: str) -> int:
    """A whole number of at least 1 from the environment; otherwise one sentence naming the variable."""
    raw = os.environ.get(name, str(default))
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{name} is {raw!r}; give a whole number {what}at least 1.")
    return n


def gpu_waiters() -> int:
    """How many model events run at once (`AIUTEUR_GPU_WAITERS`, default 8); they take turns on the slot."""
    return _whole_env("AIUTEUR_GPU_WAITERS", 8, "of ")


def share_the_model_slot(demo: gr.Blocks) -> None:
    """Let several model events run at once under the "gpu" id: the ModelSlot, not Gradio's FIFO
    queue, then decides whose job runs next, so users interleave job by job."""
    for fn in demo.fns.values():
        if getattr(fn, "concurrency_id", None) == "gpu":
            fn.concurrency_limit = gpu_waiters()


#: An event answering more of its own components than this shows its progress on the first only.
PROGRESS_TARGETS_MOST = 6


def progress_on_own_answers(demo: gr.Blocks, statuses: Collection[Any]) -> None:
    """Show each event's progress (spinner, "keyframe 3 of 8") on what it answers itself, not on every output.

    Gradio's page keeps, for the rest of the session, a progress status for every component that has
    been a progress target of any event (by default all its outputs), and on every status message of
    every later event it looks each of them up in the whole component tree; for a layout block
    (a column) it also reads the state of every component inside it. Once a project had been opened
    (the dashboard and project columns, each tab's fields and the twelve lock bars as outputs), an
    event that does nothing took 1-3 s in the page. So progress shows on the event's own components:
    no layout block (a column, a row, the tabs), no State (nothing to show), no shell status (the pipeline graphic and the lock
    bars every save redraws), and at most `PROGRESS_TARGETS_MOST`, else the first (an open or a scene
    switch: its notice). An event whose outputs are all of those keeps its first shown component."""
    shared = {x._id for x in statuses}
    for fn in demo.fns.values():
        if fn.show_progress_on is not None or not fn.outputs:
            continue
        shown = [x for x in fn.outputs if isinstance(x, Component) and not isinstance(x, gr.State)]
        own = [x for x in shown if x._id not in shared]
        targets = own if len(own) <= PROGRESS_TARGETS_MOST else own[:1]
        fn.show_progress_on = targets or shown[:1] or None


def launch_kwargs() -> dict[str, Any]:
    """Keyword arguments for `demo.launch()` (Gradio 6 takes head/css/theme there): the guards in
    `head`, and the middleware that puts the leave guard's listener first in the page
    (`aiuteur.ui.unsaved.LeaveGuardFirst`: without it "Stay" drops the connection)."""
    from starlette.middleware import Middleware

    kwargs: dict[str, Any] = {"head": LEAVE_GUARD_HEAD, "css": views.css(), "theme": gr.themes.Soft(),
                              "app_kwargs": {"middleware": [Middleware(LeaveGuardFirst)]}}
    auth = auth_from_env()
    if auth:
        kwargs["auth"] = auth
        kwargs["auth_message"] = "This Aiuteur is shared: sign in to see your projects."
    return kwargs


def max_upload_mb() -> int:
    """The largest upload Gradio accepts (`AIUTEUR_MAX_UPLOAD_MB`, default 25): refused while it streams."""
    return _whole_env("AIUTEUR_MAX_UPLOAD_MB", 25, "of megabytes, ")


def launch_app(store: Store | None = None, *, host: str | None = None, port: int | None = None,
               engines_factory: Callable[[], EngineProvider] | None = None,
               **launch_extra: Any) -> tuple[gr.Blocks, str]:
    """Build and serve the app the one way every entry point does; returns (app, local URL).

    `python app.py` and `python -m aiuteur serve` both call this, so they serve the same routes,
    the media folder, the same upload limit and the same sign-in. Host and port default to
    GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (else 0.0.0.0:7860, as app.py always did).
    """
    from starlette.middleware import Middleware

    from aiuteur.settings import data_home
    from aiuteur.store.store import open_store

    store = store or open_store(data_home())
    demo = build_app(store, engines_factory=engines_factory)
    ctx = context_of(demo)
    limit = max_upload_mb()
    middleware = [Middleware(FileGate, owners=ctx.files, secret=ctx.secret, max_upload_mb=limit)]
    if oauth_enabled() and ctx.secret is not None:  # outermost of ours: the gate then sees the cookie
        middleware.insert(0, Middleware(GuestIdentity, secret=ctx.secret, secure=True))
    # Other events run 4 at a time each (the store is thread- and process-safe); model events share
    # the "gpu" id and take turns on the ModelSlot.
    demo.queue(default_concurrency_limit=4)
    kwargs = {**launch_kwargs(), **launch_extra}
    app_kwargs = dict(kwargs.get("app_kwargs") or {})
    kwargs["app_kwargs"] = {**app_kwargs, "middleware": middleware + list(app_kwargs.get("middleware", []))}
    _, url, _ = demo.launch(
        server_name=host or os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        allowed_paths=[str(store.home.media)],
        max_file_size=f"{limit}mb",
        **kwargs,
    )
    return demo, url


def gpu_queue_kwargs() -> dict[str, Any]:
    """How GPU-bound events queue: one at a time, all under the same id."""
    from aiuteur.ui.tab_api import GPU

    return {"concurrency_id": GPU, "concurrency_limit": 1}
