"""`migrator fleet plan`'s pure parts: each shard's row, the fleet's totals and exit status,
and the table within 120 columns."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from migrator.fleet.plan_rows import (
    DONE,
    READY,
    REFUSED,
    SKIP,
    TABLE_HEADERS,
    Figures,
    Outcome,
    StateWrite,
    exit_status,
    fleet_plan_document,
    notes,
    row_of,
    table_rows,
    totals,
)
from migrator.ui.output import Output

pytestmark = pytest.mark.unit

ANSI = re.compile(r"\x1b\[[0-9;]*m")
WRITE = StateWrite("write-backfill", "create /manatee/1.moray.x/state", "+{}")


def figures(left: int = 5, outages: int = 2, seconds: float = 40.0, **changes: object
            ) -> Figures:
    base: dict[str, object] = {"playbook": "three-node", "steps_total": 9, "steps_left": left,
                               "outages": outages, "outage_seconds": seconds,
                               "writes": (WRITE,)}
    base.update(changes)
    return Figures(**base)  # type: ignore[arg-type]


def test_a_planned_shard_is_ready_or_done() -> None:
    ready = row_of(Outcome("1.moray.x", "v1", figures=figures()))
    assert (ready.status, ready.playbook, ready.steps_left, ready.outages, ready.note) == \
        (READY, "three-node", 5, 2, "")
    assert ready.writes == (WRITE,)
    done = row_of(Outcome("1.moray.x", "v2", figures=figures(left=0, outages=0, seconds=0)))
    assert done.status == DONE and done.exit_status == EXIT_OK


def test_refusals_name_their_reason_and_status() -> None:
    bad = row_of(Outcome("3.moray.x", error="Cannot read the inventory", error_status=2))
    assert (bad.status, bad.mode, bad.note, bad.exit_status) == \
        (REFUSED, "-", "Cannot read the inventory", EXIT_BAD_INPUT)
    gate = row_of(Outcome("1.moray.x", "v1", figures=figures(
        preflight_problems=("zone z unreachable",), conflicts=("past step 3",))))
    assert (gate.status, gate.note, gate.exit_status) == \
        (REFUSED, "past step 3; zone z unreachable", EXIT_REFUSED)
    skipped = row_of(Outcome("2.moray.x", skip="already at v2"))
    assert (skipped.status, skipped.note) == (SKIP, "skip: already at v2")


def test_totals_count_only_shards_that_would_run() -> None:
    rows = [row_of(Outcome("a", "v1", figures=figures(left=5, outages=2, seconds=40))),
            row_of(Outcome("b", "mixed", figures=figures(left=2, outages=1, seconds=12.5))),
            row_of(Outcome("c", "v1", figures=figures(preflight_problems=("x",)))),
            row_of(Outcome("d", skip="v2")),
            row_of(Outcome("e", "v2", figures=figures(left=0, outages=0, seconds=0)))]
    summed = totals(rows)
    assert (summed.shards, summed.ready, summed.done, summed.skipped, summed.refused) == \
        (5, 2, 1, 1, 1)
    assert (summed.steps_left, summed.outages, summed.outage_seconds) == (7, 3, 52.5)
    assert "2 to run" in summed.sentence() and summed.to_json()["outageSeconds"] == 52.5
    assert exit_status(rows) == EXIT_REFUSED


outcomes = st.one_of(
    st.builds(Outcome, st.text(min_size=1, max_size=5), st.sampled_from(["v1", "mixed", "v2"]),
              figures=st.builds(figures, st.integers(0, 9), st.integers(0, 4),
                                st.floats(0, 500, allow_nan=False))),
    st.builds(Outcome, st.text(min_size=1, max_size=5), skip=st.just("why")),
    st.builds(Outcome, st.text(min_size=1, max_size=5), error=st.just("bad"),
              error_status=st.sampled_from([EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED])),
)


@given(st.lists(outcomes, max_size=12))
def test_exit_status_is_zero_only_without_refusals(items: list[Outcome]) -> None:
    rows = [row_of(o) for o in items]
    summed = totals(rows)
    assert summed.ready + summed.done + summed.skipped + summed.refused == len(rows)
    status = exit_status(rows)
    assert (status == EXIT_OK) == (summed.refused == 0)
    assert status == max([o.error_status for o in items if o.error], default=EXIT_OK)
    assert summed.steps_left == sum(r.steps_left or 0 for r in rows if r.status != REFUSED)


@pytest.mark.parametrize("tty", [True, False])
def test_the_table_fits_120_columns(monkeypatch: pytest.MonkeyPatch, tty: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the table stays within 120
    shard = "31.moray.us-east-1.joyent-manta.com"
    rows = [row_of(Outcome(shard, "mixed", figures=figures(
        left=12, steps_total=14, outages=3, seconds=1234.5,
        playbook="three-node-frozen-primary", preflight_problems=("x " * 80,)))),
            row_of(Outcome("1.moray.us-east.joyent.us", "v1", figures=figures())),
            row_of(Outcome("2.moray.us-east.joyent.us", skip="already at v2 " * 9))]
    stream = Stream()
    Output(stream=stream).table(TABLE_HEADERS, table_rows(rows), title="Fleet us-east",
                                max_width=120)
    lines = ANSI.sub("", stream.getvalue()).splitlines()
    assert max(len(line) for line in lines) <= 120
    text = "\n".join(lines)
    for word in (shard, "three-node-frozen-primary", "12 of 14", "3, ~1234.5 s", "refused",
                 "skip"):
        assert word in text
    assert notes(rows) == [f"{shard}: {'x ' * 80}",
                           f"2.moray.us-east.joyent.us: skip: {'already at v2 ' * 9}"]


def test_the_fleet_plan_document() -> None:
    doc = fleet_plan_document("us-east", "/f/fleet.yaml", "sha256:ab", {"1.x": "1.x.json"},
                              {"2.x": "already at v2"})
    assert doc["format"] == "manatee-migrator-fleet-plan/1"
    assert doc["plans"] == {"1.x": "1.x.json"} and doc["fleetDigest"] == "sha256:ab"
