"""The model slot: one job at a time, users take turns job by job, a caller that left gives up its place."""

from __future__ import annotations

import threading
import time

import pytest

from aiuteur.domain import BusyError, CancelledJob
from aiuteur.pipeline.slot import ModelSlot


def wait_for(cond: object, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_a_greedy_user_and_a_second_user_take_turns_job_by_job() -> None:
    slot = ModelSlot()
    order: list[str] = []
    gate = threading.Event()

    def job(owner: str, n: int) -> None:
        for i in range(n):
            with slot.hold(owner):
                order.append(f"{owner}{i}")
                if owner == "a" and i == 0:
                    gate.wait(10)  # the greedy user's first job runs while b arrives

    greedy = threading.Thread(target=job, args=("a", 5))
    greedy.start()
    wait_for(lambda: order == ["a0"])
    other = threading.Thread(target=job, args=("b", 2))
    other.start()
    wait_for(lambda: slot.waiting == 1)
    gate.set()
    greedy.join(10)
    other.join(10)
    # b waited for at most one of a's jobs each time
    assert order[:5] == ["a0", "b0", "a1", "b1", "a2"], order
    assert sorted(order) == ["a0", "a1", "a2", "a3", "a4", "b0", "b1"]


def test_a_waiting_job_whose_caller_left_gives_up_its_place() -> None:
    slot = ModelSlot()
    left = threading.Event()
    errors: list[BaseException] = []
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with slot.hold("a"):
            inside.set()
            release.wait(10)

    def waiter() -> None:
        try:
            with slot.hold("b", cancelled=left.is_set):
                errors.append(AssertionError("ran after its caller left"))
        except CancelledJob as e:
            errors.append(e)

    t1 = threading.Thread(target=holder)
    t1.start()
    inside.wait(10)
    t2 = threading.Thread(target=waiter)
    t2.start()
    wait_for(lambda: slot.waiting == 1)
    left.set()
    t2.join(10)
    assert len(errors) == 1 and isinstance(errors[0], CancelledJob), errors
    assert "cancelled" in str(errors[0]) and slot.waiting == 0
    release.set()
    t1.join(10)
    with pytest.raises(CancelledJob), slot.hold("c", cancelled=lambda: True):  # gone before it started
        pass


def test_one_shared_user_cannot_queue_more_than_two_jobs() -> None:
    slot = ModelSlot(per_owner=2)
    release = threading.Event()
    inside = threading.Event()

    def holder() -> None:
        with slot.hold("x"):
            inside.set()
            release.wait(10)

    def queued() -> None:
        with slot.hold("a"):
            pass

    threading.Thread(target=holder).start()
    inside.wait(10)
    waiting = [threading.Thread(target=queued) for _ in range(2)]
    for t in waiting:
        t.start()
    wait_for(lambda: slot.waiting == 2)
    with pytest.raises(BusyError, match="already have 2 model jobs waiting"), slot.hold("a"):
        pass
    release.set()
    for t in waiting:
        t.join(10)
    assert slot.jobs_run == 3



def test_a_cluster_slot_lets_one_job_per_replica_run_at_once() -> None:
    import threading
    import time

    from aiuteur.pipeline.slot import ModelSlot

    slot = ModelSlot(capacity=2)
    inside, most, lock = [0], [0], threading.Lock()

    def job() -> None:
        with slot.hold("alice"):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.2)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert most[0] == 2 and slot.jobs_run == 4
