"""The headless command line: the same pipeline as the web app, for GPU boxes and scripts.

It is one client of the runner, like the UI and the client API. Errors print one line to
stderr and exit non-zero; no traceback reaches the user (set AIUTEUR_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from aiuteur import __version__
from aiuteur.domain import (
    STAGE_ORDER,
    AiuteurError,
    InputError,
    Stage,
    StoryInput,
    parse_stage,
)

MAX_FILE_BYTES = 20 * 1024 * 1024
SCREENPLAY_EXTS = {".fountain", ".spmd", ".fdx", ".pdf"}
STORY_EXTS = {".txt", ".md", ".markdown", ".text"}

log = logging.getLogger("aiuteur")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read_file(path_str: str) -> tuple[bytes, str]:
    path = Path(path_str)
    if not path.is_file():
        raise InputError(f"{path_str}: no such file.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path.name} is empty; give a file with a story or a screenplay in it.")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path.name} is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
    return path.read_bytes(), path.name


def _decode_story(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise InputError(f"{name} looks like a binary file, not text; save it as .txt or .md.")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{name} is not readable text (unknown encoding); save it as UTF-8.")


def _runner() -> Any:
    from aiuteur.pipeline.runner import Runner
    from aiuteur.store import open_store

    return Runner(open_store())


# --- commands -------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from aiuteur.ui.app import launch_app

    launch_app(host=args.host, port=args.port)  # the same app, media and sign-in as `python app.py`
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from aiuteur.settings import data_home

    home = data_home()
    report: dict[str, Any] = {
        "aiuteur": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "data_folder": str(home.path),
        "data_folder_why": home.why,
    }
    if home.warning:
        report["warning"] = home.warning
    try:
        import torch

        report["torch"] = torch.__version__
        report["device"] = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception as e:  # doctor reports, never fails
        report["torch"] = f"not importable ({e})"
    try:
        from aiuteur.engines.profiles import active_profile, families_line, profile_report

        profile, why = active_profile()
        report["profile"] = getattr(profile, "name", str(profile))
        report["profile_why"] = why
        report["families"] = families_line(profile)
        report["profiles"] = profile_report()
        if os.environ.get("AIUTEUR_RAY_ADDRESS") or getattr(profile, "tables", {}).get("cluster"):
            from aiuteur.engines.cluster import settings_for

            settings = settings_for(profile)
            report["cluster"] = (f"{settings.address}: {', '.join(settings.kinds)} on the cluster"
                                 if settings else "in-process")
    except ImportError as e:
        report["profile"] = f"unknown (engine profiles not available: {e})"
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for k, v in report.items():
            if k == "profiles":
                print("profiles:")
                for line in v if isinstance(v, list) else [v]:
                    print(f"  {line}")
            else:
                print(f"{k}: {v}")
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    """Deploy the profile's heavy engines as Ray Serve replicas on a running cluster."""
    from aiuteur.engines.cluster import deploy_all
    from aiuteur.engines.profiles import load_profile
    from aiuteur.settings import data_home

    if args.address:
        os.environ["AIUTEUR_RAY_ADDRESS"] = args.address
    if args.replicas:
        os.environ["AIUTEUR_RAY_REPLICAS"] = str(args.replicas)
    if args.cpus:
        os.environ["AIUTEUR_RAY_CPUS_PER_REPLICA"] = str(args.cpus)
    profile = load_profile(args.profile)
    names = deploy_all(profile, data_home().models, report=lambda line: print(line, flush=True))
    print(f"deployed {len(names)} application(s): {', '.join(names)}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    from aiuteur.store import open_store

    cards = open_store().list_projects(search=args.search or "")
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in cards], indent=2))
        return 0
    if not cards:
        print("No projects yet. Start one with: python -m aiuteur run --story FILE --until script")
    for c in cards:
        print(f"{c.id}  {c.title[:40]:40}  {c.scene_label:24}  {c.updated_at[:16]}")
    return 0


def _story_input(args: argparse.Namespace) -> tuple[StoryInput, str]:
    from aiuteur.pipeline.inputs import screenplay_input, story_input

    if args.script:
        data, name = _read_file(args.script)
        story, title, _ = screenplay_input(data, name)
        return story, title
    data, name = _read_file(args.story)
    if Path(name).suffix.lower() in SCREENPLAY_EXTS:
        raise InputError(f"{name} looks like a screenplay; pass it with --script instead of --story.")
    text = _decode_story(data, name)
    if not text.strip():
        raise InputError(f"{name} has no text in it.")
    title = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), Path(name).stem)[:80]
    return story_input(text, name=name), title


def cmd_run(args: argparse.Namespace) -> int:
    from aiuteur.pipeline import graph
    from aiuteur.pipeline.headless import run_until
    from aiuteur.pipeline.scene_ids import keep_scene_ids

    until = parse_stage(args.until)
    runner = _runner()
    if args.project:
        view = runner.view(args.project)
        pid = view.project.id
        if args.script:
            from aiuteur.domain import Script
            from aiuteur.screenplay import import_screenplay

            data, name = _read_file(args.script)
            new = import_screenplay(data, name)
            old = view.data(Stage.SCRIPT)
            merged = keep_scene_ids(Script.model_validate(old) if old else None, new)
            # from the revision read above: a save by the app in between is refused, not overwritten
            runner.save(pid, Stage.SCRIPT, merged, source="edited", base_revision=view.revision(Stage.SCRIPT))
        elif args.story:
            story, _ = _story_input(args)
            runner.save(pid, Stage.INPUT, story, base_revision=view.revision(Stage.INPUT))
    else:
        if not (args.story or args.script):
            raise InputError("Give --story FILE or --script FILE (or --project ID to resume).")
        story, title = _story_input(args)
        pid = runner.create_project(title).id
        runner.save(pid, Stage.INPUT, story, base_revision=0)

    def progress(fraction: float, what: str) -> None:
        if not args.quiet:
            _stderr(f"[{fraction:4.0%}] {what}")

    steps = list(run_until(runner, pid, until, seed=args.seed, confirm=True if args.confirm else None,
                           progress=progress))
    failed = [s for s in steps if s.failed]
    for s in steps:
        if not args.quiet:
            where = f" ({s.scene_id})" if s.scene_id else ""
            _stderr(f"  {s.stage.value}{where}: {s.what}")
    view = runner.view(pid)
    state = view.state
    assets: Counter[str] = Counter()
    for a in state.registry_assets():
        if not a.get("removed"):
            assets[a.get("category", "other")] += 1
    shots = sum(len((state.data(Stage.SHOTS, sid) or {}).get("shots", [])) for sid in state.scene_ids)
    frames = sum(
        sum(1 for f in (state.data(Stage.FRAMES, sid) or {}).get("frames", []) if f.get("image"))
        for sid in state.scene_ids
    )
    outputs: list[str] = []
    media = runner.media_paths(pid, must_exist=False)
    for s in steps:
        if s.result:
            for t in s.result.takes:
                for key in t.media:
                    path = str(media(key))
                    if path not in outputs:
                        outputs.append(path)
    result = {
        "project": pid,
        "stages": {stage.value: graph.status(state, stage).value for stage in STAGE_ORDER},
        "scenes": len(state.scene_ids),
        "assets": dict(assets),
        "shots": shots,
        "frames": frames,
        "model_calls": dict(runner.engines.calls) if runner._engines is not None else {},
        "outputs": outputs,
    }
    if failed:
        result["stopped"] = {"stage": failed[0].stage.value, "why": failed[0].what}
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 1 if failed else 0


def cmd_import_script(args: argparse.Namespace) -> int:
    from aiuteur.screenplay import import_screenplay, script_summary

    data, name = _read_file(args.file)
    summary = script_summary(import_screenplay(data, name))
    print(json.dumps(summary, ensure_ascii=False, indent=None if args.json else 2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from aiuteur.exports import export_all

    if not args.all:
        raise InputError("Say what to export: --all DIR writes every deliverable.")
    runner = _runner()
    written, missing = export_all(runner, args.project, Path(args.all))
    for p in written:
        print(p)
    for what in missing:
        _stderr(f"not exported: {what}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from aiuteur.engines import profiles

    if args.action == "prepare":
        from aiuteur.engines.prepare import prepare_profile

        def progress(fraction: float, what: str) -> None:
            _stderr(f"[{fraction:4.0%}] {what}")

        for line in prepare_profile(args.profile or "offline", progress=progress):
            print(line)
        return 0
    for line in profiles.profile_report():
        print(line)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from aiuteur.evals.harness import EvalConfig, parse_pins, read_json, run_eval, write_json
    from aiuteur.evals.report import compare, markdown, write_markdown

    if args.compare:
        a, b = (read_json(Path(p)) for p in args.compare)
        print(compare(a, b))
        return 0
    if args.report:
        doc = read_json(Path(args.report))
        if args.rescore:
            from aiuteur.evals.harness import rescore

            doc = rescore(doc)
            if args.out:
                write_json(Path(args.out), doc)
    elif args.replay:
        from aiuteur.evals.replay import ReplayConfig, replay

        doc = replay(ReplayConfig(
            source=Path(args.replay), start=parse_stage(getattr(args, "from")),
            profile=args.profile or os.environ.get("AIUTEUR_PROFILE", "") or "offline",
            stories=[s for v in args.stories for s in v.split(",") if s.strip()], label=args.label, seed=args.seed,
            out=Path(args.out) if args.out else None, prompt_versions=parse_pins(args.prompt_version)),
            say=(lambda line: None) if args.quiet else _stderr)
    else:
        config = EvalConfig(
            profile=args.profile or os.environ.get("AIUTEUR_PROFILE", "") or "offline",
            stories=[s for v in args.stories for s in v.split(",") if s.strip()],
            prompt_versions=parse_pins(args.prompt_version),
            label=args.label, seed=args.seed, out=Path(args.out) if args.out else None,
            until=parse_stage(args.until), attempts=args.attempts,
        )
        doc = run_eval(config, say=(lambda line: None) if args.quiet else _stderr)
    if args.markdown:
        write_markdown(doc, Path(args.markdown))
    print(json.dumps(doc.get("summary", {})) if args.json else markdown(doc))
    if not args.report:
        _stderr(f"results: {doc['run'].get('out')}")
    return 0


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aiuteur",
                                description="Aiuteur: turn a written story into a short AI film, stage by stage.")
    p.add_argument("--version", action="version", version=f"aiuteur {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="start the web app")
    s.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("doctor", help="Python, torch, device, active model profile and why, weights present")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_doctor)

    s = sub.add_parser("projects", help="list projects")
    s.add_argument("--search", default="")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_projects)

    stages = ", ".join(st.value for st in STAGE_ORDER[1:])
    s = sub.add_parser("run", help="create or resume a project and run every stage up to --until")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--story", metavar="FILE", help="a story or idea (.txt, .md)")
    src.add_argument("--script", metavar="FILE", help="a screenplay (.fountain, .fdx, .pdf, .txt): skip to script")
    s.add_argument("--project", metavar="ID", help="resume this project (with --script: replace its master script)")
    s.add_argument("--until", required=True, metavar="STAGE", help=f"last stage to run: {stages}")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--confirm", action="store_true",
                   help="confirm the video pass's GPU cost (otherwise only cheap passes, under "
                        "AIUTEUR_AUTO_CONFIRM_GPU_S, run without asking)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("import-script", help="parse a screenplay and print its scenes, characters and locations")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--json", action="store_true", help="one line of JSON")
    s.set_defaults(func=cmd_import_script)

    s = sub.add_parser("export", help="write a project's deliverables")
    s.add_argument("project", metavar="ID")
    s.add_argument("--all", metavar="DIR", help="write every deliverable into DIR")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("eval", help="run the eval corpus through stages 2-9 and measure the artifacts",
                       description="Run corpus stories (evals/corpus) through stages 2-9 on a profile and measure "
                                   "them; results go to evals/runs/*.json and, with --markdown, a table in a file. "
                                   "AIUTEUR_OPENAI_BASE_URL sends the text to an OpenAI-compatible server.")
    s.add_argument("--profile", help="model profile (default: AIUTEUR_PROFILE, else offline)")
    s.add_argument("--stories", action="append", default=[], metavar="SLUG[,SLUG]",
                   help="corpus stories to run (default: all)")
    s.add_argument("--prompt-version", action="append", default=[], metavar="STAGE[/ROLE]=vN",
                   help="pin prompt versions, e.g. script=v1 or treatment/system=v2 (repeatable; also with --replay)")
    s.add_argument("--label", default="", help="name of this run in the table (default: the profile)")
    s.add_argument("--until", default="prompts", metavar="STAGE", help="last stage to run (default: prompts)")
    s.add_argument("--attempts", type=int, choices=range(1, 6), metavar="N",
                   help="max attempts of the stages that re-ask the model, 1-5 (default: each stage's own)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", metavar="FILE", help="result JSON (default: evals/runs/<run id>.json)")
    s.add_argument("--markdown", metavar="FILE", help="write the run's table into FILE (e.g. docs/evals.md)")
    s.add_argument("--report", metavar="RESULT.json", help="no run: print (and --markdown) an earlier result")
    s.add_argument("--rescore", action="store_true",
                   help="with --report: measure its saved artifacts again with today's labels and metrics "
                        "(--out writes the rescored result)")
    s.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="no run: two results side by side")
    s.add_argument("--replay", metavar="RESULT.json",
                   help="make stage 5 (or 8) and stage 8 again on the saved script and shot lists of an earlier result")
    s.add_argument("--from", default="assets", metavar="STAGE", help="with --replay: assets (default) or asset_states")
    s.add_argument("--json", action="store_true", help="print the summary as JSON instead of markdown")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("workers", help="deploy the profile's image, matting and video engines on a Ray cluster")
    s.add_argument("--profile", default=os.environ.get("AIUTEUR_PROFILE", "studio"))
    s.add_argument("--address", default="", help="the cluster (default: AIUTEUR_RAY_ADDRESS or the profile's "
                                                 "[cluster] address; 'auto' joins the local one)")
    s.add_argument("--replicas", type=int, default=0, help="replicas per engine (default: the profile's)")
    s.add_argument("--cpus", type=float, default=0.0, help="CPUs each replica reserves (default: the profile's, else 1)")
    s.set_defaults(func=cmd_workers)

    s = sub.add_parser("models", help="list model profiles and what of each is present; prepare weights")
    s.add_argument("action", nargs="?", choices=["list", "prepare"], default="list")
    s.add_argument("profile", nargs="?", help="profile to prepare (default: offline)")
    s.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("AIUTEUR_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AiuteurError as e:
        _stderr(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        _stderr("interrupted")
        return 130
    except Exception as e:  # one line for the user, the traceback only on request
        if os.environ.get("AIUTEUR_DEBUG"):
            raise
        _stderr(f"error: {type(e).__name__}: {e} (set AIUTEUR_DEBUG=1 for details)")
        return 1
