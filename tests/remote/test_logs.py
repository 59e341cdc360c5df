"""Logs on a real sshd: offsets, appended-only reads, rotation, truncation, 1 GiB, live follow."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from migrator.remote.bunyan import RecordMatch
from migrator.remote.logs import LogMark
from migrator.remote.search import look_once, wait_for_record
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import following, own_sshd, remote_tails
from tests.waiting import until

pytestmark = pytest.mark.sshd


def _record(msg: str, **fields: object) -> str:
    return json.dumps({"name": "manatee-sitter", "hostname": "z1", "pid": 1, "level": 30,
                       "component": "cluster", "msg": msg, "time": "2026-01-01T00:00:00.000Z",
                       "v": 0, **fields}) + "\n"


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "sitter.log"
    path.write_text(_record("old record", role="primary"))
    return path


def test_only_appended_bytes_are_read(session: RemoteSession, log: Path) -> None:
    mark = session.mark_log("z1")
    assert mark.offset == log.stat().st_size and mark.inode == str(log.stat().st_ino)
    _append(log, "appended one\nappended two\n")
    read = session.read_since("z1", mark)
    assert read.data == b"appended one\nappended two\n"
    assert read.note is None and read.next_offset == log.stat().st_size


def test_rotation_reads_the_new_file_from_its_start(session: RemoteSession, log: Path) -> None:
    mark = session.mark_log("z1")
    os.rename(log, log.with_suffix(".log.0"))
    log.write_text("first line of the new file\n")
    read = session.read_since("z1", mark)
    assert read.data == b"first line of the new file\n"
    assert read.note is not None and "rotated" in read.note


def test_truncation_reads_from_the_start(session: RemoteSession, log: Path) -> None:
    _append(log, "x" * 1000 + "\n")
    mark = session.mark_log("z1")
    with log.open("r+") as handle:
        handle.truncate(0)
    _append(log, "after truncation\n")
    read = session.read_since("z1", mark)
    assert read.data == b"after truncation\n"
    assert read.note is not None and "truncated" in read.note


def test_a_missing_log_counts_entirely_as_new(session: RemoteSession, log: Path) -> None:
    log.unlink()
    mark = session.mark_log("z1")
    assert mark.inode is None and mark.offset == 0
    log.write_text("born later\n")
    assert session.read_since("z1", mark).data == b"born later\n"


def test_mark_survives_a_json_round_trip(session: RemoteSession) -> None:
    mark = session.mark_log("z1")
    assert LogMark.from_json(json.loads(json.dumps(mark.to_json()))) == mark


def test_reads_are_bounded(session: RemoteSession, log: Path) -> None:
    mark = session.mark_log("z1")
    _append(log, "y" * 100_000)
    read = session.read_since("z1", mark, max_bytes=1000)
    assert read.bytes_read == 1000 and read.truncated


def test_the_end_of_a_log_and_its_mark_come_back_together(
    session: RemoteSession, log: Path
) -> None:
    _append(log, "a" * 5000 + "\n" + _record("the latest"))
    end = session.read_log_end("z1", 200)
    assert end.mark == session.mark_log("z1")
    assert end.mark.offset == log.stat().st_size
    assert len(end.data) == 200 and end.cut
    assert end.data == log.read_bytes()[-200:]
    whole = session.read_log_end("z1", 1 << 20)
    assert whole.data == log.read_bytes() and not whole.cut


def test_the_end_of_a_missing_or_empty_log(session: RemoteSession, log: Path) -> None:
    log.write_text("")
    empty = session.read_log_end("z1", 100)
    assert empty.mark.offset == 0 and empty.mark.inode is not None
    assert empty.data == b"" and not empty.cut
    log.unlink()
    missing = session.read_log_end("z1", 100)
    assert missing.mark.inode is None and missing.data == b"" and not missing.cut


def test_an_unreadable_log_end_is_an_error(session: RemoteSession, log: Path) -> None:
    from migrator.remote.errors import LogUnavailable

    log.unlink()
    log.mkdir()  # exists, but tail cannot read a directory
    with pytest.raises(LogUnavailable, match="Cannot read the log"):
        session.read_log_end("z1", 100)


@pytest.mark.parametrize("size", [1 << 20, 1 << 30])
def test_offset_check_cost_does_not_depend_on_log_size(
    session: RemoteSession, log: Path, size: int
) -> None:
    # A sparse file of `size` bytes, then a few records: only those are transferred.
    with log.open("r+b") as handle:
        handle.truncate(size)
    mark = session.mark_log("z1")
    assert mark.offset == size
    tail = _record("assuming role", role="sync")
    _append(log, "noise\n" * 10 + tail)
    found = look_once(session, mark, RecordMatch(msg="assuming role", fields={"role": "sync"}))
    assert found.record is not None
    assert found.bytes_read == len(("noise\n" * 10 + tail).encode())


def test_a_line_appended_while_following_is_seen(
    session: RemoteSession, log: Path, sshd: SshServer, record_property: object
) -> None:
    mark = session.mark_log("z1")
    written: list[float] = []

    def writer() -> None:
        following(sshd)
        _append(log, _record("assuming role", role="unassigned"))
        written.append(time.monotonic())

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        found = wait_for_record(session, mark,
                                RecordMatch(msg="assuming role", fields={"role": "unassigned"}),
                                timeout=10)
        seen = time.monotonic()
    finally:
        thread.join()
    assert found.record is not None and found.record.get("role") == "unassigned"
    latency_ms = (seen - written[0]) * 1000
    record_property("follow_latency_ms", round(latency_ms, 2))  # type: ignore[operator]
    print(f"follow latency: {latency_ms:.2f} ms")


def test_following_returns_nothing_when_no_record_matches(
    session: RemoteSession, log: Path
) -> None:
    mark = session.mark_log("z1")
    _append(log, _record("assuming role", role="async"))
    found = wait_for_record(session, mark, RecordMatch(msg="assuming role",
                                                       fields={"role": "sync"}), timeout=0.5)
    assert found.record is None and found.bytes_read > 0


def test_record_written_before_following_started_is_found(
    session: RemoteSession, log: Path
) -> None:
    mark = session.mark_log("z1")
    _append(log, _record("declared new generation"))
    found = wait_for_record(session, mark, RecordMatch(msg="declared new generation"), 5)
    assert found.record is not None


def test_follow_survives_rotation_while_following(
    session: RemoteSession, log: Path, sshd: SshServer
) -> None:
    mark = session.mark_log("z1")

    def rotate() -> None:
        following(sshd)
        os.rename(log, log.with_suffix(".log.0"))
        log.write_text(_record("assuming role", role="primary"))

    thread = threading.Thread(target=rotate)
    thread.start()
    try:
        # bounded generously: the wait ends at the record; on a two-core machine saturated
        # by the whole suite, 10 s once passed before the rotated-in file was followed
        found = wait_for_record(session, mark, RecordMatch(fields={"role": "primary"},
                                                           msg="assuming role"), 30)
    finally:
        thread.join()
    assert found.record is not None


@own_sshd
def test_follow_resumes_after_the_connection_drops(
    session: RemoteSession, log: Path, sshd: SshServer
) -> None:
    mark = session.mark_log("z1")

    def drop_then_write() -> None:
        following(sshd)
        sshd.drop_connections()
        # written while the follower is cut off: it reads on from its mark once back
        _append(log, _record("assuming role", role="sync"))

    thread = threading.Thread(target=drop_then_write)
    thread.start()
    try:
        found = wait_for_record(session, mark, RecordMatch(msg="assuming role"), 15)
    finally:
        thread.join()
    assert found.record is not None
    assert session.connection("z1").connects >= 2


@own_sshd
def test_remote_tail_ends_when_the_follower_closes(
    session: RemoteSession, log: Path, sshd: SshServer
) -> None:
    mark = session.mark_log("z1")
    follower = session.follow("z1", mark)
    list(follower.lines(time.monotonic() + 0.2))

    assert remote_tails(sshd), "the follower's tail should be running"
    follower.close()
    until(lambda: not remote_tails(sshd), 5, "the remote tail gone once the follower closed")


def test_long_lines_are_cut_not_buffered_whole(session: RemoteSession, log: Path) -> None:
    from migrator.remote import logs

    mark = session.mark_log("z1")
    _append(log, "z" * (logs.MAX_LINE * 3) + "\n" + _record("after the long line"))
    found = wait_for_record(session, mark, RecordMatch(msg="after the long line"), 10)
    assert found.record is not None


def test_an_unreadable_log_is_an_error_not_silence(
    session: RemoteSession, log: Path, tmp_path: Path
) -> None:
    from migrator.remote.errors import LogUnavailable

    mark = session.mark_log("z1")
    log.unlink()
    log.mkdir()  # exists, but tail cannot read a directory
    with pytest.raises(LogUnavailable, match="Cannot read the log"):
        session.read_since("z1", mark)


def test_the_inventory_tail_command_is_used(
    zone_inventory: object, tmp_path: Path, log: Path
) -> None:
    import shutil

    used = tmp_path / "used"
    wrapper = tmp_path / "gtail"
    wrapper.write_text(f"#!/bin/sh\ntouch {used}\nexec {shutil.which('tail')} \"$@\"\n")
    wrapper.chmod(0o755)
    assert callable(zone_inventory)
    inventory = zone_inventory(commands={"tail": str(wrapper)})
    with RemoteSession(inventory, use_agent=False) as session:
        mark = session.mark_log("z1")
        _append(log, _record("via gtail"))
        assert session.read_since("z1", mark).data.endswith(b"\n")
        assert used.exists()
        used.unlink()
        found = wait_for_record(session, mark, RecordMatch(msg="via gtail"), 5)
    assert found.record is not None and used.exists()


def test_a_follow_whose_channel_cannot_start_is_a_dropped_connection(
    session: RemoteSession, log: Path
) -> None:
    """The zone's transport dies between opening the follow's channel and starting its
    command (on a real sshd): that is a dropped connection naming the zone, not
    paramiko's EOFError, and the next command reconnects."""
    from migrator.remote.errors import ConnectionDropped

    connection = session.connection("z1")
    mark = session.mark_log("z1")
    open_channel = connection.open_channel

    opened: list[object] = []

    def open_then_lose_the_transport(timeout: float) -> object:
        channel = open_channel(timeout=timeout)
        opened.append(channel)
        if len(opened) == 2:  # the follow's own channel (the first one stats the log)
            channel.get_transport().close()
        return channel

    connection.open_channel = open_then_lose_the_transport  # type: ignore[method-assign]
    with pytest.raises(ConnectionDropped, match=r"z1 .* dropped while running `tail"):
        session.follow("z1", mark)
    connection.open_channel = open_channel  # type: ignore[method-assign]
    assert session.run("z1", "true").ok
