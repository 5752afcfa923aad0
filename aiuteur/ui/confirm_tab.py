"""Stage 11, confirm: the estimated GPU time and money of the scene's video pass, per shot and in
total, with every assumption in words, a rate to set, and the Confirm button. Nothing is
rendered before the filmmaker confirms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, CostEstimate, InputError, ShotList, Stage
from aiuteur.pipeline.actions import Estimate, build
from aiuteur.pipeline.confirm import confirm_estimate, default_rate
from aiuteur.pipeline.runner import Runner
from aiuteur.ui.tab_api import TabEnv, seen, with_statuses

HEADERS = ["Shot", "GPU time", "Cost", "From"]

# --- pure formatting ---------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """'45 s', '12 min 5 s', '2 h 03 min'."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def rows(est: CostEstimate | None, shots: ShotList | None) -> list[list[str]]:
    if est is None:
        return []
    number = {s.id: s.number for s in (shots.shots if shots else [])}
    out = []
    for shot_id, seconds in est.per_shot_seconds.items():
        cost = seconds / 3600 * est.rate_per_hour
        out.append([number.get(shot_id, "?"), duration(seconds), f"{cost:.2f} {est.currency}",
                    "measured here" if est.measured.get(shot_id) else "rough table"])
    return out


def total_markdown(est: CostEstimate | None) -> str:
    if est is None:
        return "_No estimate yet: estimate the video pass once the keyframes are chosen._"
    if est.animatic_only:
        return "**Total: no GPU time.** This profile has no video model; stage 12 makes the animatic."
    state = "✅ Confirmed." if est.confirmed else "Not confirmed yet: nothing is rendered until you confirm."
    rough = "" if est.measured and all(est.measured.values()) else (
        " Rough: no clip of this model was rendered here yet; the estimate learns from the first pass.")
    wall = (f" The whole pass (clips, the cut, the animatic, the sound) should take about "
            f"{duration(est.wall_seconds)} here." if est.wall_seconds > 0 else "")
    return (f"**Total: {duration(est.total_seconds)} of GPU time ≈ {est.total_cost:.2f} {est.currency}** "
            f"with {est.model_id} at {est.rate_per_hour:.2f} {est.currency} per hour.{wall}{rough} {state}")


def assumptions_markdown(est: CostEstimate | None) -> str:
    return "\n".join(f"- {a}" for a in est.assumptions) if est else ""


# --- layout and events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmTab:
    rate: gr.Number
    estimate: gr.Button
    table: gr.Dataframe
    total: gr.Markdown
    assumptions: gr.Markdown
    confirm: gr.Button
    status: gr.Markdown
    rev: gr.State


def render(env: TabEnv) -> ConfirmTab:
    with gr.Row():
        rate = gr.Number(label="Rate per GPU hour", value=None, minimum=0, precision=2,
                         info="Filled with the rate in use (AIUTEUR_GPU_RATE, else 2.50); change it to yours")
        estimate = gr.Button("Estimate the video pass", variant="primary")
    table = gr.Dataframe(headers=HEADERS, interactive=False, label="Per shot")
    total = gr.Markdown()
    with gr.Accordion("Assumptions", open=True):
        assumptions = gr.Markdown()
    confirm = gr.Button("Confirm: render the video at this cost", variant="stop")
    status = gr.Markdown()
    return ConfirmTab(rate, estimate, table, total, assumptions, confirm, status, gr.State(0))


def _load(runner: Runner, pid: str, sid: str) -> tuple[CostEstimate | None, ShotList | None, int]:
    view = runner.view(pid)
    data = view.data(Stage.CONFIRM, sid)
    shots = view.data(Stage.SHOTS, sid)
    return (CostEstimate.model_validate(data) if data else None,
            ShotList.model_validate(shots) if shots else None, view.revision(Stage.CONFIRM, sid))


def rate_in_use(est: CostEstimate | None) -> float | None:
    """The rate the field shows: the estimate's, else the default in use (never a bare 0 that reads 0.00)."""
    if est is not None and not est.animatic_only:
        return est.rate_per_hour
    try:
        return default_rate()
    except AiuteurError:  # AIUTEUR_GPU_RATE is not a number: the estimate will say so in one sentence
        return None


def listen(tab: ConfirmTab, env: TabEnv) -> None:
    shown = [tab.table, tab.total, tab.assumptions, tab.rev, tab.status, tab.rate]
    then: dict[str, Any] = {"fn": env.refresh, "inputs": [env.project, env.scene], "outputs": list(env.refresh_outputs),
            "api_visibility": "private"}

    def fill(runner: Runner, pid: str | None, sid: str | None, status: str = "") -> list[Any]:
        if not pid or not sid:
            return [[], "", "", 0, status or "Choose a scene first.", gr.skip()]
        est, shots, rev = _load(runner, pid, sid)
        return [rows(est, shots), total_markdown(est), assumptions_markdown(est), rev, status, rate_in_use(est)]

    def on_load(pid: str | None, sid: str | None, request: gr.Request) -> list[Any]:
        return fill(env.runner_for(request), pid, sid)

    env.on_reload(on_load, [env.project, env.scene], shown)

    def on_estimate(pid: str | None, sid: str | None, rate: float | None, request: gr.Request) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid)
        try:  # the filmmaker confirms with the button, never by itself
            action = build(Estimate, confirm=False, rate_per_hour=None if rate is None else float(rate))
            runner.run(pid, Stage.CONFIRM, sid, action)
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, f"⚠️ {e}")
        return fill(runner, pid, sid, "Estimated. Read the assumptions, then confirm.")

    tab.estimate.click(on_estimate, [env.project, env.scene, tab.rate], shown,
                       api_name="confirm_estimate").then(**then)

    def on_confirm(pid: str | None, sid: str | None, rate: float | None, rev: int, request: gr.Request) -> list[Any]:
        runner = env.runner_for(request)
        if not pid or not sid:
            return fill(runner, pid, sid)
        try:
            est, _, _ = _load(runner, pid, sid)
            if est is None:
                raise InputError("Estimate the video pass first; there is nothing to confirm yet.")
            runner.save(pid, Stage.CONFIRM, confirm_estimate(est, float(rate) if rate is not None else None), sid,
                        base_revision=seen(rev))
        except AiuteurError as e:
            gr.Warning(str(e))
            return fill(runner, pid, sid, f"⚠️ {e}")
        return fill(runner, pid, sid, "✅ Confirmed: the video can be rendered in stage 12.")

    tab.confirm.click(*with_statuses(env, on_confirm, [env.project, env.scene, tab.rate, tab.rev], shown),
                      api_name="confirm_scene")
