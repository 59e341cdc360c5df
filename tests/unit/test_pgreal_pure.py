"""Pure parts of the real-postgres sandbox: no servers, no I/O beyond tmp files."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.sandbox.admzk import pg_status_lines
from migrator.sandbox.pgclient import read_acked
from migrator.sandbox.pgquery import conninfo, interval_json, lag_json, row_json
from migrator.sandbox.pgreal import _ident, _quote_conf
from migrator.sandbox.verify import summary_lines

pytestmark = pytest.mark.unit


def test_rows_render_as_node_postgres_prints_them() -> None:
    """Timestamps as ISO UTC with milliseconds, addresses as text, intervals as their
    non-zero whole units (pg-types 1.0); everything else as it came."""
    started = dt.datetime(2026, 12, 6, 18, 56, 41, 982345, tzinfo=dt.UTC)
    row = row_json(["client_addr", "backend_start", "sent_lsn", "write_lag", "replay_lag",
                    "client_hostname"],
                   (ipaddress.ip_address("127.0.0.1"), started, "0/7E53A8",
                    dt.timedelta(microseconds=900), dt.timedelta(minutes=1, seconds=32.7),
                    None))
    assert row == {"client_addr": "127.0.0.1", "backend_start": "2026-12-06T18:56:41.982Z",
                   "sent_lsn": "0/7E53A8", "write_lag": {},
                   "replay_lag": {"minutes": 1, "seconds": 32}, "client_hostname": None}
    assert list(row) == ["client_addr", "backend_start", "sent_lsn", "write_lag",
                         "replay_lag", "client_hostname"]


def test_time_lag_always_shows_minutes_and_seconds() -> None:
    assert lag_json(None) is None  # nothing replayed yet
    assert lag_json(dt.timedelta(0)) == {"minutes": 0, "seconds": 0}
    assert list(lag_json(dt.timedelta(seconds=5)) or {}) == ["seconds", "minutes"]
    assert lag_json(dt.timedelta(days=1, hours=2, seconds=3)) == {
        "days": 1, "hours": 2, "seconds": 3, "minutes": 0}
    assert interval_json(dt.timedelta(seconds=-61)) == {"minutes": -1, "seconds": -1}


@given(st.integers(0, 10**7))
def test_interval_units_add_up_to_the_whole_seconds(seconds: int) -> None:
    units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    found = interval_json(dt.timedelta(seconds=seconds, microseconds=999))
    assert sum(units[u] * n for u, n in found.items()) == seconds
    assert all(n > 0 for n in found.values())


def test_read_acked_ignores_a_partial_last_line(tmp_path: Path) -> None:
    (tmp_path / "client").mkdir()
    assert read_acked(tmp_path) == []
    (tmp_path / "client" / "acked").write_text("1\n2\n3")
    assert read_acked(tmp_path) == [1, 2]  # "3" was being written when the client died
    (tmp_path / "client" / "acked").write_text("1\n2\n3\n")
    assert read_acked(tmp_path) == [1, 2, 3]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               max_size=40))
def test_config_quoting_round_trips(value: str) -> None:
    quoted = _quote_conf(value)
    assert quoted[0] == quoted[-1] == "'"
    assert quoted[1:-1].replace("''", "'") == value
    ident = _ident(value)
    assert ident[1:-1].replace('""', '"') == value


def test_conninfo_quotes_every_value() -> None:
    info = conninfo("127.0.0.2", 5432, application_name="it's")
    assert "host='127.0.0.2'" in info and "port='5432'" in info
    assert "application_name='it\\'s'" in info


def test_pg_status_table_from_a_status_body() -> None:
    body = {
        "__FROZEN__": "2026-01-01T00:00:00Z: migration",
        "primary": {"zoneId": "aaaaaaaa-1", "online": True, "repl": {
            "state": "streaming", "sync_state": "sync", "sent_location": "0/6000A0",
            "flush_location": "0/6000A0",
            "replay_location": "0/600000"}},
        "sync": {"zoneId": "bbbbbbbb-2", "online": False, "repl": {},
                 "lag": {"time_lag": None}},
    }
    lines = pg_status_lines(body)
    # upstream's layout: every column padded to its width, one space between
    assert lines[0] == ("ROLE     PEER     PG   REPL  SENT          FLUSH         "
                        "REPLAY        LAG   ")
    assert lines[1].split() == ["primary", "aaaaaaaa", "ok", "sync", "0/6000A0", "0/6000A0",
                                "0/600000", "-"]
    assert lines[2].split() == ["sync", "bbbbbbbb", "fail", "-", "-", "-", "-", "-"]
    assert len(lines) == 3


def test_summary_names_loss_and_forks() -> None:
    result = {"primary": "p", "acknowledged": 10, "lost": 1, "lost_ids": [7],
              "unacknowledged_present": 2, "rows_on_primary": 11, "ok": False,
              "peers": [{"zone": "z", "ip": "127.0.0.3", "status": "caught up", "rows": 12,
                         "acked_missing": 1, "forked": True, "rows_not_on_primary": 1}]}
    lines = summary_lines(result)
    assert lines[0].startswith("acknowledged 10, lost 1, unacknowledged but present 2")
    assert "FORKED: 1 rows the primary lacks" in lines[1]
    assert lines[-1] == "verdict: NOT OK"
