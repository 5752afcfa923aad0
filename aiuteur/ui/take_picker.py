"""The one take picker of stages 5, 8, 10 and 12: click a take to choose it, Undo to go back.

Every stage with a carousel of takes (master references, scene-instance images, keyframes, clips)
shows it the same way: a gallery of the usable takes, the chosen one marked ("✓ chosen", and
highlighted), one line saying which is chosen, and an Undo button after a click. A single take
that the stage already chose shows as chosen; clicking the chosen take changes nothing.

A tab builds it with `render()`, puts `outputs(picker)` at the END of its own output list, and
appends `show(...)` to the values its fill function returns. It wires the click and the undo with
`listen()`, giving one function that chooses a take by id and returns the tab's refreshed values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from aiuteur.domain import AiuteurError, InputError

#: (request, project, scene, target, revision, take id or None) -> the tab's refreshed values
#: (a list in `shown` order, or a dict by component).
Chooser = Callable[..., Any]


@dataclass(frozen=True)
class Shown:
    """One take as the picker shows it."""

    take_id: str
    media: str  # a path the gallery can show (image or video)
    caption: str  # e.g. "take 2 · 0.91"


@dataclass(frozen=True)
class TakePicker:
    gallery: gr.Gallery
    note: gr.Markdown
    undo: gr.Button
    ids: gr.State  # the take ids shown, in gallery order
    previous: gr.State  # the take that was chosen before the last click (None: nothing to undo)


def render(label: str, *, columns: int = 6, height: int = 200) -> TakePicker:
    """The picker's components, in the current layout block."""
    gallery = gr.Gallery(label=f"{label} (click one to choose it)", columns=columns, height=height,
                         allow_preview=False, interactive=False, elem_classes=["aiu-takes"])
    with gr.Row():
        note = gr.Markdown()
        undo = gr.Button("↶ Undo the choice", size="sm", visible=False, scale=0, min_width=180)
    return TakePicker(gallery, note, undo, gr.State([]), gr.State(None))


def outputs(p: TakePicker) -> list[Any]:
    """The picker's components, in the order `show` fills them (put them last in a tab's outputs)."""
    return [p.gallery, p.note, p.ids, p.undo, p.previous]


SIZE = 5  # len(outputs(...))


def note_text(takes: Sequence[Shown], chosen: str | None, what: str) -> str:
    """'Take 2 of 3 is chosen.' in words; says so when nothing is made or chosen yet."""
    if not takes:
        return f"_No takes of {what} yet._"
    ids = [t.take_id for t in takes]
    if chosen not in ids:
        return f"{len(takes)} take{'s' if len(takes) != 1 else ''} of {what}; none chosen yet: click one to choose it."
    if len(takes) == 1:
        return f"The only take of {what} is chosen."
    return f"Take {ids.index(chosen) + 1} of {len(takes)} of {what} is chosen: click another to choose it."


def show(takes: Sequence[Shown], chosen: str | None, what: str, *, undo_to: str | None = None) -> list[Any]:
    """Values for `outputs(picker)`: the gallery with the chosen take marked, the line, the ids, Undo."""
    ids = [t.take_id for t in takes]
    items = [(t.media, f"✓ chosen · {t.caption}" if t.take_id == chosen else t.caption) for t in takes]
    selected = ids.index(chosen) if chosen in ids else None
    return [gr.Gallery(value=items, selected_index=selected), note_text(takes, chosen, what), ids,
            gr.Button(visible=undo_to is not None), undo_to]


def empty(what: str = "this") -> list[Any]:
    return show([], None, what)


def clicked(ids: Sequence[str] | None, index: Any) -> str:
    """The take id at the clicked position; one sentence when the gallery changed under the click."""
    pos = index[0] if isinstance(index, (list, tuple)) and index else index
    if not ids or pos is None or not 0 <= int(pos) < len(ids):
        raise InputError("That take is no longer shown; click one of the takes on screen.")
    return str(ids[int(pos)])


def show_dict(p: TakePicker, takes: Sequence[Shown], chosen: str | None, what: str) -> dict[Any, Any]:
    """`show` for a tab whose handlers return {component: value}."""
    return dict(zip(outputs(p), show(takes, chosen, what), strict=True))


def _with_undo(p: TakePicker, out: Any, before: str | None) -> Any:
    """The tab's values with Undo offered back to `before` (hidden when None)."""
    if isinstance(out, dict):
        return out | {p.undo: gr.Button(visible=before is not None), p.previous: before}
    return [*out[:-2], gr.Button(visible=before is not None), before]


def listen(p: TakePicker, inputs: Sequence[Any], shown: Sequence[Any], *, chosen_of: Callable[..., str | None],
           choose: Chooser, fail: Chooser, api_name: str, then: dict[str, Any] | None = None) -> None:
    """Wire the click (choose the clicked take) and Undo (choose the one before) for one tab.

    `inputs` are the tab's four inputs: project, scene (or anything), which target (frame, asset,
    shot) and its revision. `chosen_of(runner_request, pid, sid, target)` is the take chosen now;
    `choose(request, pid, sid, target, rev, take_id)` saves the choice (None: only refill) and
    returns the tab's values for `shown` (which ends with `outputs(p)`); `fail(request, pid, sid,
    target, message)` refills the tab with a message after a refusal. `then` (the statuses'
    refresh: `fn`, `inputs`, `outputs`) is answered in the same event when its inputs are the first
    two of `inputs` (project and scene), else chained after.
    """

    folded = then is not None and [id(x) for x in then.get("inputs", ())] == [id(x) for x in inputs[:2]]
    outs = [*shown, *then["outputs"]] if folded and then is not None else list(shown)

    def answer(out: Any, pid: str | None, sid: str | None, request: gr.Request) -> Any:
        """The tab's values, and (`then` folded in) the statuses the choice moved: one event, no chain."""
        if not folded or then is None:
            return out
        statuses = then["fn"](pid, sid, request)
        if isinstance(out, dict):
            return out | dict(zip(then["outputs"], statuses, strict=True))
        return [*out, *statuses]

    def on_click(pid: str | None, sid: str | None, target: str | None, rev: int, ids: list[str] | None,
                 evt: gr.SelectData, request: gr.Request) -> Any:
        try:
            take_id = clicked(ids, evt.index if evt is not None else None)
            before = chosen_of(request, pid, sid, target)
            if take_id == before:  # the chosen take again: nothing changes
                return answer(_with_undo(p, choose(request, pid, sid, target, rev, None), None), pid, sid, request)
            out = choose(request, pid, sid, target, rev, take_id)
        except AiuteurError as e:
            gr.Warning(str(e))
            return answer(fail(request, pid, sid, target, f"⚠️ {e}"), pid, sid, request)
        return answer(_with_undo(p, out, before), pid, sid, request)

    def on_undo(pid: str | None, sid: str | None, target: str | None, rev: int, previous: str | None,
                request: gr.Request) -> Any:
        try:
            if not previous:
                raise InputError("There is no earlier choice to go back to.")
            out = choose(request, pid, sid, target, rev, previous)
        except AiuteurError as e:
            gr.Warning(str(e))
            return answer(fail(request, pid, sid, target, f"⚠️ {e}"), pid, sid, request)
        return answer(_with_undo(p, out, None), pid, sid, request)

    if len(inputs) != 4:
        raise ValueError("take_picker.listen takes four inputs: project, scene, target, revision.")
    click = p.gallery.select(on_click, [*inputs, p.ids], outs, api_name=api_name)
    undo = p.undo.click(on_undo, [*inputs, p.previous], outs, api_name=f"{api_name}_undo")
    if then is not None and not folded:
        click.then(**then)
        undo.then(**then)

__all__ = ["SIZE", "Shown", "TakePicker", "clicked", "empty", "listen", "note_text", "outputs", "render", "show", "show_dict"]
