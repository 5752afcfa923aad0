"""Stage 5 tab, style and assets: extract once, tick what to pre-generate, refine an asset, set the style.

Right after extraction the compact checklist (names only, one group per category) shows what
gets a master reference up front; the full asset list starts collapsed. Choosing an asset shows
its description, master reference, every take (history), the scenes it appears in and how it
changes. Model work (extract, references, describe) goes through `Runner.run` with a target on
the GPU queue; every edit is a pure function of `aiuteur.pipeline.assets_ops` saved with
`Runner.save`. Handlers are thin; formatting is in the pure functions at the top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from aiuteur.domain import (
    AiuteurError,
    Asset,
    AssetCategory,
    ConflictError,
    InputError,
    Script,
    Stage,
    StyleAndAssets,
    Take,
    VisualStyle,
)
from aiuteur.pipeline import assets_ops as ops
from aiuteur.pipeline import visual_style as vs
from aiuteur.pipeline.actions import (
    DescribeAsset,
    Extract,
    MasterReference,
    MasterReferences,
    UploadReference,
)
from aiuteur.pipeline.images_in import load_image
from aiuteur.pipeline.runner import Runner
from aiuteur.ui import take_picker, voice_panel
from aiuteur.ui.tab_api import GPU, TabEnv, form_classes, guard_save, seen, with_statuses

CATEGORY_LABELS = {AssetCategory.CHARACTER: "Characters", AssetCategory.LOCATION: "Locations",
                   AssetCategory.PROP: "Props"}
WRITTEN = ""  # the capsule dropdown's "no capsule: the written description" choice
# Save buttons whose forms the leave guard watches (typed, unsaved fields ask before leaving).
SAVE_CHECKLIST, SAVE_ASSET, SAVE_STYLE = "aiu-save-checklist", "aiu-save-asset", "aiu-save-style"

# --- pure formatting -------------------------------------------------------------------------------


def checklist_groups(sa: StyleAndAssets) -> dict[AssetCategory, tuple[list[tuple[str, str]], list[str]]]:
    """Per category: (choices as (name, id), the ids ticked). Removed assets are not listed."""
    out: dict[AssetCategory, tuple[list[tuple[str, str]], list[str]]] = {}
    for cat in AssetCategory:
        listed = [a for a in sa.registry.assets if a.category == cat and not a.removed]
        choices = [(f"{a.name} (new)" if a.offered else a.name, a.id) for a in listed]
        out[cat] = (choices, [a.id for a in listed if a.pregenerate and not a.offered])
    return out


def scene_names(script: Script | None) -> dict[str, str]:
    """Scene id -> 'Scene 3 · INT. MEADOW - DAY'."""
    return {s.id: f"Scene {s.number} · {s.heading}" for s in script.scenes} if script else {}


def asset_status(a: Asset) -> str:
    if a.removed:
        return "removed"
    if a.offered:
        return "new: keep or remove"
    if a.master_ref:
        return "reference chosen"
    return "to pre-generate" if a.pregenerate else "described from text later"


def asset_rows(sa: StyleAndAssets, script: Script | None) -> list[list[str]]:
    """The full list: name, category, aliases, scenes, status."""
    numbers = {s.id: s.number for s in script.scenes} if script else {}
    return [[a.name, a.category.value, ", ".join(a.aliases), ", ".join(numbers.get(s, "?") for s in a.scenes),
             asset_status(a)] for a in sa.registry.assets]


def asset_choices(sa: StyleAndAssets, *, include_removed: bool = True) -> list[tuple[str, str]]:
    return [(f"{a.name} · {a.category.value}" + (" (removed)" if a.removed else ""), a.id)
            for a in sa.registry.assets if include_removed or not a.removed]


def appearances_markdown(a: Asset | None, script: Script | None) -> str:
    """The scenes an asset appears in, with its state changes under the scene where they start."""
    if a is None:
        return ""
    names = scene_names(script)
    if not a.scenes and not a.state_changes:
        return "_Not seen in any scene of the script._"
    lines = []
    for sid in a.scenes:
        lines.append(f"- {names.get(sid, 'a scene no longer in the script')}")
        lines += [f"  - from here on: {c.description}" for c in a.state_changes if c.scene_id == sid]
    lines += [f"- {names.get(c.scene_id, '?')}: from here on: {c.description}" for c in a.state_changes
              if c.scene_id not in a.scenes]
    return "\n".join(lines)


def offered_markdown(sa: StyleAndAssets) -> str:
    new = [a for a in sa.registry.assets if a.offered and not a.removed]
    if not new:
        return ""
    names = ", ".join(f"**{a.name}** ({a.category.value})" for a in new)
    return (f"New since the script changed: {names}. They are offered, not forced: tick them to keep them, "
            "or remove them in the asset list.")


def summary_markdown(sa: StyleAndAssets) -> str:
    live = [a for a in sa.registry.assets if not a.removed]
    if not sa.registry.assets:
        return "No assets yet: extract them from the master script."
    counts = ", ".join(f"{len([a for a in live if a.category == c])} {CATEGORY_LABELS[c].lower()}"
                       for c in AssetCategory)
    with_ref = len([a for a in live if a.master_ref])
    return (f"{counts}; {with_ref} with a master reference. No asset is mandatory: what has no reference is "
            "described from text in later stages.")


def reference_takes(runner: Runner, pid: str, asset_id: str) -> list[Take]:
    """An asset's reference takes with an image (made or uploaded), oldest first."""
    return [t for t in runner.takes(pid, Stage.ASSETS, target=f"reference:{asset_id}") if t.ok and t.output]


def take_choices(takes: list[Take]) -> list[tuple[str, str]]:
    ok = [t for t in takes if t.ok and t.output]
    return [(f"Take {i} · {t.purpose.replace('_', ' ')} · {t.created_at[:16].replace('T', ' ')}", t.id)
            for i, t in enumerate(ok, start=1)]


def style_form(style: VisualStyle) -> dict[str, Any]:
    return {"capsule": style.capsule_id or WRITTEN, "medium": style.medium, "look": style.look,
            "palette": style.palette, "lighting": style.lighting, "era": style.era,
            "references": style.references, "influence": style.influence}


def capsule_choices(capsules: list[vs.VisualCapsule]) -> list[tuple[str, str]]:
    return [("(none: use the written description below)", WRITTEN), *((c.name, c.id) for c in capsules)]


def overrides_markdown(style: VisualStyle, script: Script | None, capsules: list[vs.VisualCapsule]) -> str:
    if not style.scene_overrides:
        return "Every scene uses the film's style."
    names = scene_names(script)
    caps = {c.id: c.name for c in capsules}
    return "\n".join(f"- {names.get(sid, sid)} → {caps.get(cid, 'a capsule no longer in the library')}"
                     for sid, cid in style.scene_overrides.items())


# --- loading and saving ------------------------------------------------------------------------------


def load(runner: Runner, pid: str) -> tuple[StyleAndAssets, int, Script | None]:
    view = runner.view(pid)
    data = view.data(Stage.ASSETS)
    script_data = view.data(Stage.SCRIPT)
    sa = StyleAndAssets.model_validate(data) if data else StyleAndAssets()
    return sa, view.revision(Stage.ASSETS), Script.model_validate(script_data) if script_data else None


def _ext(path: str | None) -> str:
    """The media extension to keep an uploaded image under (its own when it is an image type)."""
    ext = Path(path or "").suffix.lower().lstrip(".")
    return ext if ext in ("png", "jpg", "jpeg", "webp", "gif") else "png"


def _read(path: str | None, what: str) -> bytes:
    if not path:
        raise InputError(f"Choose an image first ({what}).")
    size = Path(path).stat().st_size
    if size > 20 * 1024 * 1024:
        raise InputError(f"The image is {size / 1_048_576:.1f} MB; use one under 20 MB.")
    data = Path(path).read_bytes()
    load_image(data, name=Path(path).name)  # size from the header first: bombs, corrupt files, non-images
    return data


# --- components ---------------------------------------------------------------------------------------


def editing(asset_id: str | None, revision: int) -> dict[str, Any]:
    """The asset form's context: which asset it shows, read at which revision of stage 5."""
    return {"asset": asset_id, "revision": revision}


@dataclass(frozen=True)
class AssetsTab:
    status: gr.Markdown
    rev: gr.State
    summary: gr.Markdown
    extract: gr.Button
    references: gr.Button
    checklist: dict[AssetCategory, gr.CheckboxGroup]
    offered: gr.Markdown
    save_checklist: gr.Button
    table: gr.Dataframe
    asset: gr.Dropdown
    name: gr.Textbox
    category: gr.Dropdown
    description: gr.Textbox
    save_asset: gr.Button
    appears: gr.Markdown
    master: gr.Image
    ref_guidance: gr.Textbox
    generate: gr.Button
    picker: take_picker.TakePicker
    upload: gr.File
    matte: gr.Checkbox
    use_upload: gr.Button
    words: gr.Textbox
    describe: gr.Button
    proposal: gr.Textbox
    note: gr.Markdown
    replace: gr.Button
    merge_text: gr.Button
    remove: gr.Button
    restore: gr.Button
    keep: gr.Button
    add_name: gr.Textbox
    add_category: gr.Dropdown
    add_description: gr.Textbox
    add: gr.Button
    merge_other: gr.Dropdown
    merge: gr.Button
    alias: gr.Dropdown
    split: gr.Button
    capsule: gr.Dropdown
    style_fields: dict[str, gr.Textbox]
    style_images: gr.Gallery
    style_upload: gr.File
    influence: gr.Slider
    save_style: gr.Button
    capsule_name: gr.Textbox
    save_capsule: gr.Button
    scene: gr.Dropdown
    scene_capsule: gr.Dropdown
    scene_style: gr.Button
    overrides: gr.Markdown
    voice: voice_panel.VoicePanel
    editing: gr.State  # what the asset form shows: {"asset", "revision"}; "Save name and description" acts on that


def render(env: TabEnv) -> AssetsTab:
    categories = [(CATEGORY_LABELS[c], c.value) for c in AssetCategory]
    status = gr.Markdown()
    rev = gr.State(0)
    summary = gr.Markdown()
    with gr.Row():
        extract = gr.Button("Extract assets from the script", variant="primary")
        references = gr.Button("Make master references for the ticked assets")
    gr.Markdown("**Checklist** — untick what you don't need pre-generated (it is described from text later).")
    with gr.Row(elem_classes=form_classes(SAVE_CHECKLIST)):
        checklist = {c: gr.CheckboxGroup(label=CATEGORY_LABELS[c], choices=[]) for c in AssetCategory}
    offered = gr.Markdown()
    save_checklist = gr.Button("Save checklist", size="sm", elem_id=SAVE_CHECKLIST)
    with gr.Accordion("All assets", open=False):
        table = gr.Dataframe(headers=["Name", "Category", "Aliases", "Scenes", "Status"], interactive=False,
                             wrap=True)
        asset = gr.Dropdown(label="Asset", choices=[])
        with gr.Column(elem_classes=form_classes(SAVE_ASSET)):
            with gr.Row():
                name = gr.Textbox(label="Name", max_lines=1)
                category = gr.Dropdown(label="Category", choices=categories)
            description = gr.Textbox(label="Description (how it looks)", lines=3)
        save_asset = gr.Button("Save name and description", size="sm", elem_id=SAVE_ASSET)
        voice = voice_panel.render()
        appears = gr.Markdown()
        with gr.Row():
            master = gr.Image(label="Master reference (background removed)", interactive=False, height=240)
            with gr.Column():
                picker = take_picker.render("Every take (history)", columns=4, height=240)
        with gr.Row():
            ref_guidance = gr.Textbox(label="Extra words for this reference (optional)", max_lines=2)
            generate = gr.Button("Generate a master reference")
        with gr.Row():
            # a file, not gr.Image: gr.Image decodes the upload before any check; `_read` reads the header first
            upload = gr.File(label="Upload an image of the asset", file_types=["image"], type="filepath", height=200)
            with gr.Column():
                matte = gr.Checkbox(label="Remove its background", value=True)
                use_upload = gr.Button("Use the upload as master reference", size="sm")
                words = gr.Textbox(label="Your words (used when no vision model is available)", lines=2)
                describe = gr.Button("Describe from the upload", size="sm")
        proposal = gr.Textbox(label="Proposed description", lines=3)
        note = gr.Markdown()
        with gr.Row():
            replace = gr.Button("Replace the description", size="sm")
            merge_text = gr.Button("Merge into the description", size="sm")
        with gr.Row():
            keep = gr.Button("Keep (new asset)", size="sm")
            remove = gr.Button("Remove from the film", size="sm", variant="stop")
            restore = gr.Button("Restore", size="sm")
        with gr.Accordion("Add, merge, split", open=False):
            with gr.Row():
                add_name = gr.Textbox(label="New asset", max_lines=1)
                add_category = gr.Dropdown(label="Category", choices=categories, value=AssetCategory.PROP.value)
            add_description = gr.Textbox(label="Description", lines=2)
            add = gr.Button("Add asset", size="sm")
            with gr.Row():
                merge_other = gr.Dropdown(label="Merge this asset into the chosen one", choices=[])
                merge = gr.Button("Merge", size="sm")
            with gr.Row():
                alias = gr.Dropdown(label="Split this alias off as its own asset", choices=[])
                split = gr.Button("Split", size="sm")
    with gr.Accordion("Visual style", open=True):
        with gr.Column(elem_classes=form_classes(SAVE_STYLE)):  # typing here is unsaved until "Save style"
            capsule = gr.Dropdown(label="Style capsule (from your library, for all your projects)", choices=capsule_choices([]))
            with gr.Row():
                style_fields = {f: gr.Textbox(label=f.capitalize(), max_lines=2) for f in vs.STYLE_FIELDS[:3]}
            with gr.Row():
                style_fields |= {f: gr.Textbox(label=f.capitalize(), max_lines=2) for f in vs.STYLE_FIELDS[3:]}
            with gr.Row():
                style_images = gr.Gallery(label="Style images", columns=6, height=140)
                style_upload = gr.File(label="Add style images", file_count="multiple", file_types=["image"])
            influence = gr.Slider(0.0, 1.0, value=vs.DEFAULT_INFLUENCE, step=0.05,
                                  label="Style influence (asset references stay stronger at 0.7)")
        save_style = gr.Button("Save style", elem_id=SAVE_STYLE)
        with gr.Row():
            capsule_name = gr.Textbox(label="Save this style as a capsule named", max_lines=1)
            save_capsule = gr.Button("Save as capsule", size="sm")
        with gr.Row():
            scene = gr.Dropdown(label="Scene", choices=[])
            scene_capsule = gr.Dropdown(label="Switches to capsule", choices=capsule_choices([]))
            scene_style = gr.Button("Set the scene's style", size="sm")
        overrides = gr.Markdown()
    return AssetsTab(status, rev, summary, extract, references, checklist, offered, save_checklist, table, asset,
                     name, category, description, save_asset, appears, master, ref_guidance, generate, picker,
                     upload, matte, use_upload, words, describe, proposal, note, replace, merge_text,
                     remove, restore, keep, add_name, add_category, add_description, add, merge_other, merge, alias,
                     split, capsule, style_fields, style_images, style_upload, influence, save_style, capsule_name,
                     save_capsule, scene, scene_capsule, scene_style, overrides, voice, gr.State(editing(None, 0)))


# --- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Board:
    """What stage 5's event groups share: the outputs every edit refills, and the helpers that fill them."""

    outputs: list[Any]  # the whole tab: board, the picked asset's detail, the status line
    detail: list[Any]  # the picked asset's part
    then: dict[str, Any]  # chain env.refresh after model work
    fill: Callable[..., dict[Any, Any]]  # fill(runner, pid, asset_id, status="") -> the whole tab
    show: Callable[..., dict[Any, Any]]  # show(runner, pid, sa, script, asset_id, rev) -> the asset's detail
    guarded: Callable[..., dict[Any, Any]]  # guarded(pid, asset_id, request, work) -> refilled, errors in words
    edit: Callable[..., Any]  # edit(pid, rev, fn) -> a `work` that applies a pure edit and saves it


def _ran(result: Any, done: str) -> str:
    return f"✅ {done}" if result.ok else "⚠️ " + " ".join(result.errors)


def listen(tab: AssetsTab, env: TabEnv) -> None:
    """Stage 5's events, by purpose: loading and picking, model work, registry edits, style."""
    b = _board(tab, env)
    _listen_loading(tab, env, b)
    _listen_model_work(tab, env, b)
    _listen_uploads(tab, env, b)
    _listen_registry(tab, env, b)
    _listen_takes(tab, env, b)
    _listen_asset_edits(tab, env, b)
    _listen_style(tab, env, b)


def _board(tab: AssetsTab, env: TabEnv) -> _Board:
    """The outputs and helpers every event group of the tab shares."""
    board = [tab.rev, tab.summary, *tab.checklist.values(), tab.offered, tab.table, tab.asset, tab.merge_other,
             tab.scene, tab.capsule, tab.scene_capsule, *tab.style_fields.values(), tab.style_images,
             tab.influence, tab.overrides]
    detail = [tab.name, tab.category, tab.description, tab.appears, tab.master, tab.alias, tab.editing,
              *take_picker.outputs(tab.picker)]
    outputs = [*board, *detail, tab.status]
    then: dict[str, Any] = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str, asset_id: str | None, status: str = "") -> dict[Any, Any]:
        sa, rev, script = load(runner, pid)
        media = runner.media_paths(pid)
        capsules = vs.list_capsules(runner.capsules)
        groups = checklist_groups(sa)
        form = style_form(sa.style)
        ids = {a.id for a in sa.registry.assets}
        chosen = asset_id if asset_id in ids else (sa.registry.assets[0].id if sa.registry.assets else None)
        out: dict[Any, Any] = {
            tab.rev: rev, tab.summary: summary_markdown(sa), tab.offered: offered_markdown(sa),
            tab.table: asset_rows(sa, script),
            tab.asset: gr.Dropdown(choices=asset_choices(sa), value=chosen),
            tab.merge_other: gr.Dropdown(choices=asset_choices(sa), value=None),
            tab.scene: gr.Dropdown(choices=[(v, k) for k, v in scene_names(script).items()], value=None),
            tab.capsule: gr.Dropdown(choices=capsule_choices(capsules), value=form["capsule"]),
            tab.scene_capsule: gr.Dropdown(choices=capsule_choices(capsules), value=WRITTEN),
            tab.style_images: [media(k) for k in sa.style.images],
            tab.influence: form["influence"], tab.overrides: overrides_markdown(sa.style, script, capsules),
            tab.status: status,
        }
        out |= {box: gr.CheckboxGroup(choices=groups[c][0], value=groups[c][1]) for c, box in tab.checklist.items()}
        out |= {box: form[f] for f, box in tab.style_fields.items()}
        out |= show(runner, pid, sa, script, chosen, rev)
        return out

    def show(runner: Runner, pid: str, sa: StyleAndAssets, script: Script | None, asset_id: str | None,
             rev: int) -> dict[Any, Any]:
        a = next((x for x in sa.registry.assets if x.id == asset_id), None)
        if a is None:
            return {tab.name: "", tab.category: None, tab.description: "", tab.appears: "", tab.master: None,
                    tab.alias: gr.Dropdown(choices=[], value=None), tab.editing: editing(None, rev),
                    } | take_picker.show_dict(tab.picker, [], None, "")
        takes = reference_takes(runner, pid, a.id)
        media = runner.media_paths(pid)
        shown = [take_picker.Shown(t.id, str(media(str((t.output or {})["rgba"]))), label)
                 for t, (label, _) in zip(takes, take_choices(takes), strict=True)]
        chosen = next((t.id for t in takes if (t.output or {}).get("rgba") == a.master_ref), None)
        return {
            tab.name: a.name, tab.category: a.category.value, tab.description: a.description,
            tab.appears: appearances_markdown(a, script),
            tab.master: media(a.master_ref) if a.master_ref else None,
            tab.alias: gr.Dropdown(choices=list(a.aliases), value=None), tab.editing: editing(a.id, rev),
        } | take_picker.show_dict(tab.picker, shown, chosen, a.name)

    def guarded(pid: str | None, asset_id: str | None, request: gr.Request, work: Any) -> dict[Any, Any]:
        """Run `work(runner) -> (asset_id, status)` and refill the tab; errors are shown, never raised."""
        if not pid:
            return {tab.status: "Open a project first."}
        runner = env.runner_for(request)
        try:
            asset_id, status = work(runner)
        except ConflictError as e:  # someone saved since this tab was filled: what was typed stays
            gr.Warning(str(e))
            return {tab.status: f"⚠️ {e}"}
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, asset_id, f"⚠️ {e}")
        return fill(runner, pid, asset_id, status)

    def edit(pid: str, rev: int, fn: Any) -> Any:
        """A `work` that applies a pure edit to the saved StyleAndAssets and saves it."""
        def work(runner: Runner) -> tuple[str | None, str]:
            sa, _, script = load(runner, pid)
            new, asset_id, said = fn(sa, script)
            runner.save(pid, Stage.ASSETS, new, base_revision=seen(rev))
            return asset_id, said
        return work

    return _Board(outputs, detail, then, fill, show, guarded, edit)


def _listen_loading(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """Fill the tab when the project opens; show the picked asset; its voice."""
    outputs, detail, fill, show = b.outputs, b.detail, b.fill, b.show
    # loading
    def on_load(pid: str | None, request: gr.Request) -> dict[Any, Any]:
        if not pid:
            return {c: gr.skip() for c in outputs}
        return fill(env.runner_for(request), pid, None) | {c: "" for c in (tab.ref_guidance, tab.words, tab.proposal,
                                                                           tab.note)}

    env.on_reload(on_load, [env.project], [*outputs, tab.ref_guidance, tab.words, tab.proposal, tab.note])

    # what belongs to one asset only: another asset starts with these empty (nothing stale)
    per_asset = {tab.ref_guidance: "", tab.words: "", tab.proposal: "", tab.note: "", tab.status: ""}

    def on_pick(pid: str | None, asset_id: str | None, rev: int, request: gr.Request) -> dict[Any, Any]:
        if not pid:
            return {c: gr.skip() for c in [*detail, *per_asset]}
        runner = env.runner_for(request)
        sa, _, script = load(runner, pid)
        return show(runner, pid, sa, script, asset_id, rev) | per_asset

    tab.asset.input(on_pick, [env.project, tab.asset, tab.rev], [*detail, *per_asset], api_name="show_asset")
    voice_panel.listen(tab.voice, tab.asset, env, tab.rev)


_GPU: dict[str, Any] = {"concurrency_id": GPU, "concurrency_limit": 1}  # model work waits its turn


def _listen_model_work(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """Model work, on the GPU queue: extract the assets, make master references (all, or one take)."""
    outputs, then, guarded = b.outputs, b.then, b.guarded

    def on_extract(pid: str | None, request: gr.Request) -> dict[Any, Any]:
        def work(runner: Runner) -> tuple[str | None, str]:
            result = runner.run(pid or "", Stage.ASSETS, action=Extract(references=False))
            calls = len([t for t in result.takes if t.purpose == "extract_assets"])
            said = "nothing changed, nothing re-read" if calls == 0 else f"{calls} model call(s)"
            return None, _ran(result, f"Extracted ({said}). Untick what you don't need pre-generated.")
        return guarded(pid, None, request, work)

    tab.extract.click(on_extract, [env.project], outputs, api_name="assets_extract", **_GPU).then(**then)

    def on_references(pid: str | None, request: gr.Request) -> dict[Any, Any]:
        def work(runner: Runner) -> tuple[str | None, str]:
            result = runner.run(pid or "", Stage.ASSETS, action=MasterReferences())
            n = len([t for t in result.takes if t.purpose == "master_reference" and t.ok])
            return None, _ran(result, f"{n} master reference(s) made.")
        return guarded(pid, None, request, work)

    tab.references.click(on_references, [env.project], outputs, api_name="master_references", **_GPU).then(**then)

    def on_generate(pid: str | None, asset_id: str | None, words: str, request: gr.Request) -> dict[Any, Any]:
        def work(runner: Runner) -> tuple[str | None, str]:
            if not asset_id:
                raise InputError("Choose an asset first.")
            result = runner.run(pid or "", Stage.ASSETS, action=MasterReference(asset_id=asset_id), guidance=words)
            return asset_id, _ran(result, "New take added to the history.")
        return guarded(pid, asset_id, request, work)

    tab.generate.click(on_generate, [env.project, tab.asset, tab.ref_guidance], outputs,
                       api_name="master_reference", **_GPU).then(**then)


def _listen_uploads(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """An uploaded image, on the GPU queue: make it the master reference, or read a description from it."""
    outputs, then, guarded = b.outputs, b.then, b.guarded

    def on_use_upload(pid: str | None, asset_id: str | None, path: str | None, matte: bool,
                      request: gr.Request) -> dict[Any, Any]:
        def work(runner: Runner) -> tuple[str | None, str]:
            image = _read(path, "upload one")  # the upload is checked first, from its header
            if not asset_id:
                raise InputError("Choose an asset first.")
            key = runner.upload(pid or "", image, _ext(path))
            result = runner.run(pid or "", Stage.ASSETS, action=UploadReference(asset_id=asset_id, image_key=key,
                                                                         remove_background=matte))
            return asset_id, _ran(result, "The upload is now the master reference.")
        return guarded(pid, asset_id, request, work)

    tab.use_upload.click(on_use_upload, [env.project, tab.asset, tab.upload, tab.matte], outputs,
                         api_name="upload_reference", **_GPU).then(**then)

    def on_describe(pid: str | None, asset_id: str | None, path: str | None, words: str,
                    request: gr.Request) -> dict[Any, Any]:
        try:
            image = _read(path, "upload one")  # the upload is checked first, from its header
        except AiuteurError as e:
            return {tab.note: f"⚠️ {e}"}
        if not pid or not asset_id:
            return {tab.note: "Open a project and choose an asset first."}
        runner = env.runner_for(request)
        try:
            key = runner.upload(pid, image, _ext(path))
            result = runner.run(pid, Stage.ASSETS, action=DescribeAsset(asset_id=asset_id, image_key=key), guidance=words)
        except AiuteurError as e:
            return {tab.note: f"⚠️ {e}"}
        take = result.takes[0]
        if not take.ok or not take.output:
            return {tab.note: f"⚠️ {take.error}"}
        return {tab.proposal: take.output["proposal"], tab.note: take.output["note"]}

    tab.describe.click(on_describe, [env.project, tab.asset, tab.upload, tab.words], [tab.proposal, tab.note],
                       api_name="describe_asset", **_GPU)


def _listen_registry(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """Saves of the registry (pure edits, saved): the checklist, the picked asset's name and description."""
    outputs, guarded, edit = b.outputs, b.guarded, b.edit

    def on_save_checklist(form: dict[Any, Any], request: gr.Request) -> dict[Any, Any]:
        """The checklist's boxes come as one form (a set of inputs), so `request` is filled by Gradio."""
        pid, rev = form[env.project], form[tab.rev]
        kept = {i for box in tab.checklist.values() for i in (form[box] or [])}
        return guarded(pid, None, request, edit(pid or "", rev, lambda sa, sc: (
            ops.apply_checklist(sa, kept), None, "Checklist saved.")))

    guard_save(tab.save_checklist.click(*with_statuses(env, on_save_checklist, {env.project, tab.rev,
                                                                          *tab.checklist.values()}, outputs),
                                        api_name="save_checklist"), SAVE_CHECKLIST, tab.status)

    def on_save_asset(pid: str | None, shown: Any, name: str, category: str | None, description: str,
                      request: gr.Request) -> dict[Any, Any]:
        """The asset form: the asset and revision it showed (`tab.editing`), and its three fields."""
        asset_id, rev = (shown.get("asset"), shown.get("revision")) if isinstance(shown, dict) else (None, 0)
        return guarded(pid, asset_id, request, edit(pid or "", rev, lambda sa, sc: (
            ops.edit_asset(sa, asset_id or "", name=name, description=description, category=category),
            asset_id, "Saved.")))

    guard_save(tab.save_asset.click(*with_statuses(env, on_save_asset, [env.project, tab.editing, tab.name,
                                                                        tab.category, tab.description], outputs),
                                    api_name="save_asset"), SAVE_ASSET, tab.status)


def _listen_takes(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """The picked asset's master-reference takes: click one to choose it (with Undo)."""
    outputs, then, fill = b.outputs, b.then, b.fill

    def chosen_of(request: gr.Request, pid: str | None, _: Any, asset_id: str | None) -> str | None:
        if not pid or not asset_id:
            return None
        runner = env.runner_for(request)
        sa, _, _ = load(runner, pid)
        a = next((x for x in sa.registry.assets if x.id == asset_id), None)
        if a is None or not a.master_ref:
            return None
        return next((t.id for t in reference_takes(runner, pid, asset_id)
                     if (t.output or {}).get("rgba") == a.master_ref), None)

    def choose(request: gr.Request, pid: str | None, _: Any, asset_id: str | None, rev: int,
               take_id: str | None) -> dict[Any, Any]:
        runner = env.runner_for(request)
        if not pid:
            return {tab.status: "Open a project first."}
        if take_id is None:
            return fill(runner, pid, asset_id)
        take = next((t for t in reference_takes(runner, pid, asset_id or "") if t.id == take_id), None)
        if take is None:
            raise InputError("That take is no longer in this asset's history; click one of the takes on screen.")
        sa, _, _ = load(runner, pid)
        runner.save(pid, Stage.ASSETS, ops.choose_reference(sa, take), base_revision=seen(rev))
        return fill(runner, pid, asset_id, "Master reference chosen.")

    def fail(request: gr.Request, pid: str | None, _: Any, asset_id: str | None, message: str) -> dict[Any, Any]:
        return fill(env.runner_for(request), pid, asset_id, message) if pid else {tab.status: message}

    take_picker.listen(tab.picker, [env.project, env.scene, tab.asset, tab.rev], outputs, chosen_of=chosen_of,
                       choose=choose, fail=fail, api_name="choose_reference", then=then)


def _listen_asset_edits(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """One-click edits of the registry: take a proposed description, remove, restore, keep, add, merge, split."""
    outputs, then, guarded, edit = b.outputs, b.then, b.guarded, b.edit

    def describe_with(mode: str) -> Any:
        def handler(pid: str | None, rev: int, asset_id: str | None, proposal: str,
                    request: gr.Request) -> dict[Any, Any]:
            return guarded(pid, asset_id, request, edit(pid or "", rev, lambda sa, sc: (
                ops.apply_description(sa, asset_id or "", proposal, mode), asset_id,  # type: ignore[arg-type]
                "Description replaced." if mode == "replace" else "Descriptions merged.")))
        return handler

    for button, mode in ((tab.replace, "replace"), (tab.merge_text, "merge")):
        button.click(describe_with(mode), [env.project, tab.rev, tab.asset, tab.proposal], outputs,
                     api_name=f"{mode}_description").then(**then)

    simple = {
        "remove_asset": (tab.remove, ops.remove_asset, "Removed: later extractions won't bring it back."),
        "restore_asset": (tab.restore, ops.restore_asset, "Restored."),
        "keep_asset": (tab.keep, ops.keep_offered, "Kept and ticked."),
    }
    for api_name, (button, fn, said) in simple.items():
        def one(pid: str | None, rev: int, asset_id: str | None, request: gr.Request,
                fn: Any = fn, said: str = said) -> dict[Any, Any]:
            return guarded(pid, asset_id, request, edit(pid or "", rev, lambda sa, sc: (
                fn(sa, asset_id or ""), asset_id, said)))
        button.click(one, [env.project, tab.rev, tab.asset], outputs, api_name=api_name).then(**then)

    def on_add(pid: str | None, rev: int, name: str, category: str, description: str,
               request: gr.Request) -> dict[Any, Any]:
        def change(sa: StyleAndAssets, sc: Script | None) -> tuple[StyleAndAssets, str | None, str]:
            new = ops.add_asset(sa, name, category, description)
            return new, new.registry.assets[-1].id, f"Added {new.registry.assets[-1].name}."
        return guarded(pid, None, request, edit(pid or "", rev, change))

    tab.add.click(on_add, [env.project, tab.rev, tab.add_name, tab.add_category, tab.add_description], outputs,
                  api_name="add_asset").then(**then)

    def on_merge(pid: str | None, rev: int, keep_id: str | None, other_id: str | None,
                 request: gr.Request) -> dict[Any, Any]:
        return guarded(pid, keep_id, request, edit(pid or "", rev, lambda sa, sc: (
            ops.merge_assets(sa, keep_id or "", other_id or ""), keep_id, "Merged.")))

    tab.merge.click(on_merge, [env.project, tab.rev, tab.asset, tab.merge_other], outputs,
                    api_name="merge_assets").then(**then)

    def on_split(pid: str | None, rev: int, asset_id: str | None, alias: str | None,
                 request: gr.Request) -> dict[Any, Any]:
        return guarded(pid, asset_id, request, edit(pid or "", rev, lambda sa, sc: (
            ops.split_alias(sa, asset_id or "", alias or "", sc), asset_id, f"{alias} is now its own asset.")))

    tab.split.click(on_split, [env.project, tab.rev, tab.asset, tab.alias], outputs,
                    api_name="split_alias").then(**then)


def _listen_style(tab: AssetsTab, env: TabEnv, b: _Board) -> None:
    """The visual style: save it, keep it as a capsule, per-scene styles."""
    outputs, guarded, edit = b.outputs, b.guarded, b.edit
    # style
    style_inputs: set[Any] = {env.project, tab.rev, tab.capsule, *tab.style_fields.values(), tab.influence, tab.style_upload}

    def on_save_style(form: dict[Any, Any], request: gr.Request) -> dict[Any, Any]:
        """The style form as one dict of components (project, revision, capsule, written fields, images)."""
        pid, capsule_id, influence = form[env.project], form[tab.capsule], float(form[tab.influence])
        written = {name: form[comp] for name, comp in tab.style_fields.items()}
        files: list[str] = form[tab.style_upload] or []

        def change(sa: StyleAndAssets, sc: Script | None) -> tuple[StyleAndAssets, str | None, str]:
            runner = env.runner_for(request)
            if capsule_id:
                style = vs.style_from_capsule(vs.get_capsule(capsule_id, runner.capsules), sa.style)
                style = style.model_copy(update={"influence": influence})
                return ops.set_style(sa, style), None, "Style set from the capsule."
            added = [runner.put_media(_read(f, "style image"), Path(f).suffix.lstrip(".") or "png")
                     for f in files]
            style = vs.written_style(sa.style, **written, images=[*sa.style.images, *added], influence=influence)
            return ops.set_style(sa, style), None, "Style saved."
        return guarded(pid, None, request, edit(pid or "", form[tab.rev], change))

    guard_save(tab.save_style.click(*with_statuses(env, on_save_style, style_inputs, outputs), api_name="save_style"),
               SAVE_STYLE, tab.status)

    def on_save_capsule(pid: str | None, name: str, request: gr.Request) -> dict[Any, Any]:
        def work(runner: Runner) -> tuple[str | None, str]:
            sa, _, _ = load(runner, pid or "")
            cap = vs.capsule_from_style(name, sa.style, runner.capsules)
            return None, f"Saved as the capsule “{cap.name}”; other projects can pick it now."
        return guarded(pid, None, request, work)

    tab.save_capsule.click(on_save_capsule, [env.project, tab.capsule_name], outputs, api_name="save_visual_capsule")

    def on_scene_style(pid: str | None, rev: int, scene_id: str | None, capsule_id: str | None,
                       request: gr.Request) -> dict[Any, Any]:
        def change(sa: StyleAndAssets, sc: Script | None) -> tuple[StyleAndAssets, str | None, str]:
            if not scene_id:
                raise InputError("Choose the scene whose style changes.")
            library = env.runner_for(request).capsules
            return (ops.set_style(sa, vs.set_scene_override(sa.style, scene_id, capsule_id or None, library)), None,
                    "Scene style saved.")
        return guarded(pid, None, request, edit(pid or "", rev, change))

    tab.scene_style.click(*with_statuses(env, on_scene_style, [env.project, tab.rev, tab.scene, tab.scene_capsule],
                                         outputs), api_name="scene_style")
