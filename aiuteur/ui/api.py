"""The client API: stable, stateless endpoints for `gradio_client`, one per stage action.

Every endpoint takes the project id explicitly (nothing is kept between calls) and acts as the
user of the request (`ctx.runner_for(request)`), so users of a shared instance stay apart.
Endpoints are events of a hidden trigger (not `gr.api`): that way they take and return files
like the UI does, report progress through `gr.Progress`, and model-running ones queue on the
one GPU concurrency group. An `AiuteurError` reaches the client as `gr.Error` with its message.

    from gradio_client import Client, handle_file
    c = Client("http://127.0.0.1:7860")
    pid = c.predict("Eggs at dawn", api_name="/create_project")
    c.predict(pid, handle_file("film.fountain"), api_name="/import_script")
    c.predict(pid, "video", 0, api_name="/run_until")
    animatics = c.predict(pid, "", 0, api_name="/video")      # local paths, downloaded

The functions below the layout take a Runner and plain values (no Gradio), so they are tested
directly; `register` only wires them.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import gradio as gr

from aiuteur.domain import (
    STAGE_ORDER,
    AiuteurError,
    ConflictError,
    InputError,
    SourceRole,
    Stage,
    StoryInput,
    parse_stage,
)
from aiuteur.pipeline import actions, graph, headless
from aiuteur.pipeline.actions import Action, Estimate
from aiuteur.pipeline.inputs import screenplay_input, story_input
from aiuteur.pipeline.runner import Runner
from aiuteur.pipeline.stage import ProgressFn, RunResult
from aiuteur.ui.tab_api import GPU

if TYPE_CHECKING:
    from aiuteur.ui.app import AppContext

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

MAX_FILE_BYTES = 20 * 1024 * 1024
SCREENPLAY_EXTS = {".fountain", ".spmd", ".fdx", ".pdf"}

#: Every endpoint, in the order the README lists them.
ENDPOINTS = ("create_project", "import_script", "story", "set_story", "treatment", "beats", "script", "extract_assets",
             "shot_list", "asset_states", "prompts", "frames", "confirm", "video", "animatics", "export",
             "status", "run_until", "run_action")


# --- pure helpers (a Runner and plain values; no Gradio) -----------------------------------------


def read_file(path: str | Path) -> tuple[bytes, str]:
    """The bytes and name of an uploaded file, refusing empty or over-large ones in one line."""
    p = Path(path)
    if not p.is_file():
        raise InputError("No file was uploaded; give a screenplay file (.fountain, .fdx, .pdf or .txt).")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{p.name} is empty; give a file with a screenplay in it.")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{p.name} is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
    return p.read_bytes(), p.name


def import_script(runner: Runner, project_id: str, path: str | Path, *, revision: int | None = None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """Save a screenplay as the project's input (skip to script) and run the script stage.

    An empty `project_id` creates a project titled after the screenplay. Into an existing project,
    `revision` is the input revision the caller read (`/status`, `/story`; none or 0: nothing saved
    yet): if the input was saved since, nothing is saved and the refusal says so.
    """
    data, name = read_file(path)
    story, title, summary = screenplay_input(data, name)
    pid = project_id.strip() or runner.create_project(title[:200]).id
    base = max(0, int(revision or 0))
    try:
        record = runner.save(pid, Stage.INPUT, story, base_revision=base)
    except ConflictError as e:
        now = runner.view(pid).revision(Stage.INPUT)
        raise ConflictError(f"The input was saved by someone else since you read it (now revision {now}, yours "
                            f"was {base}); nothing was imported. Read it again with /story and import again.",
                            yours=e.yours) from e
    result = runner.run(pid, Stage.SCRIPT, progress=progress)
    _raise_if_nothing_made(result)
    return {"project": pid, **summary, "revision": record.revision, "stages": _stage_statuses(runner, pid)}


def set_story(runner: Runner, project_id: str, text: str, mode: str = "", revision: int | None = None) -> dict[str, Any]:
    """Save typed text as the project's input, keeping its other settings (brief, parameters).

    `revision` is the input's revision the caller last read (0 for a project with no input yet;
    `/status` and every `/set_story` answer give it). If someone saved since, nothing is saved and
    the refusal says so; the caller still has its text to reapply.
    """
    if revision is None or revision < 0:
        raise InputError("Say which revision of the input your text replaces: 0 for a new project, else the "
                         "revision /status or your last /set_story gave.")
    story = story_input(text, mode)
    view = runner.view(project_id)
    saved = view.data(Stage.INPUT)
    if view.revision(Stage.INPUT) != revision:  # checked here too, so the merge below uses what was read
        raise ConflictError(f"The story was changed by someone else since you read it (now revision "
                            f"{view.revision(Stage.INPUT)}, yours was {revision}); nothing was saved. "
                            "Read it again with /status and reapply your text.", yours=text)
    if saved:
        old = StoryInput.model_validate(saved)
        others = [s for s in old.sources if s.role != SourceRole.PRIMARY]
        story = old.model_copy(update={"mode": story.mode, "sources": [*story.sources, *others],
                                       "brief": story.brief if story.skips_writing else old.brief})
    try:
        record = runner.save(project_id, Stage.INPUT, story, base_revision=revision)
    except ConflictError as e:
        raise ConflictError(f"The story was changed by someone else while you saved (yours was revision "
                            f"{revision}); nothing was saved. Read it again with /status and reapply your text.",
                            yours=text) from e
    return {"project": project_id, "mode": story.mode.value, "revision": record.revision,
            "stages": _stage_statuses(runner, project_id)}


def get_story(runner: Runner, project_id: str) -> dict[str, Any]:
    """The input's main text, its mode and revision: what a `/set_story` edit starts from."""
    view = runner.view(project_id)
    saved = view.data(Stage.INPUT)
    story = StoryInput.model_validate(saved) if saved else None
    text = next((s.text for s in story.sources if s.role == SourceRole.PRIMARY), "") if story else ""
    return {"project": project_id, "revision": view.revision(Stage.INPUT), "text": text,
            "mode": story.mode.value if story else ""}


def run_stage(runner: Runner, project_id: str, stage: Stage, scene_id: str = "", *, seed: int | None = 0,
              guidance: str = "", action: Action | None = None,
              progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run one stage: a project stage, or a per-scene stage for one scene ('' for every scene).

    `action` is one of the stage's models (`aiuteur.pipeline.actions`); None runs the whole stage.

    Returns {"project", "stage", "ok", "errors", ...}: for a project stage also "status",
    "revision" and "data" (the saved artifact); for a per-scene stage "scenes", a list of those
    per scene. Raises InputError when a stage made nothing at all (the reason in words).
    """
    if not stage.per_scene:
        result = runner.run(project_id, stage, action=action, seed=seed, guidance=guidance, progress=progress)
        _raise_if_nothing_made(result)
        return {"project": project_id, "stage": stage.value, **_result_json(runner, project_id, result)}
    scene_ids = _scenes(runner, project_id, scene_id)
    rows = []
    for i, sid in enumerate(scene_ids):
        part = _part(progress, i, len(scene_ids), runner.view(project_id).state.scene_label(sid))
        result = runner.run(project_id, stage, sid, action, seed=seed, guidance=guidance, progress=part)
        _raise_if_nothing_made(result)
        rows.append({"scene": sid, **_result_json(runner, project_id, result)})
    return {"project": project_id, "stage": stage.value, "ok": all(r["ok"] for r in rows),
            "errors": [e for r in rows for e in r["errors"]], "scenes": rows}


def run_action(runner: Runner, project_id: str, stage: str, scene_id: str, action: Any, *, seed: int | None = 0,
               guidance: str = "", progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run one typed action of a stage: `action` is a dict (or its JSON text) with a `kind`.

    Raises:
        InputError: an unknown stage, or an action that does not fit it (naming the field).
    """
    st = parse_stage(stage)
    if isinstance(action, str):
        try:
            action = json.loads(action) if action.strip() else {}
        except json.JSONDecodeError:
            raise InputError("The action is not valid JSON; send an object such as {\"kind\": \"...\"}.") from None
    return run_stage(runner, project_id, st, scene_id, seed=seed, guidance=guidance,
                     action=actions.parse(st, action if action is not None else {}), progress=progress)


def animatics(runner: Runner, project_id: str, scene_id: str = "") -> list[Path]:
    """The animatic file of each scene asked for ('' every scene), in script order."""
    view = runner.view(project_id)
    paths = []
    for sid in _scenes(runner, project_id, scene_id):
        clips = view.data(Stage.VIDEO, sid) or {}
        key = clips.get("animatic")
        if not key:
            raise InputError(f"{view.state.scene_label(sid)} has no animatic yet; run the video stage for it.")
        paths.append(runner.media_path(key))
    return paths


def export_zip(runner: Runner, project_id: str, out_dir: Path) -> tuple[Path, list[str]]:
    """Every deliverable of the project in one zip; also what could not be exported and why."""
    from aiuteur.exports import export_all, safe_name

    title = runner.view(project_id).project.title
    files_dir = out_dir / "files"
    written, missing = export_all(runner, project_id, files_dir)
    archive = out_dir / f"{safe_name(title)}_deliverables.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in written:
            z.write(path, path.relative_to(files_dir).as_posix())
        if missing:
            z.writestr("NOT_EXPORTED.txt", "".join(f"{m}\n" for m in missing))
    return archive, missing


def status(runner: Runner, project_id: str) -> dict[str, Any]:
    """{stages: {name: status}, scenes: [{id, number, heading, label, stages}], position, branch}."""
    view = runner.view(project_id)
    scenes = []
    for s in view.state.scenes:
        per_scene = view.scene_statuses(s["id"])
        scenes.append({"id": s["id"], "number": s.get("number"), "heading": s.get("heading", ""),
                       "label": view.state.scene_label(s["id"]),
                       "stages": {st.value: per_scene[st].value for st in STAGE_ORDER if st.per_scene}})
    return {
        "project": project_id,
        "title": view.project.title,
        "branch": {"id": view.branch.id, "name": view.branch.name},
        "stages": {st.value: view.statuses[st].value for st in STAGE_ORDER},
        "revisions": {st.value: view.revision(st) for st in STAGE_ORDER if not st.per_scene},
        "scenes": scenes,
        "position": {"stage": view.position.stage.value, "scene": view.position.scene_id},
    }


def run_until(runner: Runner, project_id: str, until: str, *, seed: int = 0,
              progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run every stage up to `until` with default choices; the same JSON as `aiuteur run --json`."""
    stage = parse_stage(until)
    steps = list(headless.run_until(runner, project_id, stage, seed=seed, progress=progress))
    failed = [s for s in steps if s.failed]
    state = runner.view(project_id).state
    assets: Counter[str] = Counter()
    for a in state.registry_assets():
        if not a.get("removed"):
            assets[a.get("category", "other")] += 1
    shots = sum(len((state.data(Stage.SHOTS, sid) or {}).get("shots", [])) for sid in state.scene_ids)
    frames = sum(sum(1 for f in (state.data(Stage.FRAMES, sid) or {}).get("frames", []) if f.get("image"))
                 for sid in state.scene_ids)
    outputs: list[str] = []
    media = runner.media_paths(project_id, must_exist=False)
    for s in steps:
        for t in s.result.takes if s.result else []:
            for key in t.media:
                path = str(media(key))
                if path not in outputs:
                    outputs.append(path)
    result: dict[str, Any] = {
        "project": project_id,
        "stages": {st.value: graph.status(state, st).value for st in STAGE_ORDER},
        "scenes": len(state.scene_ids),
        "assets": dict(assets),
        "shots": shots,
        "frames": frames,
        "model_calls": dict(runner.engines.calls),
        "outputs": outputs,
    }
    if failed:
        result["stopped"] = {"stage": failed[0].stage.value, "why": failed[0].what}
    return result


def _scenes(runner: Runner, project_id: str, scene_id: str) -> list[str]:
    ids = runner.view(project_id).state.scene_ids
    if not ids:
        raise InputError("The master script has no scenes yet; write or import the script first.")
    if scene_id:
        if scene_id not in ids:
            raise InputError(f"No scene {scene_id!r} in the master script of this branch; "
                             f"scenes are: {', '.join(ids)}.")
        return [scene_id]
    return ids


def _stage_statuses(runner: Runner, project_id: str) -> dict[str, str]:
    return {st.value: s.value for st, s in runner.view(project_id).statuses.items()}


def _result_json(runner: Runner, project_id: str, result: RunResult) -> dict[str, Any]:
    view = runner.view(project_id)
    sid = result.scene_id
    st = view.scene_statuses(sid)[result.stage] if sid else view.statuses[result.stage]
    return {"ok": result.ok, "errors": result.errors, "status": st.value,
            "revision": result.record.revision if result.record else view.revision(result.stage, sid),
            "data": view.data(result.stage, sid)}


def _raise_if_nothing_made(result: RunResult) -> None:
    if result.record is None and not result.ok:
        where = f" ({result.scene_id})" if result.scene_id else ""
        raise InputError(f"{result.stage.title}{where} failed: {'; '.join(result.errors)}")


def _part(progress: ProgressFn | None, i: int, n: int, label: str) -> ProgressFn | None:
    """Progress of scene i of n, as a share of the whole run."""
    if progress is None:
        return None
    report = progress
    return lambda f, what: report((i + f) / n, f"{label}: {what}")


# --- Gradio wiring ---------------------------------------------------------------------------------


def _errors_in_words(fn: Callable[P, R]) -> Callable[P, R]:
    """An AiuteurError becomes gr.Error with its message; anything else one plain line (logged)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except AiuteurError as e:
            raise gr.Error(_one_line(str(e)), print_exception=False) from None
        except Exception as e:
            log.warning("client API %s failed", fn.__name__, exc_info=True)
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise gr.Error(_one_line(f"{type(e).__name__}: {first}" if first else type(e).__name__),
                           print_exception=False) from None

    return wrapper


def _one_line(message: str, limit: int = 600) -> str:
    """A refusal as one line of reasonable length (a hostile value quoted in it is cut)."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _short(value: str | None, what: str, limit: int = 200) -> str:
    """An id-like field (project, scene, mode, stage) checked for length before anything uses it."""
    value = value or ""
    if len(value) > limit:
        raise InputError(f"The {what} is {len(value):,} characters long; it is at most {limit}.")
    return value


def _progress_fn(progress: gr.Progress) -> ProgressFn:
    return lambda fraction, what: progress(fraction, desc=what)


def _seed(seed: float | None) -> int | None:
    return None if seed is None else int(seed)


@dataclass(frozen=True)
class _Wiring:
    """What every group of endpoints shares: the hidden input and output fields, and `on` to add one."""

    ctx: AppContext
    project_id: gr.Textbox
    title: gr.Textbox
    file: gr.File
    text: gr.Textbox
    mode: gr.Textbox
    scene_id: gr.Textbox
    seed: gr.Number
    revision: gr.Number
    base_revision: gr.Number
    guidance: gr.Textbox
    stage: gr.Textbox
    action_json: gr.JSON
    out_text: gr.Textbox
    out_json: gr.JSON
    out_file: gr.File
    out_files: gr.File
    trigger: gr.Button
    tracker: gr.Progress  # the default Gradio swaps for each event's own progress tracker

    def runner_for(self, request: gr.Request | None) -> Runner:
        return self.ctx.runner_for(request)

    def on(self, fn: Callable[..., Any], inputs: list[Any], output: Any, name: str, *, model: bool = False) -> None:
        """One endpoint: `fn` as an event of the hidden trigger, errors in words; model work on the GPU queue."""
        gpu: dict[str, Any] = {"concurrency_id": GPU, "concurrency_limit": 1} if model else {}
        self.trigger.click(_errors_in_words(fn), inputs, output, api_name=name, show_progress="hidden", **gpu)


def register(ctx: AppContext) -> None:
    """Add the client API to the Blocks being built: hidden inputs, a hidden trigger, one event each."""
    with gr.Column(visible=False, elem_id="aiu-client-api"):
        w = _Wiring(
            ctx, project_id=gr.Textbox(label="project_id"), title=gr.Textbox(label="title"),
            file=gr.File(label="file", type="filepath"), text=gr.Textbox(label="text"),
            mode=gr.Textbox(label="mode"), scene_id=gr.Textbox(label="scene_id"),
            seed=gr.Number(label="seed", value=0, precision=0),
            revision=gr.Number(label="revision", value=None, precision=0),
            base_revision=gr.Number(label="revision", value=0, precision=0),  # optional: 0, nothing saved yet
            guidance=gr.Textbox(label="guidance"), stage=gr.Textbox(label="stage"),
            action_json=gr.JSON(label="action"), out_text=gr.Textbox(label="id"), out_json=gr.JSON(label="result"),
            out_file=gr.File(label="file"), out_files=gr.File(label="files", file_count="multiple"),
            trigger=gr.Button("client API"), tracker=gr.Progress())
    _register_projects(w)
    _register_project_stages(w)
    _register_scene_stages(w)
    _register_delivery(w)


def _register_projects(w: _Wiring) -> None:
    """1. Projects and input (no model)."""

    def create_project(title: str, request: gr.Request) -> str:
        """Create a project; returns its id."""
        return w.runner_for(request).create_project(title).id

    def import_script_(project_id: str, file: str | None, revision: float | None, request: gr.Request,
                       progress: gr.Progress = w.tracker) -> dict[str, Any]:
        """Import a screenplay (skip to script) into the project ('' creates one), replacing the input
        revision you read (none or 0 for a project with no input yet); returns its summary."""
        return import_script(w.runner_for(request), _short(project_id, "project id"), file or "",
                             revision=None if revision is None else int(revision), progress=_progress_fn(progress))

    def set_story_(project_id: str, text: str, mode: str, revision: float | None,
                   request: gr.Request) -> dict[str, Any]:
        """Save the story text with a mode (expand, condense, transform, skip_to_script, skip_to_stage4),
        replacing the input revision you read (0 for a new project)."""
        return set_story(w.runner_for(request), _short(project_id, "project id"), text, _short(mode, "mode"),
                         None if revision is None else int(revision))

    def story_(project_id: str, request: gr.Request) -> dict[str, Any]:
        """The story text, mode and input revision (give that revision back to /set_story)."""
        return get_story(w.runner_for(request), _short(project_id, "project id"))

    w.on(create_project, [w.title], w.out_text, "create_project")
    w.on(story_, [w.project_id], w.out_json, "story")
    w.on(import_script_, [w.project_id, w.file, w.base_revision], w.out_json, "import_script")
    w.on(set_story_, [w.project_id, w.text, w.mode, w.revision], w.out_json, "set_story")


def _register_project_stages(w: _Wiring) -> None:
    """2. Phase A stages (project level, models)."""

    def project_stage(st: Stage) -> Callable[..., dict[str, Any]]:
        def run(project_id: str, seed: float | None, guidance: str, request: gr.Request,
                progress: gr.Progress = w.tracker) -> dict[str, Any]:
            return run_stage(w.runner_for(request), project_id, st, seed=_seed(seed), guidance=guidance or "",
                             progress=_progress_fn(progress))
        run.__name__ = st.value
        return run

    for st, name in ((Stage.TREATMENT, "treatment"), (Stage.BEATS, "beats"), (Stage.SCRIPT, "script")):
        w.on(project_stage(st), [w.project_id, w.seed, w.guidance], w.out_json, name, model=True)

    def extract_assets(project_id: str, seed: float | None, request: gr.Request,
                       progress: gr.Progress = w.tracker) -> dict[str, Any]:
        return run_stage(w.runner_for(request), project_id, Stage.ASSETS, seed=_seed(seed),
                         progress=_progress_fn(progress))

    w.on(extract_assets, [w.project_id, w.seed], w.out_json, "extract_assets", model=True)


def _register_scene_stages(w: _Wiring) -> None:
    """3. Phase B stages (per scene; '' runs every scene in order), and any stage's typed action."""

    def scene_stage(st: Stage) -> Callable[..., dict[str, Any]]:
        def run(project_id: str, scene_id: str, seed: float | None, request: gr.Request,
                progress: gr.Progress = w.tracker) -> dict[str, Any]:
            return run_stage(w.runner_for(request), project_id, st, scene_id or "", seed=_seed(seed),
                             progress=_progress_fn(progress))
        run.__name__ = st.value
        return run

    for st, name in ((Stage.SHOTS, "shot_list"), (Stage.ASSET_STATES, "asset_states"),
                     (Stage.PROMPTS, "prompts"), (Stage.FRAMES, "frames")):
        w.on(scene_stage(st), [w.project_id, w.scene_id, w.seed], w.out_json, name, model=True)

    def confirm(project_id: str, scene_id: str, request: gr.Request) -> dict[str, Any]:
        """Confirm the video pass of a scene ('' every scene) after its cost estimate."""
        return run_stage(w.runner_for(request), project_id, Stage.CONFIRM, scene_id or "",
                         action=Estimate(confirm=True))

    w.on(confirm, [w.project_id, w.scene_id], w.out_json, "confirm")

    def run_action_(project_id: str, stage: str, scene_id: str, action: Any, seed: float | None, guidance: str,
                    request: gr.Request, progress: gr.Progress = w.tracker) -> dict[str, Any]:
        """Any action of any stage, as JSON with its `kind` (e.g. {"kind": "master_reference",
        "asset_id": "..."}); a bad action is refused naming the field."""
        return run_action(w.runner_for(request), _short(project_id, "project id"), stage, scene_id or "", action,
                          seed=_seed(seed), guidance=guidance or "", progress=_progress_fn(progress))

    w.on(run_action_, [w.project_id, w.stage, w.scene_id, w.action_json, w.seed, w.guidance], w.out_json,
         "run_action", model=True)

    def video(project_id: str, scene_id: str, seed: float | None, request: gr.Request,
              progress: gr.Progress = w.tracker) -> list[str]:
        """Render a scene ('' every scene) and return its animatic file(s), in script order."""
        runner = w.runner_for(request)
        run_stage(runner, project_id, Stage.VIDEO, scene_id or "", seed=_seed(seed), progress=_progress_fn(progress))
        return [str(p) for p in animatics(runner, project_id, scene_id or "")]

    w.on(video, [w.project_id, w.scene_id, w.seed], w.out_files, "video", model=True)

    def animatics_(project_id: str, scene_id: str, request: gr.Request) -> list[str]:
        """The animatic file(s) already made for a scene ('' every scene), without rendering."""
        return [str(p) for p in animatics(w.runner_for(request), project_id, scene_id or "")]

    w.on(animatics_, [w.project_id, w.scene_id], w.out_files, "animatics")


def _register_delivery(w: _Wiring) -> None:
    """4. Export, status, headless run."""

    def export(project_id: str, request: gr.Request) -> str:
        """Every deliverable in one zip (a NOT_EXPORTED.txt inside lists what could not be made).

        The zip is served only to its owner; the working folder is removed even when refused."""
        runner = w.runner_for(request)
        work = Path(tempfile.mkdtemp(prefix="aiuteur-api-"))
        try:
            path, _ = export_zip(runner, _short(project_id, "project id"), work)
            return w.ctx.files.hand_out(path, runner.owner, w.out_file.GRADIO_CACHE)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def status_(project_id: str, request: gr.Request) -> dict[str, Any]:
        return status(w.runner_for(request), project_id)

    def run_until_(project_id: str, stage: str, seed: float | None, request: gr.Request,
                   progress: gr.Progress = w.tracker) -> dict[str, Any]:
        return run_until(w.runner_for(request), project_id, stage, seed=_seed(seed) or 0,
                         progress=_progress_fn(progress))

    w.on(export, [w.project_id], w.out_file, "export")
    w.on(status_, [w.project_id], w.out_json, "status")
    w.on(run_until_, [w.project_id, w.stage, w.seed], w.out_json, "run_until", model=True)


def iter_endpoints() -> Iterator[str]:
    """The endpoint names as a client passes them ("/create_project", ...)."""
    return (f"/{name}" for name in ENDPOINTS)
