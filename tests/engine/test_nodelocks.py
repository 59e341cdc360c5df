"""A compute node's outage lock (migrator/engine/nodelocks.py): waited for on the lock
itself, not polled; ended by the run's stop or the timeout; never left held by an
abandoned wait. Real flocks on files; the "other run" is another open file of this
process (flock conflicts between open files, not processes)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.cancellation import Cancellation
from migrator.engine import nodelocks
from migrator.errors import StepFailed
from tests.waiting import until

pytestmark = pytest.mark.local

BOUND = 10.0


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    return tmp_path / "cn0.lock"


@pytest.fixture
def other_run(lock_file: Path) -> Iterator[int]:
    """Another run's descriptor holding the lock (released by closing, at the end)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    assert nodelocks.try_lock(fd)
    nodelocks.mark_held(fd, "shard 2.moray.test (ops@host pid 1)")
    yield fd
    os.close(fd)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _waiting(fd: int, stop: Cancellation, timeout: float) -> tuple[threading.Thread, dict]:
    result: dict[str, object] = {}

    def wait() -> None:
        try:
            result["granted"] = nodelocks.wait_lock(fd, stop, timeout)
        except BaseException as exc:  # handed to the test
            result["error"] = exc

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, result


def test_a_free_lock_is_taken_and_a_held_one_names_its_holder(
        lock_file: Path, other_run: int) -> None:
    mine = _open(lock_file)
    try:
        assert not nodelocks.try_lock(mine)
        assert nodelocks.holder(mine) == "shard 2.moray.test (ops@host pid 1)"
        nodelocks.release(other_run)
        assert nodelocks.try_lock(mine)
        assert nodelocks.holder(mine) == ""  # released: its name is gone with it
    finally:
        os.close(mine)


def test_the_wait_ends_when_the_holder_releases(lock_file: Path, other_run: int) -> None:
    mine = _open(lock_file)
    try:
        thread, result = _waiting(mine, Cancellation(), 3600.0)
        thread.join(0.3)
        assert thread.is_alive() and not result  # still waiting while it is held
        nodelocks.release(other_run)
        thread.join(BOUND)  # an hour's timeout: only the release can end it this soon
        assert result == {"granted": True}
        assert not nodelocks.try_lock(other_run)  # mine now
    finally:
        os.close(mine)


def test_a_timeout_gives_up_and_the_abandoned_wait_holds_nothing(
        lock_file: Path, other_run: int) -> None:
    mine = _open(lock_file)
    try:
        assert nodelocks.wait_lock(mine, Cancellation(), 0.2) is False
    finally:
        os.close(mine)
    _taken_by_a_third_run_once_released(lock_file, other_run)


def test_the_runs_stop_ends_the_wait_with_the_stop(lock_file: Path, other_run: int) -> None:
    mine = _open(lock_file)
    stop = Cancellation()
    try:
        thread, result = _waiting(mine, stop, 3600.0)
        thread.join(0.3)
        assert thread.is_alive()
        stop.cancel(StepFailed("stopped by the fleet", "resume it"))
        thread.join(BOUND)
        assert isinstance(result.get("error"), StepFailed), result
    finally:
        os.close(mine)
    _taken_by_a_third_run_once_released(lock_file, other_run)


def _taken_by_a_third_run_once_released(lock_file: Path, other_run: int) -> None:
    """The abandoned wait's helper, still blocked in flock, gets the lock when the holder
    lets go and gives it back at once: a third run can take it."""
    nodelocks.release(other_run)
    third = _open(lock_file)
    try:
        until(lambda: nodelocks.try_lock(third), BOUND, "the lock to be free again")
    finally:
        os.close(third)
