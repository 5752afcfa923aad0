"""Stage 8, scene assets: per asset its look in this scene, its reference, the rearview mirror of
earlier scenes, a carousel of scene-instance takes, "use master as is", and the audit trail.

Suggested assets (in a shot but not in the registry) stay listed until accepted, which makes a
real registry asset, or dismissed. "Add new asset" creates one from this scene. No asset needs
an image before moving on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import (
    AiuteurError,
    Asset,
    AssetCategory,
    AssetState,
    AssetStates,
    ConflictError,
    InputError,
    ShotList,
    Stage,
    StyleAndAssets,
    Take,
)
from aiuteur.pipeline import asset_states as st8
from aiuteur.pipeline.actions import Action, InferStates, SceneInstance, build
from aiuteur.pipeline.graph import ProjectState
from aiuteur.pipeline.runner import Runner
from aiuteur.ui import take_picker
from aiuteur.ui.progress import progress_fn
from aiuteur.ui.tab_api import GPU, TabEnv, form_classes, guard_save, seen, with_statuses
from aiuteur.ui.tab_api import surrounding_tab as _surrounding_tab

CATEGORIES = [("Character", AssetCategory.CHARACTER.value), ("Location", AssetCategory.LOCATION.value),
              ("Prop", AssetCategory.PROP.value)]

# --- reading and pure formatting ---------------------------------------------------------------------


@dataclass
class Loaded:
    state: ProjectState
    bundle: StyleAndAssets | None
    states: AssetStates | None
    assets: list[Asset]
    revision: int
    assets_revision: int = 0


def load(runner: Runner, pid: str, sid: str) -> Loaded:
    view = runner.view(pid)
    bundle = StyleAndAssets.model_validate(view.data(Stage.ASSETS)) if view.data(Stage.ASSETS) else None
    shots_data = view.data(Stage.SHOTS, sid)
    shots = ShotList.model_validate(shots_data) if shots_data else None
    return Loaded(view.state, bundle, st8.saved_states(view.state, sid), st8.assets_in_scene(bundle, sid, shots),
                  view.revision(Stage.ASSET_STATES, sid), view.revision(Stage.ASSETS))


def asset_choices(assets: list[Asset]) -> list[tuple[str, str]]:
    return [(f"{a.name} ({a.category.value})", a.id) for a in assets]


def audit_markdown(st: AssetState | None) -> str:
    if st is None or not st.audit:
        return "_No changes yet._"
    return "\n".join(f"- {line}" for line in st.audit)


def reference_words(state: ProjectState, sid: str, asset: Asset, st: AssetState | None) -> str:
    key, source = st8.current_reference(state, sid, asset, st)
    words = st8.source_label(state, source)
    how = "pinned by you" if st is not None and st.pinned else "default"
    if st is not None and st.use_master:
        return "Uses the **master reference as is**: no scene-instance image is needed."
    if key is None:
        return "No reference image yet (the asset has no master reference); the description alone is used."
    return f"Reference: **{words}** ({how})."


def changes_markdown(st: AssetState | None, shot_numbers: dict[str, str]) -> str:
    if st is None or not st.changes:
        return ""
    return "Changes in this scene: " + "; ".join(
        f"at shot {shot_numbers.get(c.shot_id or '', '?')}: {c.description}" for c in st.changes)


def mirror_items(state: ProjectState, sid: str, asset: Asset) -> list[st8.MirrorItem]:
    """Mirror entries that have an image (only those can become the reference)."""
    return [m for m in st8.rearview(state, sid, asset) if m.image]


def mirror_text(state: ProjectState, sid: str, asset: Asset) -> str:
    items = st8.rearview(state, sid, asset)
    lines = []
    for m in items[1:]:
        mods = "; ".join(x.split(": ", 1)[-1] for x in m.modifications) or "no changes"
        lines.append(f"- **{m.label}**: {m.description or '(no description)'} · {mods}"
                     + ("" if m.image else " · no image"))
    return "\n".join(lines) or "_No earlier scene has this asset yet._"


# --- actions with the runner (thin) ---------------------------------------------------------------------


def save_states(runner: Runner, pid: str, sid: str, states: AssetStates, rev: int) -> None:
    runner.save(pid, Stage.ASSET_STATES, states, sid, base_revision=seen(rev))
    runner.note_position(pid, Stage.ASSET_STATES, sid)


def create_asset(runner: Runner, pid: str, sid: str, name: str, category: str, description: str = "",
                 rev: int | None = None) -> Asset:
    """A real registry asset from this scene (stage 5 is saved), with its state in this scene.

    `rev` is the revision of this scene's asset states the user saw: if someone changed them since,
    nothing is saved (ConflictError); the registry is saved from the revision read here."""
    got = load(runner, pid, sid)
    if got.bundle is None:
        raise InputError("Make the style and assets (stage 5) before adding an asset here.")
    if got.states is None:
        raise InputError("Infer the asset states of this scene first.")
    if got.revision != seen(rev):  # checked before the registry is touched: both saves or neither
        raise ConflictError(f"{Stage.ASSET_STATES.title} was changed by someone else since you opened it (now "
                            f"revision {got.revision}, yours was {seen(rev)}); nothing was saved. Reload the "
                            "scene and add the asset again.", yours={"name": name, "description": description})
    bundle, states, asset = st8.add_asset(got.bundle, got.states, got.state, sid, name, AssetCategory(category),
                                          description)
    runner.save(pid, Stage.ASSETS, bundle, base_revision=got.assets_revision)
    runner.save(pid, Stage.ASSET_STATES, states, sid, base_revision=got.revision)
    runner.accept_upstream(pid, Stage.ASSET_STATES, sid)  # this very action changed the registry
    runner.note_position(pid, Stage.ASSET_STATES, sid)
    return asset


def instance_takes(runner: Runner, pid: str, sid: str, asset_id: str, st: AssetState | None) -> list[Take]:
    mine = set(st.instance_takes) if st else set()
    return [t for t in runner.takes(pid, Stage.ASSET_STATES, sid, f"instance:{asset_id}") if t.id in mine and t.ok]


# --- layout and events -------------------------------------------------------------------------------

SAVE = "aiu-save-asset-state"  # the leave guard: a typed description is unsaved until saved


@dataclass(frozen=True)
class AssetStatesTab:
    guidance: gr.Textbox
    infer: gr.Button
    status: gr.Markdown
    asset: gr.Dropdown
    description: gr.Textbox
    save_description: gr.Button
    changes: gr.Markdown
    reference: gr.Image
    reference_text: gr.Markdown
    use_master: gr.Checkbox
    mirror: gr.Gallery
    mirror_notes: gr.Markdown
    use_mirror: gr.Button
    count: gr.Slider
    generate: gr.Button
    picker: take_picker.TakePicker
    audit: gr.Markdown
    suggested: gr.Dropdown
    suggested_category: gr.Radio
    accept: gr.Button
    dismiss: gr.Button
    new_name: gr.Textbox
    new_category: gr.Radio
    new_description: gr.Textbox
    add: gr.Button
    rev: gr.State
    mirror_pick: gr.State
    page: gr.Tab | None



def render(env: TabEnv) -> AssetStatesTab:
    with gr.Row():
        guidance = gr.Textbox(label="Guidance for the scene's looks (optional)", scale=4)
        infer = gr.Button("Describe the assets in this scene", variant="primary", scale=1)
    status = gr.Markdown()
    asset = gr.Dropdown(label="Asset", choices=[])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            description = gr.Textbox(label="How it looks in this scene", lines=3, elem_classes=form_classes(SAVE))
            save_description = gr.Button("Save the description", size="sm", elem_id=SAVE)
            changes = gr.Markdown()
            reference_text = gr.Markdown()
            use_master = gr.Checkbox(label="Use the master reference as is (no scene image needed)")
        with gr.Column(scale=1):
            reference = gr.Image(label="This scene's reference", interactive=False, height=220)
    gr.Markdown("#### Rearview mirror: the master and earlier scenes")
    mirror = gr.Gallery(label="Earlier images (click one, then use it)", columns=6, height=180, allow_preview=False)
    mirror_notes = gr.Markdown()
    use_mirror = gr.Button("Use the selected image as this scene's reference", size="sm")
    gr.Markdown("#### Scene-instance images")
    with gr.Row():
        count = gr.Slider(1, 4, value=1, step=1, label="Takes to make", scale=1)
        generate = gr.Button("Generate scene-instance image", scale=2)
    picker = take_picker.render("Scene-instance takes")
    with gr.Accordion("Audit trail", open=False):
        audit = gr.Markdown()
    with gr.Accordion("Suggested and new assets", open=True):
        with gr.Row():
            suggested = gr.Dropdown(label="Suggested (in a shot, not in the registry)", choices=[], scale=2)
            suggested_category = gr.Radio(CATEGORIES, value=AssetCategory.PROP.value, label="As a", scale=2)
            accept = gr.Button("Accept", scale=1)
            dismiss = gr.Button("Dismiss", scale=1)
        with gr.Row():
            new_name = gr.Textbox(label="Add new asset: name", scale=2)
            new_category = gr.Radio(CATEGORIES, value=AssetCategory.PROP.value, label="Category", scale=2)
            new_description = gr.Textbox(label="Description", scale=3)
            add = gr.Button("Add new asset", scale=1)
    return AssetStatesTab(guidance, infer, status, asset, description, save_description, changes, reference,
                          reference_text, use_master, mirror, mirror_notes, use_mirror, count, generate, picker, audit, suggested, suggested_category, accept, dismiss, new_name, new_category,
                          new_description, add, gr.State(0), gr.State(None), _surrounding_tab())


@dataclass(frozen=True)
class _Panel:
    """What stage 8's event groups share: the outputs, and the helpers that fill them."""

    shown: list[Any]  # the tab's outputs, ending with the take picker's
    then: dict[str, Any]  # chain env.refresh after model work and one-click edits
    only_status: Callable[[str], list[Any]]  # every output left as on screen but the status line
    fill: Callable[..., list[Any]]  # fill(runner, pid, sid, asset_id, status="") -> the whole tab
    edit: Callable[[Any, str], Any]  # edit(change, done) -> a handler that applies `change` and saves


def _label(got: Loaded, sid: str) -> str:
    """The scene as the audit trail names it."""
    return got.state.scene_label(sid)


def _need(aid: str | None) -> str:
    if not aid:
        raise InputError("Choose an asset first.")
    return aid


# the asset's edits: pure changes of the scene's AssetStates (`_Panel.edit` loads, applies and saves them)


def _do_description(runner: Runner, got: Loaded, pid: str, sid: str, aid: str | None, text: str) -> AssetStates:
    assert got.states is not None
    return st8.set_description(got.states, _need(aid), text or "", _label(got, sid))


def _do_master(runner: Runner, got: Loaded, pid: str, sid: str, aid: str | None, on: bool) -> AssetStates:
    assert got.states is not None
    asset = next((a for a in got.assets if a.id == _need(aid)), None)
    if on and asset is not None and not asset.master_ref:
        raise InputError(f"{asset.name} has no master reference to use as is: make one in stage 5, "
                         "or generate a scene image here.")
    return st8.use_master(got.states, _need(aid), bool(on), _label(got, sid))


def _do_mirror(runner: Runner, got: Loaded, pid: str, sid: str, aid: str | None, pick: Any) -> AssetStates:
    assert got.states is not None
    asset = next((a for a in got.assets if a.id == _need(aid)), None)
    items = mirror_items(got.state, sid, asset) if asset else []
    if pick is None or not 0 <= int(pick) < len(items):
        raise InputError("Click an image of the rearview mirror first.")
    m = items[int(pick)]
    return st8.set_reference(got.states, _need(aid), m.image, m.source, _label(got, sid),
                             st8.source_label(got.state, m.source))


def _do_choose(runner: Runner, got: Loaded, pid: str, sid: str, aid: str | None, take_id: Any) -> AssetStates:
    assert got.states is not None
    takes = instance_takes(runner, pid, sid, _need(aid), st8.state_of(got.states, _need(aid)))
    take = next((t for t in takes if t.id == take_id), None)
    if take is None:
        raise InputError("That take is no longer a take of this asset here; click one of the takes on screen.")
    return st8.choose_instance(got.states, _need(aid), take, _label(got, sid))


def _do_dismiss(runner: Runner, got: Loaded, pid: str, sid: str, aid: str | None, name: str) -> AssetStates:
    assert got.states is not None
    if not name:
        raise InputError("Choose a suggested asset first.")
    return st8.dismiss_suggestion(got.states, name)


def listen(tab: AssetStatesTab, env: TabEnv) -> None:
    """Stage 8's events, by purpose: loading, model work, the asset's edits, its takes, suggestions."""
    p = _panel(tab, env)
    _listen_loading(tab, env, p)
    _listen_model_work(tab, env, p)
    _listen_edits(tab, env, p)
    _listen_takes(tab, env, p)
    _listen_suggestions(tab, env, p)


def _panel(tab: AssetStatesTab, env: TabEnv) -> _Panel:
    """The outputs and helpers every event group of the tab shares."""
    shown = [tab.asset, tab.description, tab.changes, tab.reference, tab.reference_text, tab.use_master, tab.mirror,
             tab.mirror_notes, tab.audit, tab.suggested, tab.rev, tab.status, *take_picker.outputs(tab.picker)]
    then = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def only_status(line: str) -> list[Any]:
        """Every output left as it is on screen (what the user typed stays) except the status line."""
        out: list[Any] = [gr.skip()] * len(shown)
        out[shown.index(tab.status)] = line
        return out

    def fill(runner: Runner, pid: str | None, sid: str | None, asset_id: str | None, status: str = "") -> list[Any]:
        if not pid or not sid:
            return [gr.Dropdown(choices=[], value=None), "", "", None, "", False, [], "", "",
                    gr.Dropdown(choices=[]), 0, status or "Choose a scene to work on its assets.", *take_picker.empty()]
        try:
            got = load(runner, pid, sid)
        except AiuteurError as e:
            return [gr.skip()] * 11 + [f"⚠️ {e}"] + [gr.skip()] * take_picker.SIZE
        ids = [a.id for a in got.assets]
        aid = asset_id if asset_id in ids else (ids[0] if ids else None)
        suggested = gr.Dropdown(choices=list(got.states.suggested) if got.states else [], value=None)
        if aid is None:
            msg = status or ("This scene has no registered assets." if got.states else
                             "Describe the assets of this scene to start (no image is required to move on).")
            return [gr.Dropdown(choices=[], value=None), "", "", None, "", False, [], "", "", suggested,
                    got.revision, msg, *take_picker.empty()]
        asset = next(a for a in got.assets if a.id == aid)
        st = st8.state_of(got.states, aid)
        path = runner.media_paths(pid)
        ref_key, _ = st8.current_reference(got.state, sid, asset, st)
        shots_data = got.state.data(Stage.SHOTS, sid) or {"shots": []}
        numbers = {s["id"]: s["number"] for s in shots_data.get("shots", [])}
        mirror = [(str(path(m.image)), m.label) for m in mirror_items(got.state, sid, asset) if m.image]
        takes = [take_picker.Shown(t.id, str(path(t.media[0])), f"take {k}")
                 for k, t in enumerate(instance_takes(runner, pid, sid, aid, st), start=1) if t.media]
        return [gr.Dropdown(choices=asset_choices(got.assets), value=aid), st.description if st else "",
                changes_markdown(st, numbers), str(path(ref_key)) if ref_key else None,
                reference_words(got.state, sid, asset, st), bool(st and st.use_master), mirror,
                mirror_text(got.state, sid, asset), audit_markdown(st), suggested, got.revision,
                status or ("" if got.states else "Not described yet: press “Describe the assets in this scene”."),
                *take_picker.show(takes, st.chosen_take if st and not st.use_master else None, asset.name)]

    def edit(change: Any, done: str) -> Any:
        def handler(pid: str | None, sid: str | None, aid: str | None, rev: int, value: Any,
                    request: gr.Request) -> list[Any]:
            runner = env.runner_for(request)
            if not pid or not sid:
                return fill(runner, pid, sid, aid)
            try:
                got = load(runner, pid, sid)
                if got.states is None:
                    raise InputError("Describe the assets of this scene first.")
                new = change(runner, got, pid, sid, aid, value)
                if new is not None:
                    save_states(runner, pid, sid, new, rev)
            except ConflictError as e:  # the user's text and choices stay on screen to reapply
                gr.Warning(str(e))
                return only_status(f"⚠️ {e}")
            except AiuteurError as e:
                gr.Warning(str(e))
                return fill(runner, pid, sid, aid, f"⚠️ {e}")
            return fill(runner, pid, sid, aid, done)
        return handler

    return _Panel(shown, then, only_status, fill, edit)


def _listen_loading(tab: AssetStatesTab, env: TabEnv, p: _Panel) -> None:
    """Fill the tab when the project or scene changes; pick an asset; remember the visit."""
    shown, fill = p.shown, p.fill

    def reloaded(pid: str | None, sid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, None)

    env.on_reload(reloaded, [env.project, env.scene], shown)

    def on_pick(pid: str | None, sid: str | None, aid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, aid)

    tab.asset.input(on_pick, [env.project, env.scene, tab.asset], shown, api_name="asset_states_pick")
    if tab.page is not None:
        def on_visit(pid: str | None, sid: str | None, request: gr.Request) -> None:
            if pid and sid:
                env.runner_for(request).note_position(pid, Stage.ASSET_STATES, sid)

        tab.page.select(on_visit, [env.project, env.scene], None, api_name="asset_states_visit", show_progress="hidden")


def _listen_model_work(tab: AssetStatesTab, env: TabEnv, p: _Panel) -> None:
    """Model work, on the GPU queue: describe the scene's assets, make scene images."""
    shown, then, fill = p.shown, p.then, p.fill

    tracker = gr.Progress()  # Gradio swaps in each event's own tracker

    def run(pid: str | None, sid: str | None, aid: str | None, request: gr.Request, progress: gr.Progress,
            takes: float | None = None, guidance: str = "") -> list[Any]:
        """Infer the states (`takes` None), or make `takes` scene-instance images of asset `aid`."""
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid, aid)
        try:
            action: Action = (InferStates() if takes is None
                              else build(SceneInstance, asset_id=aid or "", takes=int(takes or 1)))
            result = runner.run(pid, Stage.ASSET_STATES, sid, action, guidance=guidance, progress=progress_fn(progress))
            runner.note_position(pid, Stage.ASSET_STATES, sid)
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, aid, f"⚠️ {e}")
        fallback = any(t.purpose == "asset_states_fallback" for t in result.takes)
        msg = "✅ Done." if not fallback else "✅ Filled from the registry (the model's answer was not usable); edit freely."
        return fill(runner, pid, sid, aid, msg if result.ok else "⚠️ " + " ".join(result.errors))

    def on_infer(pid: str | None, sid: str | None, aid: str | None, guidance: str, request: gr.Request,
                 progress: gr.Progress = tracker) -> list[Any]:
        return run(pid, sid, aid, request, progress, guidance=guidance)

    def on_generate(pid: str | None, sid: str | None, aid: str | None, n: float, request: gr.Request,
                    progress: gr.Progress = tracker) -> list[Any]:
        if not aid:
            return fill(env.runner_for(request), pid, sid, aid, "Choose an asset first.")
        return run(pid, sid, aid, request, progress, takes=n or 1)

    tab.infer.click(on_infer, [env.project, env.scene, tab.asset, tab.guidance], shown, api_name="asset_states_infer",
                    concurrency_id=GPU, concurrency_limit=1).then(**then)
    tab.generate.click(on_generate, [env.project, env.scene, tab.asset, tab.count], shown,
                       api_name="asset_states_generate_instance", concurrency_id=GPU, concurrency_limit=1).then(**then)


def _listen_edits(tab: AssetStatesTab, env: TabEnv, p: _Panel) -> None:
    """The picked asset's description and reference (master as is, or the rearview mirror)."""
    shown, edit = p.shown, p.edit
    ins = [env.project, env.scene, tab.asset, tab.rev]

    guard_save(tab.save_description.click(*with_statuses(env, edit(_do_description, "Saved."),
                                                         [*ins, tab.description], shown),
                                          api_name="asset_states_description"), SAVE, tab.status)
    tab.use_master.input(*with_statuses(env, edit(_do_master, "Saved."), [*ins, tab.use_master], shown),
                         api_name="asset_states_use_master")
    tab.use_mirror.click(*with_statuses(env, edit(_do_mirror, "Reference set."), [*ins, tab.mirror_pick], shown),
                         api_name="asset_states_use_mirror")

    def picked(evt: gr.SelectData) -> Any:
        return evt.index

    tab.mirror.select(picked, None, tab.mirror_pick, api_visibility="private")


def _listen_takes(tab: AssetStatesTab, env: TabEnv, p: _Panel) -> None:
    """The picked asset's scene-image takes: click one to choose it (with Undo)."""
    shown, then, fill = p.shown, p.then, p.fill
    ins = [env.project, env.scene, tab.asset, tab.rev]

    def chosen_of(request: gr.Request, pid: str | None, sid: str | None, aid: str | None) -> str | None:
        if not pid or not sid or not aid:
            return None
        st = st8.state_of(load(env.runner_for(request), pid, sid).states, aid)
        return st.chosen_take if st is not None and not st.use_master else None

    def choose(request: gr.Request, pid: str | None, sid: str | None, aid: str | None, rev: int,
               take_id: str | None) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid or take_id is None:
            return fill(runner, pid, sid, aid)
        got = load(runner, pid, sid)
        if got.states is None:
            raise InputError("Describe the assets of this scene first.")
        save_states(runner, pid, sid, _do_choose(runner, got, pid, sid, aid, take_id), rev)
        return fill(runner, pid, sid, aid, "Chosen.")

    def fail(request: gr.Request, pid: str | None, sid: str | None, aid: str | None, message: str) -> list[Any]:
        return fill(env.runner_for(request), pid, sid, aid, message)

    take_picker.listen(tab.picker, ins, shown, chosen_of=chosen_of, choose=choose, fail=fail,
                       api_name="asset_states_choose_take", then=then)


def _listen_suggestions(tab: AssetStatesTab, env: TabEnv, p: _Panel) -> None:
    """Assets the model suggested: dismiss one, accept one, or add a new asset."""
    shown, then, only_status, fill, edit = p.shown, p.then, p.only_status, p.fill, p.edit
    ins = [env.project, env.scene, tab.asset, tab.rev]

    tab.dismiss.click(edit(_do_dismiss, "Dismissed."), [*ins, tab.suggested], shown,
                      api_name="asset_states_dismiss_suggestion").then(**then)

    def adder(pid: str | None, sid: str | None, rev: int, name: str, category: str, description: str,
              request: gr.Request) -> list[Any]:
        """A new registry asset from this scene, then shown picked; a refusal leaves the screen as it is
        (what was typed stays in its boxes, the picked asset stays picked) with the reason on the status line."""
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid, None)
        try:
            asset = create_asset(runner, pid, sid, name or "", category, description or "", rev)
        except AiuteurError as e:
            gr.Warning(str(e))
            return only_status(f"⚠️ {e}")
        return fill(runner, pid, sid, asset.id, f"Added {asset.name} to the asset registry.")

    def on_accept(pid: str | None, sid: str | None, rev: int, name: str, category: str,
                  request: gr.Request) -> list[Any]:
        return adder(pid, sid, rev, name, category, "", request)

    where = [env.project, env.scene, tab.rev]
    tab.accept.click(on_accept, [*where, tab.suggested, tab.suggested_category], shown,
                     api_name="asset_states_accept_suggestion").then(**then)
    tab.add.click(adder, [*where, tab.new_name, tab.new_category, tab.new_description],
                  shown, api_name="asset_states_add_asset").then(**then)
