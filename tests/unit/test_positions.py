"""The data-position rule (migrator.cluster.positions): who holds the most data, and
whether a primary lacks commits another peer holds (issue 24 §1)."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster.positions import (
    POSITION_SQL,
    Position,
    PositionUnreadable,
    format_lsn,
    includes,
    judge_primary,
    most_data,
    parse_history,
    parse_lsn,
    parse_position,
)
from migrator.inventory.model import PG_POSITION_COMMAND, Commands

pytestmark = pytest.mark.unit

A, B, C = "aaaaaaaa-0000", "bbbbbbbb-0000", "cccccccc-0000"


def pos(zone: str, timeline: int, lsn: str, role: str = "standby",
        history: dict[int, str] | None = None) -> Position:
    return Position(zone, "primary" if role == "primary" else "standby", timeline,
                    parse_lsn(lsn), {k: parse_lsn(v) for k, v in (history or {}).items()})


def test_lsn_round_trip_and_order() -> None:
    assert parse_lsn("0/174A4D0") == 0x174A4D0
    assert parse_lsn("1/0") == 1 << 32
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    with pytest.raises(PositionUnreadable):
        parse_lsn("0/")


def test_parse_position_line_and_history() -> None:
    found = parse_position(A, "primary|3|0/5000060|1,0/3000060,no recovery target "
                              "specified;2,0/4000A0,no recovery target specified;\n")
    assert found == Position(A, "primary", 3, 0x5000060, {1: 0x3000060, 2: 0x4000A0})
    assert parse_position(B, "\nstandby|1|0/174A4D0|\n\n").history == {}
    for bad in ("", "primary|1", "leader|1|0/1|", "primary|0|0/1|", "primary|x|0/1|",
                "primary|1|0/1|\nstandby|1|0/1|"):
        with pytest.raises(PositionUnreadable):
            parse_position(A, bad)
    # a history line that cannot be read is skipped: its timeline counts as unknown
    assert parse_history("1,zz,reason;2,0/10,r") == {2: 0x10}


def test_the_default_command_is_safe_shell_and_runs_the_query() -> None:
    for char in '"$`\\{}':
        assert char not in POSITION_SQL
    assert shlex.split(PG_POSITION_COMMAND)[-1] == POSITION_SQL
    assert Commands().pg_position == PG_POSITION_COMMAND


def test_healthy_shard_primary_holds_everything() -> None:
    peers = [pos(B, 1, "0/3000000"), pos(C, 1, "0/2FFFF00"), pos(A, 1, "0/3000060", "primary")]
    verdict = judge_primary(peers, A)
    assert verdict.ok and verdict.most == peers[2]
    assert "holds everything" in verdict.reason


def test_standby_ahead_on_the_same_timeline_is_reported() -> None:
    peers = [pos(B, 1, "0/3000100"), pos(A, 1, "0/3000060", "primary")]
    verdict = judge_primary(peers, A)
    assert not verdict.ok and [p.zone for p in verdict.ahead] == [B]
    assert verdict.most == peers[0] and not verdict.forked
    assert "bytes of WAL ahead" in verdict.reason


def test_issue_24_fork_is_reported() -> None:
    """The primary B was promoted to timeline 2 at 0/3000000; C stayed on timeline 1 and
    went on to 0/3000800 with the old primary's writes: neither holds everything."""
    b = pos(B, 2, "0/3100000", "primary", {1: "0/3000000"})
    c = pos(C, 1, "0/3000800")
    verdict = judge_primary([c, b], B)
    assert not verdict.ok and verdict.forked and verdict.most is None
    assert "forked from timeline 1" in verdict.reason


def test_older_timeline_prefix_is_included() -> None:
    b = pos(B, 2, "0/3100000", "primary", {1: "0/3000000"})
    assert judge_primary([pos(C, 1, "0/3000000"), b], B).ok
    assert judge_primary([pos(C, 1, "0/2000000"), b], B).ok


def test_doubt_is_divergence() -> None:
    # the primary's history does not name the peer's timeline, or there is none
    b = pos(B, 3, "0/3100000", "primary", {2: "0/3000000"})
    assert not judge_primary([pos(C, 1, "0/100"), b], B).ok
    assert not judge_primary([pos(C, 1, "0/100"), pos(B, 2, "0/1", "primary")], B).ok
    # a peer on a later timeline than the primary was promoted past the fork
    assert not judge_primary([pos(C, 2, "0/100", history={1: "0/50"}),
                              pos(B, 1, "0/9000", "primary")], B).ok
    # a primary that reported nothing is not judged healthy
    assert not judge_primary([pos(C, 1, "0/100")], B).ok


positions_st = st.builds(
    lambda zone, tl, lsn, hist: Position(zone, "standby", tl, lsn,
                                         {t: v for t, v in hist.items() if t < tl}),
    st.sampled_from([A, B, C, "dddddddd", "eeeeeeee"]),
    st.integers(1, 4),
    st.integers(0, 1 << 40),
    st.dictionaries(st.integers(1, 3), st.integers(0, 1 << 40), max_size=3),
)


@given(positions_st)
def test_includes_is_reflexive(p: Position) -> None:
    assert includes(p, p)


@given(st.lists(positions_st, min_size=1, max_size=5, unique_by=lambda p: p.zone),
       st.randoms())
def test_verdict_does_not_depend_on_order(peers: list[Position], rnd: object) -> None:
    shuffled = list(peers)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    for p in peers:
        one, two = judge_primary(peers, p.zone), judge_primary(shuffled, p.zone)
        assert one.ok == two.ok
        assert {q.zone for q in one.ahead} == {q.zone for q in two.ahead}


@given(st.lists(positions_st, min_size=1, max_size=5, unique_by=lambda p: p.zone))
def test_ok_exactly_when_the_primary_includes_every_peer(peers: list[Position]) -> None:
    for p in peers:
        verdict = judge_primary(peers, p.zone)
        assert verdict.ok == all(includes(p, q) for q in peers)
        if verdict.ok:
            # a healthy primary is itself a peer with the most data
            assert most_data([p, *[q for q in peers if q is not p]]) == p
        else:
            assert verdict.ahead and all(not includes(p, q) for q in verdict.ahead)


@given(st.lists(st.integers(0, 1 << 40), min_size=1, max_size=6))
def test_one_timeline_the_furthest_peer_holds_most(lsns: list[int]) -> None:
    peers = [Position(f"z{i}", "standby", 1, v) for i, v in enumerate(lsns)]
    best = most_data(peers)
    assert best is not None and best.lsn == max(lsns)
    for p in peers:
        assert judge_primary(peers, p.zone).ok == (p.lsn == max(lsns))


@given(st.lists(positions_st, min_size=1, max_size=5, unique_by=lambda p: p.zone),
       st.integers(1, 1 << 20))
def test_a_peer_moving_ahead_never_makes_a_lacking_primary_healthy(
        peers: list[Position], step: int) -> None:
    """Monotonic: advancing another peer's WAL can only add to what the primary lacks."""
    head, *others = peers
    if not others:
        return
    moved = [head, Position(others[0].zone, "standby", others[0].timeline,
                            others[0].lsn + step, others[0].history), *others[1:]]
    if not judge_primary(peers, head.zone).ok:
        assert not judge_primary(moved, head.zone).ok
