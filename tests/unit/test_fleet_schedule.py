"""The fleet's pure decisions: which shard starts, each shard's verdict, the exit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED
from migrator.fleet import schedule
from migrator.fleet.schedule import fleet_exit, stops_the_fleet, to_start, verdict

pytestmark = pytest.mark.unit

shard_names = st.lists(st.from_regex(r"[a-z][a-z0-9.]{0,8}", fullmatch=True), unique=True,
                       max_size=12)


@given(shard_names, st.integers(0, 40), st.integers(1, schedule.MAX_PARALLEL), st.booleans())
def test_to_start_fills_the_room_in_order(pending: list[str], running: int, parallel: int,
                                          stopping: bool) -> None:
    started = to_start(pending, running, parallel, stopping)
    if stopping:
        assert started == []
        return
    assert started == pending[:len(started)]  # the fleet file's order
    assert running + len(started) <= max(parallel, running)
    assert len(started) == min(len(pending), max(parallel - running, 0))


@given(st.integers(1, 40), st.integers(1, 8), st.lists(st.integers(0, 7), max_size=80),
       st.integers(0, 80))
def test_never_more_than_parallel_running(count: int, parallel: int, ends: list[int],
                                          stop_at: int) -> None:
    """A fleet's whole life: start what may, then some running shard ends; repeat. At no
    moment are more than ``parallel`` running, and nothing starts once stopping."""
    pending = [f"s{i}" for i in range(count)]
    running: list[str] = []
    order: list[str] = []
    stopping = False
    for tick, pick in enumerate([*ends, *([0] * (count + 1))]):
        stopping = stopping or tick == stop_at
        for shard in to_start(pending, len(running), parallel, stopping):
            pending.remove(shard)
            running.append(shard)
            order.append(shard)
        assert len(running) <= parallel
        if running:
            running.pop(pick % len(running))
    assert order == [f"s{i}" for i in range(len(order))]
    assert pending == [] or stopping


@pytest.mark.parametrize(("status", "asked", "expected"), [
    (0, False, schedule.MIGRATED),
    (1, False, schedule.FAILED),
    (2, False, schedule.BAD_INPUT),
    (3, False, schedule.REFUSED),
    (130, True, schedule.STOPPED),
    (130, False, schedule.INTERRUPTED),
    (-9, False, schedule.LOST),
    (None, True, schedule.LOST),
])
def test_verdicts(status: int | None, asked: bool, expected: str) -> None:
    assert verdict(status, asked) == expected


def test_what_stops_the_fleet() -> None:
    assert stops_the_fleet({"event": "alarm", "stop": True})
    assert not stops_the_fleet({"event": "alarm", "stop": False})
    assert stops_the_fleet({"event": "error", "message": "x"})
    assert not stops_the_fleet({"event": "step-finished"})


def test_fleet_exit() -> None:
    fine = [("a", schedule.MIGRATED, 0), ("b", schedule.ALREADY, 0)]
    assert fleet_exit(fine, False) == EXIT_OK
    assert fleet_exit(fine, True) == EXIT_INTERRUPTED
    refused_first = [("a", schedule.REFUSED, 3), ("b", schedule.FAILED, 1),
                     ("c", schedule.NOT_STARTED, None)]
    assert fleet_exit(refused_first, False) == EXIT_REFUSED
    assert fleet_exit([("a", schedule.LOST, -9)], False) == EXIT_FAILED
    assert fleet_exit([("a", schedule.MIGRATED, 0), ("b", schedule.STOPPED, 130)],
                      False) == EXIT_INTERRUPTED
    assert fleet_exit([("a", schedule.NOT_STARTED, None)], False) == EXIT_FAILED


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                          st.sampled_from([schedule.MIGRATED, schedule.ALREADY,
                                           schedule.SKIPPED, schedule.FAILED,
                                           schedule.REFUSED, schedule.NOT_STARTED,
                                           schedule.LOST, schedule.STOPPED]),
                          st.sampled_from([None, 0, 1, 2, 3, 130, -9]))),
       st.booleans())
def test_exit_is_zero_only_when_every_shard_is_migrated(
        ended: list[tuple[str, str, int | None]], interrupted: bool) -> None:
    status = fleet_exit(ended, interrupted)
    all_fine = all(found in schedule.FINE for _s, found, _x in ended)
    assert (status == EXIT_OK) == (all_fine and not interrupted)
