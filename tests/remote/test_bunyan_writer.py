"""The sandbox's bunyan writer, read back by the log reader the steps use."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.remote.bunyan import RecordMatch, format_record, level_number, parse_line
from migrator.sandbox.bunyan import WARN, BunyanLog, error_field, inspect

pytestmark = pytest.mark.local

UPSTREAM = {"zoneId": "f29499ea-b50c-431e-9975-e4bf760fb5e1", "ip": "10.77.77.47",
            "pgUrl": "tcp://postgres@10.77.77.47:5432/postgres",
            "backupUrl": "http://10.77.77.47:12345", "id": "10.77.77.47:5432:12345"}


def test_the_sandbox_writer_round_trips(tmp_path: Path) -> None:
    """What the sandbox's sitters write, the log reader reads back field for field."""
    path = tmp_path / "sitter.log"
    log = BunyanLog(path, "manatee-sitter", "zone-1", component="cluster")
    config = {"role": "sync", "upstream": UPSTREAM, "downstream": None}
    log.info("pg: applied config " + inspect(config), {"nretries": 0})
    log.child(component="pg").warn("line one\nline two", {"err": error_field(
        "Error", "connection refused", "PostgresMgr._start (lib/postgresMgr.js:1)")})
    log.close()

    first, second = (parse_line(line) for line in path.read_bytes().splitlines())
    assert first.msg == "pg: applied config " + inspect(config)
    assert first.inspected() == ("pg: applied config", config)
    assert first.get("upstream.zoneId") == UPSTREAM["zoneId"]
    assert first.get("nretries") == 0 and first.get("component") == "cluster"
    assert RecordMatch(msg="pg: applied config", fields={"role": "sync"}).matches(first)
    assert second.level == WARN and second.get("component") == "pg"
    assert second.get("err.name") == "Error"
    assert RecordMatch(fields={"err.message": "connection refused"},
                       min_level=level_number("warn")).matches(second)
    pretty = format_record(second)
    assert "WARN: manatee-sitter/pg/" in pretty and "on zone-1" in pretty
    assert "line two" in pretty and "at PostgresMgr._start" in pretty
