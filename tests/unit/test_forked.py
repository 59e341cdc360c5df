"""migrator.forked: a function in a forked child, its pickled result read on demand.

Each case runs in a fresh interpreter (a single-threaded process, as the CLI forks
from; pytest's own process may hold threads of earlier tests)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.local


def _run(body: str) -> subprocess.CompletedProcess[str]:
    code = "import os, sys, time\nfrom migrator.forked import Forked, ForkFailed\n" + \
        textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def _gone(pid_line: str) -> None:
    """The child named by ``pid <n>`` on stdout is neither running nor a zombie."""
    pid = int(pid_line.split()[1])
    with pytest.raises(FileNotFoundError):
        open(f"/proc/{pid}/stat").close()


def test_the_result_comes_back_and_the_child_is_reaped() -> None:
    done = _run("""
        assert Forked.possible()
        forked = Forked(lambda a, b: {"sum": a + b, "pid": os.getpid()}, 2, 3)
        pid = forked._pid
        value = forked.result(10)
        assert value["sum"] == 5 and value["pid"] == pid != os.getpid()
        print("pid", pid)
    """)
    assert done.returncode == 0, done.stderr
    _gone(done.stdout.splitlines()[-1])


def test_what_the_child_prints_does_not_reach_the_terminal() -> None:
    done = _run("""
        def chatty():
            print("from the child")
            sys.stderr.write("err\\n")
            return 1
        assert Forked(chatty).result(10) == 1
        print("parent done")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "parent done\n" and done.stderr == ""


def test_an_exception_in_the_child_is_a_fork_failure_naming_it() -> None:
    done = _run("""
        def boom():
            raise ValueError("no such zone")
        try:
            Forked(boom).result(10)
        except ForkFailed as exc:
            print(exc.message)
    """)
    assert done.returncode == 0, done.stderr
    assert "The helper process failed: ValueError: no such zone" in done.stdout


def test_a_child_that_dies_or_hangs_is_a_fork_failure_and_leaves_nothing_behind() -> None:
    done = _run("""
        try:
            Forked(lambda: os._exit(3)).result(10)
        except ForkFailed as exc:
            print("died:", exc.message)
        hung = Forked(time.sleep, 60)
        pid = hung._pid
        started = time.monotonic()
        try:
            hung.result(0.3)
        except ForkFailed as exc:
            print("hung:", exc.message, round(time.monotonic() - started))
        print("pid", pid)
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("died: The helper process ended without an answer")
    assert lines[1] == "hung: The helper process gave no answer within 0.3 s. 0"
    _gone(lines[-1])


def test_closing_before_the_result_stops_the_child() -> None:
    done = _run("""
        forked = Forked(time.sleep, 60)
        pid = forked._pid
        forked.close()
        forked.close()  # twice is harmless
        print("pid", pid)
    """)
    assert done.returncode == 0, done.stderr
    _gone(done.stdout.splitlines()[-1])


def test_no_fork_while_another_thread_runs() -> None:
    done = _run("""
        import threading
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        print(Forked.possible())
        stop.set()
        thread.join()
        print(Forked.possible())
    """)
    assert done.stdout.split() == ["False", "True"], done.stderr
