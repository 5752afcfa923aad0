"""Model work's progress on screen: the stage's own reports ("keyframe 5 of 15, about 40 s left")
shown on the event's progress bar, and so also in the client API's job status."""

from __future__ import annotations

import gradio as gr

from aiuteur.pipeline.stage import ProgressFn


def progress_fn(progress: gr.Progress | None) -> ProgressFn | None:
    """A runner progress callback that writes each report onto the event's progress bar."""
    if progress is None:
        return None
    return lambda fraction, what: progress(fraction, desc=what)


__all__ = ["progress_fn"]
