"""Run a stage's independent items together, each as soon as what it depends on is done.

Keyframes and clips are items: on one machine they run one after another, in order, in the
calling thread (exactly as before); with several cluster replicas up to `workers` run at once.
The calling thread prepares each item (reading what earlier items made) and receives each result
as it finishes, so every store write stays in one thread and the outcome does not depend on the
order in which the cluster finished.

    def prepare(item) -> Callable[[], R]:  # in this thread: read state, return the model call
    def finish(item, result) -> bool:      # in this thread: save; False stops new submissions
    run_items(items, prepare, finish, workers=2, after={end: {start}}, cancelled=ctx.cancelled)
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


def run_items(
    items: Sequence[K],
    prepare: Callable[[K], Callable[[], R]],
    finish: Callable[[K, R], bool],
    *,
    workers: int = 1,
    after: Mapping[K, set[K]] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    on_cancel: Callable[[], object] | None = None,
) -> list[K]:
    """Run every item; returns the items that finished, in the order they finished.

    `after[item]` names items of this batch that must finish first (others are ignored). An item
    is submitted in list order among those ready. When `finish` returns False or `cancelled()`
    becomes true, nothing new is submitted; items already running finish and are handed to
    `finish` (their work is kept), and `on_cancel` is called once on cancellation (to cancel
    queued cluster requests).
    """
    wanted = set(items)
    deps = {k: {d for d in (after or {}).get(k, set()) if d in wanted and d != k} for k in items}
    done: list[K] = []
    if workers <= 1:
        for item in items:
            if cancelled():
                break
            if not finish(item, prepare(item)()):
                done.append(item)
                break
            done.append(item)
        return done

    finished: set[K] = set()
    pending = list(items)
    running: dict[Future[R], K] = {}
    stop = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aiuteur-batch") as pool:
        while pending or running:
            if not stop and cancelled():
                stop = True
                if on_cancel is not None:
                    on_cancel()
            if not stop:
                for item in [k for k in pending if deps[k] <= finished]:
                    if len(running) >= workers:
                        break
                    pending.remove(item)
                    # each item runs in this job's context: its model calls see the job's stop check
                    running[pool.submit(contextvars.copy_context().run, prepare(item))] = item
            if not running:
                break  # stopped, or what is left waits on an item that never finished
            ready, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
            for future in ready:
                item = running.pop(future)
                result = future.result()
                finished.add(item)
                done.append(item)
                if not finish(item, result):
                    stop = True
    return done


def parallelism(ctx: Any, kind: str) -> int:
    """How many items of `kind` the stage may run at once (the cluster's replicas; 1 in-process)."""
    count = getattr(ctx.engines, "parallelism", None)
    return max(1, int(count(kind))) if callable(count) else 1


def cancel_queued(ctx: Any) -> None:
    """Cancel the stage's cluster requests still queued or running (Stop)."""
    cancel = getattr(ctx.engines, "cancel_all", None)
    if callable(cancel):
        cancel()


def time_left(seconds: float) -> str:
    """'about 40 s left', 'about 3 min left', 'about 1 h 05 min left' (rounded as a person would)."""
    if seconds < 10:
        return "a few seconds left"
    if seconds < 60:
        return f"about {max(10, round(seconds / 5) * 5)} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"about {hours} h {minutes:02d} min left"


class ItemClock:
    """Progress of a batch of items in words: "keyframe 5 of 15, about 40 s left".

    The time left comes from the items measured in this run (wall time per finished item, so
    items running at once count as they really go); before the first one finishes, from
    `prior_s` (seconds one item took earlier on this machine, e.g. from earlier takes), if any.
    """

    def __init__(self, noun: str, total: int, *, prior_s: float | None = None, workers: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.noun, self.total, self.prior_s, self.workers = noun, total, prior_s, max(1, workers)
        self.clock = clock
        self.started = clock()

    def seconds_left(self, done: int) -> float | None:
        left = max(0, self.total - done)
        if done > 0:
            return (self.clock() - self.started) / done * left
        if self.prior_s is not None and self.prior_s > 0:
            return self.prior_s * left / self.workers
        return None

    def line(self, done: int, detail: str = "") -> str:
        """'keyframe 5 of 15 (shot 3A, end frame), about 40 s left'; no guess before anything is measured."""
        text = f"{self.noun} {done} of {self.total}" + (f" ({detail})" if detail else "")
        left = self.seconds_left(done)
        if left is None or done >= self.total:
            return text
        return f"{text}, {time_left(left)}"


def mean_seconds(takes: Iterable[Any], *, model_id: str | None = None, per: Callable[[Any], float] = lambda t: 1.0
                 ) -> float | None:
    """Mean seconds per unit of earlier successful takes (of `model_id` when given); None without any."""
    seconds = units = 0.0
    for t in takes:
        if not getattr(t, "ok", False) or getattr(t, "seconds", 0.0) <= 0:
            continue
        if model_id is not None and getattr(t, "model_id", None) != model_id:
            continue
        n = per(t)
        if n <= 0:
            continue
        seconds, units = seconds + float(t.seconds), units + n
    return seconds / units if units else None


__all__ = ["ItemClock", "cancel_queued", "mean_seconds", "parallelism", "run_items", "time_left"]
