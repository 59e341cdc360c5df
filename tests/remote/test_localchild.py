"""Local children (``run_on: local``): gated until journalled, in a session of their own,
outliving the migrator, judged alive by pid and start time. Real processes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from migrator.remote import localchild

pytestmark = pytest.mark.local


def test_a_child_runs_only_once_released_in_its_own_session(tmp_path: Path) -> None:
    seen: list[localchild.ChildInfo] = []
    out = tmp_path / "ran"
    child = localchild.start(["sh", "-c", f"ps -o sid= -p $$ > {out}; echo hello"],
                             seen.append)
    assert child.wait(30) == 0
    info = seen[0]
    assert info.pid == child.process.pid and info.pgid == info.pid
    assert info.host == socket.gethostname() and info.start is not None
    # its own session: the terminal's Ctrl-C (our process group) never reaches it
    assert int(out.read_text()) == info.pid != os.getsid(0)
    assert child.output(1 << 20)[0] == b"hello\n"
    child.cleanup()
    assert not Path(info.output).exists()


def test_killed_before_the_release_the_child_does_nothing(tmp_path: Path) -> None:
    """The journal write failed (or the migrator died) after the spawn: the child sees
    end-of-file instead of the go-ahead and exits without running the command."""
    out = tmp_path / "ran"
    started: list[localchild.ChildInfo] = []

    def journal_fails(info: localchild.ChildInfo) -> None:
        started.append(info)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        localchild.start(["touch", str(out)], journal_fails)
    assert localchild.wait_gone(started[0].pid, 30)
    assert not out.exists()
    # and it says so, for a resume that finds its pid journalled
    intent = started[0].to_json()
    assert localchild.refused_at_gate(intent)
    assert not localchild.refused_at_gate({**intent, "host": "elsewhere"})


def test_a_released_child_leaves_no_mark_of_refusal(tmp_path: Path) -> None:
    seen: list[localchild.ChildInfo] = []
    child = localchild.start(["true"], seen.append)
    assert child.wait(30) == 0
    assert not localchild.refused_at_gate(seen[0].to_json())
    child.cleanup()


def test_liveness_is_by_pid_and_start_time_on_this_machine_only(tmp_path: Path) -> None:
    child = localchild.start(["sleep", "30"])
    info = child.info.to_json()
    try:
        assert localchild.child_state(info) == "alive"
        assert localchild.child_state({**info, "pidStart": "1"}) == "gone"  # a reused pid
        assert localchild.child_state({**info, "host": "elsewhere"}) == "unknown"
    finally:
        os.killpg(child.info.pgid, 9)
    assert localchild.wait_gone(child.info.pid, 30)
    assert localchild.child_state(info) == "gone"
