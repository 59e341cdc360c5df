"""A wait on a zone that stays unreachable lasts what it says, and says it once."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from migrator.inventory.load import load_inventory
from migrator.remote.bunyan import RecordMatch
from migrator.remote.logs import LogMark
from migrator.remote.search import wait_for_record
from migrator.remote.session import RemoteSession
from tests.remote.conftest import write_inventory

pytestmark = pytest.mark.local


def _closed_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_unreachable_zone_is_retried_until_the_deadline_with_one_collapsed_note(
    tmp_path: Path, client_key: Path,
) -> None:
    host = "127.0.0.26"
    inventory = load_inventory(write_inventory(
        tmp_path, {"z1": {"host": host, "port": _closed_port(host),
                          "sitter_log": "/var/log/sitter.log"}},
        known_hosts=tmp_path / "known_hosts", identity=client_key))
    mark = LogMark("z1", "/var/log/sitter.log", 0, None, None)
    started = time.monotonic()
    with RemoteSession(inventory, use_agent=False) as session:
        found = wait_for_record(session, mark, RecordMatch(msg="never"), 4.0)
    waited = time.monotonic() - started
    assert found.record is None
    assert waited >= 3.0  # it waited (about) what it was given, not a fixed count of tries
    assert len(found.notes) == 1, found.notes
    note = found.notes[0]
    assert note.startswith("reconnecting: ") and "(x" in note and "the last shown" in note
    assert len(note) < 600
