"""Background SSH connects (`migrator plan` starts them early): real sshd on 127.0.0.x."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.remote.errors import HostKeyUnknown, ZoneUnreachable
from migrator.remote.prewarm import Prewarm
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import own_sshd, write_inventory


@pytest.mark.sshd
@own_sshd
def test_prewarmed_session_has_the_zone_connected_once(
    zone_inventory: Callable[..., Inventory], sshd: SshServer
) -> None:
    session = Prewarm(zone_inventory()).session()
    try:
        # waits for the background handshake (the zone's lock), then reuses its transport
        assert session.run("z1", ["true"]).ok
        assert session.connection("z1").transport_alive()
        assert session.connection("z1").connects == 1
    finally:
        session.close()
    assert not session.connection("z1").transport_alive()
    assert sshd.log_file.read_text().count("Accepted publickey") == 1


@pytest.mark.sshd
@own_sshd
def test_an_unknown_host_key_is_still_refused_by_the_check_that_needs_the_zone(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    known = tmp_path / "known_hosts"  # absent: the zone's key is not known
    inventory = load_inventory(write_inventory(
        tmp_path, {"z1": {"host": sshd.host, "port": sshd.port}}, known_hosts=known,
        identity=client_key))
    prewarm = Prewarm(inventory)
    session = prewarm.session()
    try:
        with pytest.raises(HostKeyUnknown):
            session.run("z1", ["true"])
        assert not session.connection("z1").transport_alive()
    finally:
        prewarm.close()
    assert not known.exists()
    assert "Accepted publickey" not in sshd.log_file.read_text()


@pytest.mark.local
def test_a_silent_zone_bounds_the_wait_by_the_connect_timeout(
    tmp_path: Path, client_key: Path, silent_port: int
) -> None:
    inventory = load_inventory(write_inventory(
        tmp_path, {"z9": {"host": "127.0.0.24", "port": silent_port}},
        known_hosts=tmp_path / "known_hosts", identity=client_key, ssh={"connect_timeout": 1}))
    started = time.monotonic()
    prewarm = Prewarm(inventory)
    session = prewarm.session()
    try:
        with pytest.raises(ZoneUnreachable, match="z9"):
            session.run("z9", ["true"])
    finally:
        prewarm.close()
    waited = time.monotonic() - started
    # the background connect and the command's own retry, 1 s connect timeout each
    # (generous margin: this is a bound, not a benchmark)
    assert waited < 1 + 1 + 4


def _counting_inventory(zone_inventory: Callable[..., Inventory], tmp_path: Path,
                        fail_first: bool = False) -> tuple[Inventory, Path]:
    """An inventory whose version command appends a line to ``asked`` each time it runs
    (and with ``fail_first`` fails the first time)."""
    asked = tmp_path / "asked"
    failing = (f"if [ ! -e {tmp_path}/failed ]; then touch {tmp_path}/failed; exit 1; fi; "
               if fail_first else "")
    version = f"echo x >> {asked}; {failing}echo '{{\"version\": \"2.1.0\"}}'"
    (tmp_path / "sitter.log").write_text('{"level":20,"msg":"cluster not yet setup"}\n')
    return zone_inventory(commands={"manatee_version": version}), asked


@pytest.mark.sshd
def test_shared_reads_ask_each_zone_its_version_and_log_end_once_whoever_asks(
    zone_inventory: Callable[..., Inventory], tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    inventory, asked = _counting_inventory(zone_inventory, tmp_path)
    with RemoteSession(inventory, use_agent=False) as session:
        with session.shared_reads():  # as a plan's pre-flight and done-checks share them
            with ThreadPoolExecutor(max_workers=4) as pool:
                results = list(pool.map(
                    lambda _: session.run_template("z1", "manatee_version"), range(4)))
            assert all(r.ok and "2.1.0" in r.text for r in results)
            end = session.read_log_end("z1", 1024)
            assert end.data.endswith(b"cluster not yet setup\"}\n")
            assert asked.read_text() == "x\n"  # asked once, then shared
            # the session's other commands are never shared
            assert session.run("z1", f"cat {asked}").ok and session.run("z1", "true").ok
        # once the block ends, nothing is shared any more
        session.run_template("z1", "manatee_version")
        session.run_template("z1", "manatee_version")
    assert asked.read_text() == "x\n" * 3


@pytest.mark.sshd
def test_a_failed_shared_read_is_asked_again_and_nesting_keeps_the_outer_look(
    zone_inventory: Callable[..., Inventory], tmp_path: Path
) -> None:
    inventory, asked = _counting_inventory(zone_inventory, tmp_path, fail_first=True)
    with RemoteSession(inventory, use_agent=False) as session:
        with session.shared_reads():
            assert not session.run_template("z1", "manatee_version").ok
            with session.shared_reads():  # nested: ends nothing when it ends
                assert session.run_template("z1", "manatee_version").ok
            assert session.run_template("z1", "manatee_version").ok
        assert asked.read_text() == "x\n" * 2  # the failure was not kept; the success was
        assert session.run_template("z1", "manatee_version").ok
        assert asked.read_text() == "x\n" * 3  # outside the look, every call asks


# run in a fresh interpreter, where nothing has imported paramiko yet
_STARTS = """
import sys, threading
from pathlib import Path
from migrator.inventory.load import load_inventory
from migrator.remote.prewarm import Prewarm
inventory = load_inventory(Path(sys.argv[1]))
loaded_when_started = []
start = threading.Thread.start
def noting(thread):
    loaded_when_started.append("paramiko" in sys.modules)
    start(thread)
threading.Thread.start = noting
session = Prewarm(inventory).session()
threading.Thread.start = start
ran = session.run("z1", ["true"]).ok
session.close()
# the zone's thread, and any its connect starts before the patch is undone (the
# transport's own): each found the library loaded
print(bool(loaded_when_started) and all(loaded_when_started), ran)
"""


@pytest.mark.sshd
def test_the_ssh_library_is_loaded_before_the_handshake_threads_start(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    # imported in the threads, it would compete with the caller's own work for the
    # interpreter, and every handshake would start that much later (docs/design.md)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    inventory = write_inventory(tmp_path, {"z1": {"host": sshd.host, "port": sshd.port}},
                                known_hosts=known, identity=client_key)
    done = subprocess.run([sys.executable, "-c", _STARTS, str(inventory)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"], done.stdout
