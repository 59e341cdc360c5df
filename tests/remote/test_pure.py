"""Pure pieces: manatee-adm status verdicts, versions, ssh_config resolution, log read plans."""

from __future__ import annotations

import json
from pathlib import Path

import paramiko
import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.inventory.model import JumpHost, SshDefaults, SshTarget
from migrator.remote.endpoint import resolve
from migrator.remote.logs import FileState, LogMark, parse_stat, plan_read
from migrator.remote.manatee_status import (
    StatusUnreadable,
    lone_primary_verdict,
    parse_status,
    replication_of,
    replication_verdict,
)
from migrator.remote.versions import at_least, reported_version

pytestmark = pytest.mark.unit

A, B, C = ("f29499ea-b50c-431e-9975-e4bf760fb5e1", "4afba482-7670-4cfe-b11f-9df7f558106a",
           "d0c715ab-1d55-43cd-88f2-f6bfe3960683")
SHARD = "1.moray.coal.joyent.us"


def _peer(zone: str, ip: str, repl: dict[str, object] | None = None) -> dict[str, object]:
    return {"zoneId": zone, "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres",
            "online": True, "repl": repl or {}}


def _repl(client: str, sync_state: str = "sync", sent: str = "0/174A438",
          replay: str = "0/174A438", state: str = "streaming") -> dict[str, object]:
    return {"client_addr": client, "state": state, "sent_location": sent,
            "write_location": sent, "flush_location": sent, "replay_location": replay,
            "sync_priority": 1, "sync_state": sync_state}


def _status(**roles: dict[str, object]) -> str:
    return json.dumps({SHARD: {"__FROZEN__": "2014-12-02T18:31:35.394Z: backfill", **roles}})


def test_runbook_status_after_sync_reprovision_is_synced() -> None:
    text = _status(primary=_peer(A, "10.77.77.47", _repl("10.77.77.49")),
                   sync=_peer(C, "10.77.77.49", _repl("10.77.77.48", "async")),
                   **{"async": _peer(B, "10.77.77.48")})
    status = parse_status(text, SHARD)
    assert status.frozen is not None
    verdict = replication_verdict(status, A, C)
    assert verdict.ok, verdict.reason


def test_a_lone_primary_takes_writes_only_with_its_database_answering() -> None:
    """A one-node shard's rollback ends when its only peer is the primary and its database
    answers, not as soon as it is in the election."""
    up = parse_status(_status(primary={**_peer(A, "10.77.77.47"), "online": None}), SHARD)
    assert lone_primary_verdict(up, A).ok
    down = parse_status(_status(primary={**_peer(A, "10.77.77.47"), "online": False}), SHARD)
    assert "does not answer" in lone_primary_verdict(down, A).reason
    assert not lone_primary_verdict(parse_status(_status(), SHARD), A).ok
    assert "not " + B in lone_primary_verdict(up, B).reason


def test_replication_in_words_for_each_downstream_peer() -> None:
    text = _status(primary=_peer(A, "10.77.77.47", _repl("10.77.77.49")),
                   sync=_peer(C, "10.77.77.49", _repl("10.77.77.48", "async",
                                                      sent="0/174A438", replay="0/1740000")),
                   **{"async": _peer(B, "10.77.77.48")})
    found = replication_of(parse_status(text, SHARD))
    assert found[C] == (f"sync from {A[:8]}: streaming, sent 0/174A438, flushed 0/174A438, "
                        "replayed 0/174A438, caught up")
    assert found[B].startswith(f"async from {C[:8]}: streaming") and "bytes behind" in found[B]
    assert A not in found  # the primary has no upstream


def _pg15(standby_ip: str, client: str = "127.0.0.1", sync_state: str = "sync",
          sent: str = "0/7E53A8", replay: str = "0/7E53A8") -> dict[str, object]:
    """A row as PostgreSQL 15 reports it on loopback: every standby from 127.0.0.1, named
    by its pgUrl (manatee's application_name)."""
    return {"application_name": f"tcp://postgres@{standby_ip}:5432/postgres",
            "client_addr": client, "state": "streaming", "sent_lsn": sent,
            "write_lsn": sent, "flush_lsn": sent, "replay_lsn": replay,
            "write_lag": {}, "flush_lag": {}, "replay_lag": {}, "sync_priority": 1,
            "sync_state": sync_state, "reply_time": "2026-12-06T18:57:28.553Z"}


def test_postgres_15_rows_name_the_standby_by_application_name() -> None:
    text = _status(primary=_peer(A, "10.77.77.47", _pg15("10.77.77.49")),
                   sync=_peer(C, "10.77.77.49", _pg15("10.77.77.48", sync_state="async",
                                                      replay="0/7E0000")),
                   **{"async": _peer(B, "10.77.77.48")})
    status = parse_status(text, SHARD)
    verdict = replication_verdict(status, A, C)
    assert verdict.ok and "0/7E53A8" in verdict.reason
    found = replication_of(status)
    assert found[C].startswith(f"sync from {A[:8]}: streaming, sent 0/7E53A8")
    assert found[B].endswith("replayed 0/7E0000, 21416 bytes behind")
    behind = _status(primary=_peer(A, "10.77.77.47", _pg15("10.77.77.49", replay="0/7E0000")),
                     sync=_peer(C, "10.77.77.49"))
    assert "catching up" in replication_verdict(parse_status(behind, SHARD), A, C).reason


def test_application_name_outranks_client_addr_which_is_the_fallback() -> None:
    # named the async though the address is the sync's (NAT, a proxy): not the sync
    named_other = _status(primary=_peer(A, "10.77.77.47",
                                        _pg15("10.77.77.48", client="10.77.77.49")),
                          sync=_peer(C, "10.77.77.49"), **{"async": _peer(B, "10.77.77.48")})
    verdict = replication_verdict(parse_status(named_other, SHARD), A, C)
    assert not verdict.ok and verdict.reason.startswith(f"the primary replicates to {B}")
    # a name that is no peer's pgUrl: the address decides
    unnamed = {**_pg15("10.77.77.49", client="10.77.77.49"), "application_name": "walreceiver"}
    text = _status(primary=_peer(A, "10.77.77.47", unnamed), sync=_peer(C, "10.77.77.49"))
    assert replication_verdict(parse_status(text, SHARD), A, C).ok
    lost = _status(primary=_peer(A, "10.77.77.47", {**unnamed, "client_addr": "127.0.0.1"}),
                   sync=_peer(C, "10.77.77.49"))
    verdict = replication_verdict(parse_status(lost, SHARD), A, C)
    assert not verdict.ok and "127.0.0.1, application_name 'walreceiver'" in verdict.reason


def test_runbook_mixed_topology_is_not_synced_to_the_new_sync() -> None:
    # after the backfill, before B's reprovision: A still streams sync to B
    text = _status(primary=_peer(A, "10.77.77.47", _repl("10.77.77.48")),
                   sync=_peer(B, "10.77.77.48"), **{"async": _peer(C, "10.77.77.49")})
    verdict = replication_verdict(parse_status(text, SHARD), A, C)
    assert not verdict.ok and "10.77.77.48" in verdict.reason


@pytest.mark.parametrize(
    ("repl", "reason"),
    [
        ({}, "no replication connection"),
        (_repl("10.77.77.49", state="catchup"), "not streaming"),
        (_repl("10.77.77.49", sync_state="async"), "not sync"),
        (_repl("10.77.77.49", sent="0/174A438", replay="0/1700000"), "catching up"),
        (_repl("10.77.77.49", sent="1/0", replay="0/FFFFFFFF"), "catching up"),
    ],
)
def test_not_synced_reasons(repl: dict[str, object], reason: str) -> None:
    text = _status(primary=_peer(A, "10.77.77.47", repl), sync=_peer(C, "10.77.77.49"))
    verdict = replication_verdict(parse_status(text, SHARD), A, C)
    assert not verdict.ok and reason in verdict.reason


def test_wrong_primary_is_not_synced() -> None:
    text = _status(primary=_peer(C, "10.77.77.49", _repl("10.77.77.47")),
                   sync=_peer(A, "10.77.77.47"))
    assert not replication_verdict(parse_status(text, SHARD), A, C).ok


def test_unreadable_status_is_an_error() -> None:
    with pytest.raises(StatusUnreadable):
        parse_status("Error: no zk", SHARD)
    with pytest.raises(StatusUnreadable, match="other"):
        parse_status(json.dumps({"other": {}}), SHARD)


@pytest.mark.parametrize(
    ("actual", "wanted", "expected"),
    [
        ("2.1.1-sandbox", "v2", True),
        ("1.0.0-sandbox", "v2", False),
        ("2.0.0", "2.1", False),
        ("10.0.0", "9.9.9", True),
        ("master-20141204T233537Z-g1a2b3c4", "20141204T233537Z", True),
        ("master-20141111T000000Z-g1a2b3c4", "20141204T233537Z", False),
        ("2.1.1", "20141204T233537Z", None),
        ("weird", "v2", None),
    ],
)
def test_version_comparison(actual: str, wanted: str, expected: bool | None) -> None:
    assert at_least(actual, wanted) is expected


def test_reported_version_reads_package_json_or_text() -> None:
    assert reported_version('{"name": "manatee", "version": "2.1.1"}') == "2.1.1"
    assert reported_version("2.0.0\nmore\n") == "2.0.0"
    assert reported_version("") is None and reported_version("{bad") is None


@given(st.lists(st.integers(0, 50), min_size=1, max_size=4),
       st.lists(st.integers(0, 50), min_size=1, max_size=4))
def test_version_order_is_total_on_releases(left: list[int], right: list[int]) -> None:
    a, b = ".".join(map(str, left)), ".".join(map(str, right))
    assert at_least(a, b) or at_least(b, a)
    assert at_least(a, a)


def test_stat_parsing() -> None:
    assert parse_stat("stat 65024 2146460 18\n") == FileState(True, 18, "65024", "2146460")
    assert parse_stat("2146460 -rw-r--r-- 1 0 0 18 Nov 26 05:00 /x\n") == FileState(
        True, 18, None, "2146460")
    assert parse_stat("missing\n") == FileState(False)
    assert parse_stat("stat: cannot stat") is None


def test_read_plan() -> None:
    mark = LogMark("z", "/l", 100, "1", "7")
    assert plan_read(mark, FileState(True, 150, "1", "7")).offset == 100
    rotated = plan_read(mark, FileState(True, 500, "1", "8"))
    assert rotated.offset == 0 and rotated.note and "rotated" in rotated.note
    truncated = plan_read(mark, FileState(True, 10, "1", "7"))
    assert truncated.offset == 0 and truncated.note and "truncated" in truncated.note
    assert plan_read(LogMark("z", "/l", 0, None, None), FileState(True, 5, "1", "9")).offset == 0


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_read_plan_never_starts_past_the_end(marked: int, size: int) -> None:
    plan = plan_read(LogMark("z", "/l", marked, "1", "7"), FileState(True, size, "1", "7"))
    assert 0 <= plan.offset <= size


def _config(tmp_path: Path, text: str) -> paramiko.SSHConfig:
    path = tmp_path / "config"
    path.write_text(text)
    return paramiko.SSHConfig.from_path(str(path))


def test_inventory_values_win_over_ssh_config(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host zone\n  HostName 127.0.0.9\n  Port 2200\n  User bob\n"
                               "  IdentityFile /keys/cfg\n")
    plain = resolve("z1", SshTarget(host="zone"), SshDefaults(), config)
    assert (plain.host, plain.port, plain.user) == ("127.0.0.9", 2200, "bob")
    assert plain.identities == (Path("/keys/cfg"),)
    mine = resolve("z1", SshTarget(host="zone", port=22, user="root",
                                   identity=[Path("/keys/mine")]),
                   SshDefaults(), config)
    assert (mine.port, mine.user) == (22, "root")
    assert mine.identities == (Path("/keys/mine"), Path("/keys/cfg"))


def test_proxyjump_chain_order(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host zone\n  ProxyJump a,b:2222\nHost a\n  HostName 127.0.0.3\n")
    endpoint = resolve("z1", SshTarget(host="zone"), SshDefaults(user="root"), config)
    assert endpoint.jump is not None and endpoint.jump.host == "b" and endpoint.jump.port == 2222
    assert endpoint.jump.jump is not None and endpoint.jump.jump.host == "127.0.0.3"
    assert endpoint.route() == "root@127.0.0.3:22 -> root@b:2222 -> root@zone:22"


def test_inventory_jump_wins_and_proxycommand_is_used_otherwise(tmp_path: Path) -> None:
    config = _config(tmp_path, "Host zone\n  ProxyCommand nc %h %p\n")
    via_jump = resolve("z1", SshTarget(host="zone", jump=[JumpHost(host="hn")]),
                       SshDefaults(), config)
    assert via_jump.jump is not None and via_jump.proxy_command is None
    via_command = resolve("z1", SshTarget(host="zone"), SshDefaults(), config)
    assert via_command.proxy_command == "nc zone 22"


def test_jump_loops_are_bounded(tmp_path: Path) -> None:
    from migrator.errors import BadInput

    config = _config(tmp_path, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(BadInput, match="longer than"):
        resolve("z1", SshTarget(host="a"), SshDefaults(), config)


_ARG = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
               max_size=40)


@given(st.lists(_ARG, min_size=1, max_size=6))
def test_argument_vectors_round_trip_through_the_shell_text(argv: list[str]) -> None:
    import shlex

    from migrator.remote.commands import to_shell

    assert shlex.split(to_shell(argv)) == argv


@given(_ARG, _ARG)
def test_template_values_stay_single_words(zone: str, image: str) -> None:
    from migrator.inventory.values import CommandTemplate

    assert CommandTemplate("sapiadm reprovision {zone} {image}").argv(
        zone=zone, image=image) == ["sapiadm", "reprovision", zone, image]


@given(st.text(max_size=70))
def test_valid_zone_ids_are_plain_shell_words(value: str) -> None:
    import shlex

    from migrator.inventory.values import is_zone_id

    if is_zone_id(value):
        assert shlex.quote(value) == value and not value.startswith("-")
