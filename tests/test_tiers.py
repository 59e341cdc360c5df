"""The tier check itself (tests/tiers.py): a test that starts something its markers do not
allow fails, saying which marker it needs. Each case runs a small test file in a fresh
pytest process with the plugin loaded, as the suite runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.tiers import kinds_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.unit
@pytest.mark.parametrize(("argv", "kinds"), [
    (["/usr/bin/java", "-cp", "x", "org.apache.zookeeper.server.ZooKeeperServerMain"], {"zk"}),
    (["/usr/sbin/sshd", "-D", "-f", "cfg"], {"sshd"}),
    (["/usr/lib/postgresql/15/bin/pg_basebackup", "-D", "x"], {"pgreal"}),
    ([sys.executable, "-m", "migrator.sandbox.supervisor", "dir", "zone"], {"sandbox"}),
    ([sys.executable, "-m", "migrator.sandbox.relay", "5", "127.0.0.1", "2181", "25"],
     {"local"}),
    ([sys.executable, "-m", "migrator", "sandbox", "up", "--dir", "d"], {"sandbox", "pgreal"}),
    ([sys.executable, "-m", "migrator", "sandbox", "up", "--pg", "sim"], {"sandbox"}),
    (["migrator", "sandbox", "rehearse", "--pg=sim"], {"sandbox"}),
    ([sys.executable, "-m", "migrator", "sandbox", "status", "--dir", "d"], {"local"}),
    ([sys.executable, "-m", "migrator", "plan", "--inventory", "sandbox"], {"local"}),
    (["ssh-keygen", "-t", "ed25519"], {"local"}),
    ([], {"local"}),
])
def test_what_a_command_line_starts(argv: list[str], kinds: set[str]) -> None:
    assert kinds_of(argv) == kinds


CONFTEST = """
import pytest

pytest_plugins = ["tests.tiers"]

@pytest.fixture
def zk_server():
    return "a stand-in: the check is by the fixture's name"
"""

CASES = """
import socket, subprocess, sys
import pytest

def test_no_marker():
    pass

@pytest.mark.unit
def test_unit_runs_a_program():
    subprocess.run(["true"], check=True)

@pytest.mark.local
def test_local_runs_a_program():
    subprocess.run(["true"], check=True)

@pytest.mark.local
def test_local_starts_sshd():
    subprocess.run(["/usr/sbin/sshd", "-V"], check=False)

@pytest.mark.local
def test_local_swallows_the_refusal():
    try:
        subprocess.run([sys.executable, "-m", "migrator.sandbox.supervisor"], check=False)
    except Exception:
        pass

@pytest.mark.unit
def test_unit_connects():
    with socket.socket() as sock:
        sock.settimeout(0.1)
        try:
            sock.connect(("127.0.0.1", 9))
        except OSError:
            pass

@pytest.mark.unit
def test_unit_uses_a_zk_fixture(zk_server):
    pass

@pytest.mark.zk
def test_zk_uses_a_zk_fixture(zk_server):
    pass

@pytest.mark.unit
@pytest.mark.zk
def test_unit_and_more():
    pass
"""


@pytest.mark.local
def test_a_start_beyond_the_markers_fails_the_test_naming_the_marker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_cases=CASES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist",
                                           "-p", "no:cov", "-rA")
    outcomes = {line.split(" ")[1].split("::")[-1]: line.split(" ")[0]
                for line in result.outlines
                if line.startswith(("PASSED ", "FAILED ", "ERROR "))}
    assert outcomes == {
        "test_no_marker": "ERROR",
        "test_unit_runs_a_program": "FAILED",
        "test_local_runs_a_program": "PASSED",
        "test_local_starts_sshd": "FAILED",
        "test_local_swallows_the_refusal": "FAILED",
        "test_unit_connects": "FAILED",
        "test_unit_uses_a_zk_fixture": "ERROR",
        "test_zk_uses_a_zk_fixture": "PASSED",
        "test_unit_and_more": "ERROR",
    }, result.stdout.str()
    text = result.stdout.str()
    assert "test_no_marker carries no tier marker" in text
    assert "test_unit_runs_a_program starts `true`, which needs the marker(s) " \
           "@pytest.mark.local" in text
    assert "which needs the marker(s) @pytest.mark.sshd; it carries local" in text
    assert "@pytest.mark.sandbox; it carries local" in text
    assert "test_unit_connects connects to ('127.0.0.1', 9)" in text
    assert "uses the fixture `zk_server`, which starts zk: mark it @pytest.mark.zk" in text
    assert "is marked unit and zk: unit means no I/O at all" in text
