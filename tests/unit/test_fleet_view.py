"""The fleet's view of each shard, from its child's events: rows that fit 120 columns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.fleet import view
from migrator.fleet.view import COLUMNS, ShardRow, apply, cells, plain_line

pytestmark = pytest.mark.unit

texts = st.text(max_size=300)
events = st.one_of(
    st.builds(lambda i, t, s: {"event": "step", "index": i, "total": t, "step": s},
              st.integers(1, 99), st.integers(1, 99), texts),
    st.builds(lambda c, z: {"event": "action-started", "command": c, "zone": z}, texts, texts),
    st.builds(lambda w, s, e: {"event": "heartbeat", "what": w, "lastSeen": s, "elapsed": e},
              texts, st.none() | texts, st.floats(0, 1e6)),
    st.builds(lambda w: {"event": "waiting", "what": w, "timeout": 60}, texts),
    st.builds(lambda m: {"event": "error", "message": m}, texts),
    st.just({"event": "outage-started", "step": "x"}),
    st.builds(lambda s: {"event": "outage-ended", "seconds": s}, st.floats(0, 1e6)),
    st.builds(lambda k, m: {"event": "alarm", "kind": k, "message": m, "stop": True}, texts,
              texts),
)


def test_the_columns_fit_120() -> None:
    assert view.WIDTH <= 120


@given(texts, st.lists(events, max_size=20), st.floats(0, 1e7))
def test_every_cell_fits_its_column(shard: str, seen: list[dict[str, object]],
                                    now: float) -> None:
    row = view.started(ShardRow(shard), "run", 0.0)
    for event in seen:
        row = apply(row, event, now)
    for cell, (_name, width) in zip(cells(row, now), COLUMNS, strict=True):
        assert len(cell) <= width
        assert "\n" not in cell


def test_a_shard_through_a_step() -> None:
    row = view.started(ShardRow("1.moray.x"), "run", 100.0)
    row = apply(row, {"event": "step", "index": 3, "total": 7, "step": "reprovision-async"},
                101.0)
    row = apply(row, {"event": "action-started", "command": "reprovision zone z",
                      "zone": "z"}, 102.0)
    row = apply(row, {"event": "outage-started", "step": "reprovision-async"}, 103.0)
    shown = cells(row, 165.0)
    assert shown[1] == "3/7 reprovision-async"
    assert shown[2] == "1m05s"
    assert shown[3] == "acting: reprovision zone z on z"
    assert shown[4] == "! 1m02s"
    assert shown[5] == "running"
    row = apply(row, {"event": "outage-ended", "seconds": 12.4}, 170.0)
    row = view.finished(row, "migrated", 180.0)
    shown = cells(row, 500.0)
    assert shown[2] == "1m20s" and shown[4] == "12s" and shown[5] == "migrated"


def test_plain_lines_name_the_shard() -> None:
    line = plain_line("2.moray", {"event": "step", "index": 1, "total": 2, "step": "a",
                                  "title": "A\nB"})
    assert line == "2.moray: step 1/2 a: A B"
    assert plain_line("2.moray", {"event": "heartbeat"}) is None


def test_clock() -> None:
    assert [view.clock(s) for s in (0, 59.9, 60, 3599, 3600, 7322)] == [
        "0s", "59s", "1m00s", "59m59s", "1h00m", "2h02m"]


def test_plain_lines_round_the_seconds_as_a_single_run_prints_them() -> None:
    waiting = {"event": "waiting", "timeout": 59.99999699700129, "what": "the sync"}
    assert plain_line("1.moray", waiting) is not None
    assert "waiting up to 60 s for: the sync" in str(plain_line("1.moray", waiting))
    ended = {"event": "outage-ended", "step": "unfreeze", "seconds": 2.4}
    assert "write outage step unfreeze over after 2 s" in str(plain_line("1.moray", ended))
    assert "over after" not in str(plain_line("1.moray", {**ended, "seconds": None}))
