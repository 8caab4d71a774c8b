"""`triage serve --workers N`: the supervisor's worker slots, each with its own listening socket.

The whole server (rolling restarts under traffic, a stopping server answering the connections it
accepted) is tested in test_api_lifecycle.py; these pin which slot a new worker takes.
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from serving.server import WorkerSlots
from training.bench.api_load import free_port


@pytest.fixture
def slots():
    worker_slots = WorkerSlots("127.0.0.1", free_port(), 2, backlog=16)
    yield worker_slots
    worker_slots.close()


def start(slots: WorkerSlots) -> SimpleNamespace:
    """What `SlotProcess` does: be assigned a slot (a worker not started has no exit code)."""
    worker = SimpleNamespace(exitcode=None)
    slots.assign(worker)
    return worker


def test_workers_take_the_free_slots_in_order(slots):
    assert [start(slots).slot, start(slots).slot] == [0, 1]


def test_a_rolling_restart_gives_each_replacement_the_slot_of_the_worker_it_replaces(slots):
    first, second = start(slots), start(slots)
    for old in (first, second):  # uvicorn: start the replacement, wait until ready, stop the old worker
        new = start(slots)
        assert new.slot == old.slot
        old.exitcode = 0


def test_a_crashed_worker_is_replaced_in_its_slot_and_the_next_restart_still_follows_the_slots(slots):
    first, second = start(slots), start(slots)
    first.exitcode = -9
    replacement = start(slots)
    assert replacement.slot == first.slot
    # SlotMultiprocess.restart_all replaces the oldest worker first: `second`, then `replacement`.
    for old in sorted((replacement, second), key=lambda worker: worker.order):
        new = start(slots)
        assert new.slot == old.slot
        old.exitcode = 0


def test_a_slot_without_a_worker_is_closed_when_one_is_removed(slots):
    slots.add()
    workers = [start(slots) for _ in range(3)]
    workers[1].exitcode = 0
    slots.drop_unserved()
    assert len(slots.sockets) == 2
    assert [worker.slot for worker in slots.running()] == [0, 1]


def test_the_slots_listen_on_one_port_and_keep_a_queued_connection_when_a_worker_leaves(slots):
    port = slots.sockets[0].getsockname()[1]
    assert {sock.getsockname()[1] for sock in slots.sockets} == {port}
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        for sock in slots.sockets:  # a worker's copy of every slot's socket closes: the queue stays
            sock.dup().close()
        accepted = []
        for sock in slots.sockets:
            sock.setblocking(False)
            try:
                accepted.append(sock.accept()[0])
            except BlockingIOError:
                pass
        assert len(accepted) == 1
        client.sendall(b"ping")
        with accepted[0]:
            accepted[0].setblocking(True)
            assert accepted[0].recv(4) == b"ping"
