"""Pure parts of the real-postgres sandbox: no servers, no I/O beyond tmp files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.sandbox.adm import pg_status_lines
from migrator.sandbox.pgclient import read_acked
from migrator.sandbox.pgquery import _client_addr, conninfo
from migrator.sandbox.pgreal import _ident, _quote_conf
from migrator.sandbox.verify import summary_lines

pytestmark = pytest.mark.unit


def test_client_addr_comes_from_the_application_name_only_on_loopback() -> None:
    url = "tcp://postgres@127.0.0.3:5432/postgres"
    assert _client_addr("127.0.0.1", url) == "127.0.0.3"
    assert _client_addr("10.77.77.8", url) == "10.77.77.8"  # a real address is never rewritten
    assert _client_addr("127.0.0.1", "rehearsal-client") == "127.0.0.1"
    assert _client_addr("127.0.0.1", "tcp://postgres@10.0.0.9:5432/postgres") == "127.0.0.1"
    assert _client_addr(None, url) is None


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
            "sync_state": "sync", "sent_location": "0/6000A0", "flush_location": "0/6000A0",
            "replay_location": "0/600000"}},
        "sync": {"zoneId": "bbbbbbbb-2", "online": False, "repl": {},
                 "lag": {"time_lag": None}},
    }
    lines = pg_status_lines(body)
    assert lines[0].split() == ["ROLE", "PEER", "PG", "REPL", "SENT", "FLUSH", "REPLAY", "LAG"]
    assert lines[1].split() == ["primary", "aaaaaaaa", "ok", "sync", "0/6000A0", "0/6000A0",
                                "0/600000", "-"]
    assert lines[2].split()[:3] == ["sync", "bbbbbbbb", "fail"]
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
