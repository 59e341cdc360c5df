"""Every read is bounded (issue 21 §4): key files, known_hosts and ``report --file`` must be
regular files of bounded size, refused as bad input (exit 2) naming the file otherwise.

No process and no network: devices are /dev/zero, FIFOs are made with ``os.mkfifo`` and
never get a writer, large files are sparse. A call that would block on a FIFO is run in
a thread and bounded (``_within``); the remote side (log paths, abandoned commands) is
tested against a real sshd in tests/remote/test_bounded_remote.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from migrator.cluster.original import capture
from migrator.commands import report
from migrator.discovery.headnode_inventory import load_headnode_inventory
from migrator.engine.journal import new_journal, new_run
from migrator.engine.savedplan import load_plan
from migrator.errors import EXIT_BAD_INPUT, BadInput
from migrator.fleet.model import load_fleet
from migrator.inputfile import (
    MAX_INPUT_BYTES,
    MAX_KEY_BYTES,
    read_input_text,
    read_regular_bytes,
    read_regular_tail,
    require_identity_file,
    require_regular_file,
)
from migrator.inventory.load import load_inventory
from migrator.playbook.loader import load_playbook_file
from migrator.remote.connection import Connector
from migrator.remote.endpoint import Endpoint, load_ssh_config
from migrator.remote.hostkeys import KnownHosts
from migrator.remote.logs import FileState, parse_stat, stat_command
from migrator.sandbox.sshd import generate_keypair
from tests.conftest import invoke_cli
from tests.engine.helpers import SHARD, snapshot

pytestmark = pytest.mark.unit

T = TypeVar("T")
ZERO = Path("/dev/zero")
BOUND = 5.0  # seconds: each refusal is immediate; a hang is the bug


def _within(call: Callable[[], T], fifo: Path | None = None) -> T:
    """``call()``'s result (or its exception), failing the test if it takes over ``BOUND``
    seconds; a thread blocked opening ``fifo`` is released by opening its other end."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    if thread.is_alive():
        if fifo is not None:  # release the blocked open, so the thread ends
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(BOUND)
        pytest.fail(f"not within {BOUND:g} s: the call blocked")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def _refused(call: Callable[[], object], *words: str, fifo: Path | None = None) -> BadInput:
    with pytest.raises(BadInput) as caught:
        _within(call, fifo)
    paragraph = caught.value.paragraph()
    for word in words:
        assert word in paragraph, paragraph
    assert caught.value.exit_status == EXIT_BAD_INPUT
    return caught.value


# --- the helpers ---------------------------------------------------------------------------

def test_regular_reads_refuse_devices_fifos_directories_and_large_files(
    tmp_path: Path, fifo: Path
) -> None:
    hint = "Give the file itself."
    _refused(lambda: read_regular_bytes(ZERO, "thing", 100, hint), "thing /dev/zero",
             "character device", hint)
    _refused(lambda: read_regular_bytes(fifo, "thing", 100, hint), str(fifo), "FIFO",
             fifo=fifo)
    _refused(lambda: read_regular_bytes(tmp_path, "thing", 100, hint), "a directory")
    _refused(lambda: read_regular_bytes(_sparse(tmp_path / "big", 101), "thing", 100, hint),
             "more than", hint)
    _refused(lambda: read_regular_tail(fifo, "thing", 100, hint), "FIFO", fifo=fifo)
    _refused(lambda: require_regular_file(ZERO, "thing", 100, hint), "character device")
    _refused(lambda: require_regular_file(fifo, "thing", 100, hint), "FIFO", fifo=fifo)
    _refused(lambda: require_regular_file(tmp_path / "big", "thing", 100, hint), "101 bytes")
    small = tmp_path / "small"
    small.write_bytes(b"x" * 100)
    assert read_regular_bytes(small, "thing", 100, hint) == b"x" * 100
    assert read_regular_tail(small, "thing", 30, hint) == (b"x" * 30, True)
    assert read_regular_tail(small, "thing", 100, hint) == (b"x" * 100, False)
    require_regular_file(small, "thing", 100, hint)
    with pytest.raises(FileNotFoundError):  # the caller decides what a missing file means
        read_regular_bytes(tmp_path / "absent", "thing", 100, hint)


def test_operator_text_files_refuse_devices_and_fifos_and_are_bounded(
    tmp_path: Path, fifo: Path
) -> None:
    """Inventories, headnode inventories, fleet files, saved plans and playbooks: every
    loader opens the file without waiting for a FIFO's writer, refuses what is not a
    regular file, and reads it bounded."""
    loaders: list[tuple[Callable[[Path], object], str]] = [
        (lambda path: read_input_text(path, "thing"), "thing"),
        (load_inventory, "inventory"),
        (load_headnode_inventory, "headnode inventory"),
        (load_fleet, "fleet file"),
        (load_plan, "plan"),
        (load_playbook_file, "playbook"),
    ]
    big = _sparse(tmp_path / "big", MAX_INPUT_BYTES + 1)
    for load, what in loaders:
        for path, words in ((ZERO, ("character device",)), (fifo, ("FIFO",)),
                            (big, ("larger than",))):
            _refused(lambda: load(path), f"{what} {path}", *words,  # noqa: B023
                     fifo=fifo if path == fifo else None)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"headnode: {host: caf\xe9}\n")
    _refused(lambda: load_headnode_inventory(latin), "not UTF-8")


def test_a_symbolic_link_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "id_ed25519"
    link.symlink_to(ZERO)
    _refused(lambda: require_identity_file(link), str(link), "character device")
    _refused(lambda: read_regular_bytes(link, "thing", 100, "hint"), "character device")


# --- identity files and known_hosts ------------------------------------------------------

def test_identity_files_that_are_not_small_regular_files_are_refused(
    tmp_path: Path, fifo: Path
) -> None:
    _refused(lambda: require_identity_file(ZERO), "SSH identity file /dev/zero",
             "character device", "`identity:`")
    _refused(lambda: require_identity_file(fifo), f"SSH identity file {fifo}", "FIFO",
             fifo=fifo)
    huge = _sparse(tmp_path / "huge_key", MAX_KEY_BYTES + 1)
    _refused(lambda: require_identity_file(huge), str(huge), "1 MiB")
    key = tmp_path / "id_ed25519"
    key.write_text("a key\n")
    require_identity_file(key)
    os.mkfifo(tmp_path / "id_ed25519-cert.pub")  # paramiko would load it with the key
    _refused(lambda: require_identity_file(key), f"SSH certificate {key}-cert.pub", "FIFO")
    with pytest.raises(FileNotFoundError):
        require_identity_file(tmp_path / "absent")


def _inventory(tmp_path: Path, **extra: Any) -> Path:
    document = {"shard": SHARD, "zookeeper": "127.0.0.1:2181", "ssh_config": False,
                "zones": {"z1": {"host": "127.0.0.1", "sitter_log": "/var/log/sitter.log"}},
                **extra}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_inventory_loader_refuses_a_device_or_fifo_key_at_once(
    tmp_path: Path, fifo: Path
) -> None:
    _refused(lambda: load_inventory(_inventory(tmp_path, ssh={"identity": str(ZERO)})),
             "SSH identity file /dev/zero", "character device")
    zones = {"z1": {"host": "127.0.0.1", "identity": str(fifo)}}
    _refused(lambda: load_inventory(_inventory(tmp_path, zones=zones)), str(fifo), "FIFO",
             fifo=fifo)
    _refused(lambda: load_inventory(_inventory(tmp_path, known_hosts=str(fifo))),
             f"known_hosts file {fifo}", "FIFO", fifo=fifo)
    # missing files are left to the connection (a key this machine lacks is skipped there)
    absent = _inventory(tmp_path, ssh={"identity": str(tmp_path / "absent")},
                        known_hosts=str(tmp_path / "absent_known_hosts"))
    assert load_inventory(absent).ssh.identity == [tmp_path / "absent"]


def test_plan_with_a_device_identity_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _inventory(tmp_path, ssh={"identity": str(ZERO)})
    result = _within(lambda: invoke_cli(["plan", "--inventory", str(path)], capsys))
    assert result.status == 2, result
    assert "SSH identity file /dev/zero" in result.err and "character device" in result.err
    assert "Traceback" not in result.err


def test_connecting_refuses_a_key_that_became_a_fifo_before_paramiko_reads_it(
    tmp_path: Path, fifo: Path
) -> None:
    """An identity named in ssh_config (or replaced after the inventory loaded) is checked
    again where the keys are loaded; no connection is made for it."""
    connector = Connector(KnownHosts(tmp_path / "known_hosts"), use_agent=False)
    endpoint = Endpoint("z1", "127.0.0.1", 22, "root", (fifo,))
    _refused(lambda: connector._keys(endpoint, []), str(fifo), "FIFO", fifo=fifo)
    real = tmp_path / "id_ed25519"
    generate_keypair(real, comment="bounded")
    skipped: list[str] = []
    keys = connector._keys(Endpoint("z1", "127.0.0.1", 22, "root",
                                    (tmp_path / "absent", real)), skipped)
    assert [name for name, _ in keys] == [str(real)]
    assert skipped and str(tmp_path / "absent") in skipped[0]  # still skipped, as before


def test_a_known_hosts_that_is_a_fifo_or_device_is_refused_not_read(
    tmp_path: Path, fifo: Path
) -> None:
    _refused(lambda: KnownHosts(fifo).preferred_types("127.0.0.1", 22),
             f"known_hosts file {fifo}", "FIFO", fifo=fifo)
    _refused(lambda: KnownHosts(ZERO).preferred_types("127.0.0.1", 22), "character device")
    assert KnownHosts(tmp_path / "absent").preferred_types("127.0.0.1", 22) == []


def test_an_ssh_config_that_is_not_a_bounded_regular_file_is_refused(
    tmp_path: Path, fifo: Path
) -> None:
    """``ssh_config:`` names a file paramiko parses whole: /dev/zero would never end and a
    FIFO would block, as an identity did; refused at load and where a session loads it."""
    _refused(lambda: load_ssh_config(ZERO), "ssh_config file /dev/zero", "character device",
             "`ssh_config: false`")
    _refused(lambda: load_ssh_config(fifo), f"ssh_config file {fifo}", "FIFO", fifo=fifo)
    big = _sparse(tmp_path / "big_config", MAX_INPUT_BYTES + 1)
    _refused(lambda: load_ssh_config(big), str(big), "more than")
    latin = tmp_path / "latin_config"
    latin.write_bytes(b"Host z\xe9\n")
    _refused(lambda: load_ssh_config(latin), str(latin), "not UTF-8")
    _refused(lambda: load_ssh_config(tmp_path / "absent"), "does not exist")
    _refused(lambda: load_inventory(_inventory(tmp_path, ssh_config=str(ZERO))),
             "ssh_config file /dev/zero", "character device")
    _refused(lambda: load_inventory(_inventory(tmp_path, ssh_config=str(fifo))),
             f"ssh_config file {fifo}", "FIFO", fifo=fifo)
    config = tmp_path / "config"
    config.write_text("Host z1\n  User operator\n")
    assert load_ssh_config(config).lookup("z1")["user"] == "operator"
    assert load_ssh_config(False) is None


def test_recording_a_host_key_appends_without_reading_the_file_again(tmp_path: Path) -> None:
    """An accepted first-contact key goes on a line of its own, after what was there."""
    import paramiko

    known = tmp_path / "known_hosts"
    known.write_bytes(b"# no newline at the end")
    key = paramiko.ECDSAKey.generate()
    hosts = KnownHosts(known, accept_new=True)
    assert hosts.verify("z1", "127.0.0.1", 2222, key) is not None
    assert hosts.verify("z2", "127.0.0.2", 22, key) is not None
    lines = known.read_text().split("\n")
    assert lines[0] == "# no newline at the end" and lines[-1] == ""
    assert lines[1].startswith("[127.0.0.1]:2222 ecdsa-sha2-nistp256 ")
    assert lines[2].startswith("127.0.0.2 ecdsa-sha2-nistp256 ") and len(lines) == 4
    assert hosts.verify("z1", "127.0.0.1", 2222, key) is None  # now simply known


# --- report --file -------------------------------------------------------------------------

def _journal_doc() -> dict[str, Any]:
    journal = new_journal(SHARD, capture(snapshot([0, 1, 2])), {"election": []}, "op@host")
    return journal.with_run(new_run("migration", "three-node", "sha256:x", "op@host")).to_json()


def test_report_file_refuses_devices_and_fifos(
    tmp_path: Path, fifo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(lambda: report.from_file(ZERO), "journal file /dev/zero", "character device")
    _refused(lambda: report.from_file(fifo), "FIFO", fifo=fifo)
    jsonl_fifo = tmp_path / "audit.jsonl"
    os.mkfifo(jsonl_fifo)
    _refused(lambda: report.from_file(jsonl_fifo), "FIFO", fifo=jsonl_fifo)
    result = _within(lambda: invoke_cli(["report", "--file", str(ZERO)], capsys))
    assert result.status == 2 and "/dev/zero" in result.err, result


def test_report_file_bounds_a_journal_and_reads_an_audit_log_from_its_end(
    tmp_path: Path
) -> None:
    doc = _journal_doc()
    copy = tmp_path / "copy" / "journal.json"
    copy.parent.mkdir()
    copy.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")  # as audited
    assert report.from_file(copy).journal.shard == SHARD
    too_large = _sparse(tmp_path / "journal.json", report.MAX_JOURNAL_BYTES + 1)
    _refused(lambda: report.from_file(too_large), "more than the 16 MiB")
    # an audit log grows by a whole journal per save: far beyond the bound is fine, only
    # its end is read
    audit = _sparse(tmp_path / "audit.jsonl", report.MAX_JOURNAL_BYTES * 2)
    with audit.open("a") as handle:
        handle.write("\n" + json.dumps({"what": "save", "journal": doc}) + "\n\n")
    found = report.from_file(audit)
    assert found.journal.shard == SHARD and len(found.journal.runs) == 1
    endless_line = _sparse(tmp_path / "one-line.jsonl", report.MAX_JOURNAL_BYTES * 2)
    _refused(lambda: report.from_file(endless_line), "last line", "longer than 16 MiB")
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"caf\xe9": 1}')
    _refused(lambda: report.from_file(latin1), "not UTF-8")


# --- remote log stat (pure) ----------------------------------------------------------------

def test_the_log_stat_says_what_a_non_regular_path_is() -> None:
    assert parse_stat("not-regular FIFO\n") == FileState(True, not_regular="FIFO")
    assert parse_stat("not-regular character-device\n") == FileState(
        True, not_regular="character device")
    command = stat_command("/var/log/it's.log")
    assert command.startswith("if [ -f '/var/log/it'\"'\"'s.log' ]; then stat")
    for test in ("-d", "-p", "-c", "-b", "-S"):
        assert f"[ {test} '/var/log/it'" in command
