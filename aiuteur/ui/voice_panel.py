"""Stage 5's voice picker: a character's voice, pitch and rate, a play button that speaks a line of
theirs, and a save button. Self-contained: the assets tab renders it under the chosen asset and
passes its asset dropdown; both buttons go through `Runner.run` (targets `voice_preview:<id>` and
`voice:<id>` of stage 5), the preview on the GPU queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, AssetCategory, ConflictError, Stage, StyleAndAssets
from aiuteur.pipeline.actions import PreviewVoice, SetVoice, build
from aiuteur.ui.tab_api import GPU, TabEnv, seen


@dataclass(frozen=True)
class VoicePanel:
    voice: gr.Dropdown
    pitch: gr.Slider
    rate: gr.Slider
    play: gr.Button
    save: gr.Button
    audio: gr.Audio
    status: gr.Markdown


def render() -> VoicePanel:
    with gr.Accordion("Voice (characters)", open=False):
        with gr.Row():
            voice = gr.Dropdown(label="Voice", choices=[], allow_custom_value=True)
            pitch = gr.Slider(-12, 12, value=0, step=0.5, label="Pitch (semitones)")
            rate = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Rate")
        with gr.Row():
            play = gr.Button("▶ Play a line of theirs", size="sm")
            save = gr.Button("Save this voice", size="sm")
        audio = gr.Audio(label="Preview", type="filepath", interactive=False)
        status = gr.Markdown()
    return VoicePanel(voice, pitch, rate, play, save, audio, status)


def listen(panel: VoicePanel, asset: gr.Dropdown, env: TabEnv, rev: gr.State) -> None:
    """Wire the panel, by purpose: show the picked character's voice, hear it, keep it.

    `rev` is the stage-5 revision the assets tab shows (a save over a newer one is refused)."""
    _listen_showing(panel, asset, env)
    _listen_hearing(panel, asset, env)
    _listen_keeping(panel, asset, env, rev)


def _settings(asset_id: str, voice: str | None, pitch: float, rate: float) -> dict[str, Any]:
    """The panel's fields as the voice actions take them."""
    return {"asset_id": asset_id, "voice": voice or None, "pitch": float(pitch), "rate": float(rate)}


def _listen_showing(panel: VoicePanel, asset: gr.Dropdown, env: TabEnv) -> None:
    """Picking an asset shows its stored voice (or says only characters speak)."""
    def on_pick(pid: str | None, asset_id: str | None, request: gr.Request) -> list[Any]:
        if not pid or not asset_id:
            return [gr.skip()] * 4
        data = env.runner_for(request).view(pid).data(Stage.ASSETS)
        if not data:
            return [gr.skip()] * 4
        try:
            a = StyleAndAssets.model_validate(data).registry.get(asset_id)
        except KeyError:
            return [gr.skip()] * 4
        if a.category != AssetCategory.CHARACTER:
            return [gr.skip(), gr.skip(), gr.skip(), f"{a.name} is a {a.category.value}; only characters speak."]
        if a.voice is None:
            return [gr.skip(), 0, 1.0, "No voice stored yet: press play to hear the default, save to keep it."]
        said = "chosen by you" if a.voice.chosen else "the default (no two speaking characters share one)"
        return [gr.update(value=a.voice.voice), a.voice.pitch, a.voice.rate, f"Voice {a.voice.voice}: {said}."]

    asset.input(on_pick, [env.project, asset], [panel.voice, panel.pitch, panel.rate, panel.status],
                api_visibility="private")


def _listen_hearing(panel: VoicePanel, asset: gr.Dropdown, env: TabEnv) -> None:
    """Play a line of the character's in the panel's voice, on the GPU queue."""
    def on_play(pid: str | None, asset_id: str | None, voice: str | None, pitch: float, rate: float,
                request: gr.Request) -> list[Any]:
        if not pid or not asset_id:
            return [gr.skip(), gr.skip(), "Open a project and choose a character first."]
        runner = env.runner_for(request)
        try:
            result = runner.run(pid, Stage.ASSETS, action=build(PreviewVoice, **_settings(asset_id, voice, pitch, rate)))
        except AiuteurError as e:
            return [gr.skip(), gr.skip(), f"⚠️ {e}"]
        take = result.takes[0]
        out = take.output or {}
        if not take.ok or not take.media:
            return [gr.skip(), gr.skip(), f"⚠️ {take.error or out.get('note') or 'Nothing to play.'}"]
        said = f"“{out.get('text', '')}” in {out.get('voice')}" + (f" — {out['note']}" if out.get("note") else "")
        return [gr.update(choices=list(out.get("voices", [])), value=out.get("voice")),
                str(runner.media_path(take.media[0], pid)), said]

    panel.play.click(on_play, [env.project, asset, panel.voice, panel.pitch, panel.rate],
                     [panel.voice, panel.audio, panel.status], api_name="voice_preview", concurrency_id=GPU,
                     concurrency_limit=1)


def _listen_keeping(panel: VoicePanel, asset: gr.Dropdown, env: TabEnv, rev: gr.State) -> None:
    """Save the voice, from the registry the tab showed: one chosen since is not replaced unseen."""
    def on_save(pid: str | None, asset_id: str | None, voice: str | None, pitch: float, rate: float, shown: int,
                request: gr.Request) -> tuple[str, Any]:
        if not pid or not asset_id:
            return "Open a project and choose a character first.", gr.skip()
        runner = env.runner_for(request)
        try:
            now = runner.view(pid).revision(Stage.ASSETS)
            if now != seen(shown):
                raise ConflictError(f"{Stage.ASSETS.title} was changed by someone else since you opened it (now "
                                    f"revision {now}, yours was {seen(shown)}); the voice was not saved. Reload the "
                                    "project and save it again.")
            result = runner.run(pid, Stage.ASSETS, action=build(SetVoice, **_settings(asset_id, voice, pitch, rate)))
        except AiuteurError as e:
            return f"⚠️ {e}", gr.skip()
        out = result.takes[0].output or {}
        return (f"✅ Saved: {out.get('voice')}, pitch {out.get('pitch'):+g}, rate {out.get('rate'):g}. "
                "Make the shot lists again (stage 7) to hear it.", runner.view(pid).revision(Stage.ASSETS))

    panel.save.click(on_save, [env.project, asset, panel.voice, panel.pitch, panel.rate, rev], [panel.status, rev],
                     api_name="voice_save")
