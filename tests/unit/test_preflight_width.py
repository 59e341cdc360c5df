"""The pre-flight and `inventory check` tables fit 120 columns with real Triton values, piped
and on a terminal, and every fact of every zone is still there (issue 20 §7)."""

from __future__ import annotations

import io
import re

import pytest

from migrator.engine.preflight import Facts, Verdict, decide
from migrator.remote.probe import ZoneReport
from migrator.ui import preflight
from migrator.ui.output import Output

pytestmark = pytest.mark.unit

WIDTH = 120
ZONES = ["2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01", "7c3e9d12-0b4f-4e8a-a1c6-5d2f8e9b3c47",
         "e91b4d6f-2a7c-4f3e-8d5b-6c1a9e0f7b28"]
# Dell compute nodes: their server UUIDs all begin 44454c4c ("DELL")
NODES = ["44454c4c-3800-104b-8036-b2c04f4e4d31", "44454c4c-5400-1034-804d-b8c04f4b4d31",
         "44454c4c-4e00-1047-8057-c3c04f563232"]
MORAY = "a4d7c1e0-93b2-4c8f-b6e5-0f1d2c3b4a59"
SIZES = [123_456_789, 987, 2_147_483_648]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _route(index: int) -> str:
    return f"zlogin via cn {NODES[index][:8]} (127.0.2.{index + 1}) through headnode"


def _log(zone: str) -> str:
    return f"/zones/{zone}/root/var/svc/log/manatee-sitter.log"


def _reports(*, sitter: str = "online") -> list[ZoneReport]:
    zones = [ZoneReport(zone, "manatee", _route(i), via="zlogin", node=NODES[i],
                        reachable=True, host_key="known", version="2.1.1",
                        log=f"{_log(zone)} ({SIZES[i]} bytes)", debug_records=i != 1,
                        sitter=sitter if i == 2 else "online")
             for i, zone in enumerate(ZONES)]
    moray = ZoneReport(MORAY, "moray", f"root@10.99.99.7:22 -> root@10.77.77.50:22 -> zlogin "
                       f"{MORAY}", via="zlogin", node=NODES[0], reachable=True,
                       host_key="recorded", version="20141204T233537Z")
    return [*zones, moray]


def _verdict(reports: list[ZoneReport], election: list[str] = ZONES) -> Verdict:
    return decide(Facts(
        zones=reports, election_zones=frozenset(election), zookeeper_problem=None,
        zookeeper_detail="answers; shard 1.moray.us-east.joyent.us has 3 peer(s) in the "
                         "election (session timeout 30 s)",
        holders=[], identity="me@here pid 1", local_missing=["sapiadm"]))


def _stream(tty: bool) -> io.StringIO:
    return FakeTerminal() if tty else io.StringIO()


def _lines(stream: io.StringIO) -> list[str]:
    return ANSI.sub("", stream.getvalue()).splitlines()


def _assert_fits(lines: list[str]) -> None:
    long = [line for line in lines if len(line) > WIDTH]
    assert not long, "\n".join(long)


def _row(lines: list[str], short: str) -> str:
    (row,) = [line for line in lines if re.match(rf"^[│ ]*{short}[ │]", line)]
    return row


def _assert_every_zone_in_full(lines: list[str]) -> None:
    text = "\n".join(lines)
    for i, zone in enumerate(ZONES):
        assert f"  {zone} (manatee) via zlogin on compute node {NODES[i]}" in lines
        assert f"    route: {_route(i)}" in lines
        assert f"    sitter log: {_log(zone)} ({SIZES[i]} bytes)" in lines
    assert f"zlogin {MORAY}" in text and "…" not in text  # nothing cut


@pytest.mark.parametrize("tty", [False, True])
def test_the_preflight_table_fits_120_columns_with_every_fact(
        monkeypatch: pytest.MonkeyPatch, tty: bool) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    reports = _reports()
    stream = _stream(tty)
    preflight.show(_verdict(reports), stream=stream)
    lines = _lines(stream)
    assert ("┃" in stream.getvalue()) is tty  # rich's table on the terminal, plain piped
    _assert_fits(lines)
    _assert_every_zone_in_full(lines)
    for short, size in zip(("2ffb1a8a", "7c3e9d12", "e91b4d6f"),
                           ("ok (118 MiB)", "ok (987 bytes)", "ok (2.0 GiB)"), strict=True):
        row = _row(lines, short)
        for value in ("manatee", "yes", "known", "2.1.1", "online", size, "ok"):
            assert value in row, (value, row)
        assert ZONES[0] not in row
    moray = _row(lines, "a4d7c1e0")
    assert "moray" in moray and "recorded" in moray and "20141204T233537Z" in moray
    assert "zookeeper: answers; shard 1.moray.us-east.joyent.us has 3 peer(s) in the " \
           "election (session timeout 30 s)" in lines
    assert "lock: free" in lines
    assert "REFUSED: this machine: missing on this machine: sapiadm" in lines
    assert "REFUSED" in _row(lines, "this machine")


@pytest.mark.parametrize("tty", [False, True])
def test_problems_and_long_values_wrap_within_120_columns(
        monkeypatch: pytest.MonkeyPatch, tty: bool) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    reports = _reports(sitter="maintenance (svcs says: restarting too quickly)")
    reports[1].version = "2.1.1-20150320T224005Z"
    reports[2].problems.append(
        "its sitter is not running (`svcs -H -o state manatee-sitter` says maintenance "
        "(svcs says: restarting too quickly)); look at `svcs -xv manatee-sitter` in the "
        f"zone and at {_log(ZONES[2])}, then `svcadm clear manatee-sitter`")
    stream = _stream(tty)
    preflight.show(_verdict(reports, election=ZONES[:2]), stream=stream)
    lines = _lines(stream)
    _assert_fits(lines)
    text = "\n".join(lines)
    assert f"REFUSED: {ZONES[2]}: its sitter is not running" in text
    assert "    sitter: maintenance (svcs says: restarting too quickly)" in lines
    assert "2.1.1-20150320T…" in _row(lines, "7c3e9d12")  # cut in the table, whole below
    assert "    version: 2.1.1-20150320T224005Z" in lines
    row = _row(lines, "e91b4d6f")
    assert "NO" in row and "REFUSED" in row and "maintenanc…" in row
    # a wrapped paragraph keeps the path whole
    assert any(_log(ZONES[2]) in line for line in lines)


@pytest.mark.parametrize("tty", [False, True])
def test_the_inventory_check_table_fits_120_columns_with_every_fact(
        monkeypatch: pytest.MonkeyPatch, tty: bool) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    reports = _reports()
    stream = _stream(tty)
    preflight.show_check(reports, Output(stream=stream))
    lines = _lines(stream)
    assert ("┃" in stream.getvalue()) is tty
    _assert_fits(lines)
    _assert_every_zone_in_full(lines)
    assert "ok (118 MiB)" in _row(lines, "2ffb1a8a") and "yes" in _row(lines, "2ffb1a8a")
    assert "no" in _row(lines, "7c3e9d12").split()[-2:]  # its log has no DEBUG records
    for short in ("2ffb1a8a", "7c3e9d12", "e91b4d6f", "a4d7c1e0"):
        assert "zlogin" in _row(lines, short)


def test_zone_ids_are_shortened_only_when_they_are_uuids_and_stay_told_apart() -> None:
    twin = "7c3e9d12-0b4f-4e8a-a1c6-ffffffffffff"
    names = preflight.short_names([*ZONES, twin, "z1", "this machine"])
    assert names[ZONES[0]] == "2ffb1a8a" and names[ZONES[2]] == "e91b4d6f"
    assert names[ZONES[1]] == "7c3e9d12-0b4f-4e8a-a1c6-5" and names[twin] == twin[:25]
    assert names["z1"] == "z1" and names["this machine"] == "this machine"


def test_a_narrower_terminal_folds_and_wraps_without_cutting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Narrower than 120: the table is laid out within it (a cell folded, never cut with
    an ellipsis), the lines below wrapped at it; only a word longer than it (a path)
    passes it, whole."""
    monkeypatch.setenv("COLUMNS", "90")
    stream = FakeTerminal()
    preflight.show(_verdict(_reports()), stream=stream)
    lines = _lines(stream)
    assert all(len(line) <= 90 or " " not in line.strip() for line in lines), lines
    assert "…" not in "\n".join(lines)
    for zone in ZONES:
        assert any(line.strip() == _log(zone) for line in lines)
