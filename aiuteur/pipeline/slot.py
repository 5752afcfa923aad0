"""The model slot: one model job at a time (or one per cluster replica), and users take turns when
several wait.

A job is one stage for one scene, or one project-level stage (`Runner.run`). A request for every
scene is as many jobs; between two of them the slot goes to whoever else is waiting, so no user
holds it longer than one job while another waits. Among waiters the slot goes to the owner served
least recently (ties: who came first). A waiter whose caller has left (`cancelled()`) gives up its
place with `CancelledJob`; a shared owner may have at most `per_owner` jobs waiting at once.

The slot knows no Gradio: the web app passes each request's `cancelled` check and owner.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiuteur.domain import BusyError, CancelledJob

POLL_S = 0.25  # how often a waiter looks whether its caller is still there


@dataclass(order=True)
class _Waiter:
    served: int
    ticket: int
    owner: str = field(compare=False)


class ModelSlot:
    """A fair, cancellable lock around model work (see the module docstring)."""

    def __init__(self, per_owner: int = 2, capacity: int = 1) -> None:
        """`capacity` jobs may hold the slot at once: 1 on one machine, the replica count on a cluster."""
        self.per_owner = per_owner
        self.capacity = max(1, capacity)
        self._cond = threading.Condition()
        self._holders: set[int] = set()  # thread ids
        self._waiting: list[_Waiter] = []
        self._tickets = itertools.count()
        self._turns = itertools.count(1)
        self._last_served: dict[str, int] = {}
        self.jobs_run = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @contextlib.contextmanager
    def hold(self, owner: str, cancelled: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Wait for the slot (fairly), run the body holding it, then pass it on.

        Raises:
            CancelledJob: the caller left while waiting.
            BusyError: this owner (on a shared instance) already has `per_owner` jobs waiting.
        """
        me = threading.get_ident()
        if me in self._holders:  # a job inside a job (re-entrant): already holding
            yield
            return
        if cancelled():
            raise CancelledJob("The model job was cancelled before it started (its caller left or pressed Stop).")
        with self._cond:
            if owner and sum(1 for w in self._waiting if w.owner == owner) >= self.per_owner:
                raise BusyError(f"You already have {self.per_owner} model jobs waiting for the shared model; "
                                "wait for one to finish, or press Stop.")
            waiter = _Waiter(self._last_served.get(owner, 0), next(self._tickets), owner)
            self._waiting.append(waiter)
            try:
                while len(self._holders) >= self.capacity or min(self._waiting) is not waiter:
                    self._cond.wait(POLL_S)
                    if cancelled():
                        raise CancelledJob("The model job was cancelled while it waited (its caller left or "
                                           "pressed Stop); nothing was saved.")
            finally:
                self._waiting.remove(waiter)
                self._cond.notify_all()
            self._holders.add(me)
            self._last_served[owner] = next(self._turns)
            self.jobs_run += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders.discard(me)
                self._cond.notify_all()
