"""The sandbox fixtures' teardown (``bring_down`` in tests/conftest.py): what ends on its
own within a zone command guard's grace was stopped; what does not is left running, and
is killed and named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import bring_down
from tests.waiting import until


@pytest.mark.local
def test_a_process_ending_within_the_grace_is_stopped_and_one_that_does_not_is_named(
        tmp_path: Path) -> None:
    directory = tmp_path / "sandbox0"
    directory.mkdir()
    # the directory in their command lines, as a sandbox's processes have it
    quick = subprocess.Popen(["sh", "-c", f"sleep 1; : {directory}"])
    stuck = subprocess.Popen(["sh", "-c", f"sleep 60; : {directory}"])
    try:
        # Popen returns once the exec has begun, and until the kernel has laid out the new
        # program's arguments its /proc/PID/cmdline reads empty (seen under load: then
        # `bring_down` could not know it, and `left` was empty). A sandbox's processes
        # run long before their teardown; these two must be as far along (or, the
        # quick one, already ended).
        for process in (quick, stuck):
            until(lambda process=process: process.poll() is not None or str(directory).encode()
                  in Path(f"/proc/{process.pid}/cmdline").read_bytes(), 10,
                  f"{process.pid}'s command line in /proc")
        left = bring_down(directory)
        assert [int(line.split()[0]) for line in left] == [stuck.pid], (
            f"left {left}; the stuck one {stuck.pid} exit status {stuck.poll()}, the quick "
            f"one {quick.pid} exit status {quick.poll()}")
        assert stuck.wait(timeout=10) == -9
        assert quick.wait(timeout=10) == 0
    finally:
        for process in (quick, stuck):
            if process.poll() is None:
                process.kill()
                process.wait()
