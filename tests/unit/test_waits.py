"""Pure decisions of hopeless waits, honest wait messages, and the wait line."""

from __future__ import annotations

import pytest

from migrator.engine.console import WaitLine
from migrator.engine.waits import Sample, ZoneClock, judge, waited
from migrator.remote.search import Notes

pytestmark = pytest.mark.unit


def _judge(clock: ZoneClock, sample: Sample, **kw: object) -> str | None:
    options = {"before": "1.0.0", "target": "2.1.1", "session_timeout": 10.0, "margin": 30.0}
    options.update(kw)
    return judge(clock, sample, **options)  # type: ignore[arg-type]


def test_a_disabled_sitter_is_hopeless_on_the_second_sample_only() -> None:
    clock = ZoneClock(started=0.0)
    assert _judge(clock, Sample("z", 1.0, sitter="disabled")) is None
    said = _judge(clock, Sample("z", 4.0, sitter="disabled")) or ""
    assert "not running" in said
    assert "svcadm enable manatee-sitter" in said and "svcadm clear manatee-sitter" in said
    clock = ZoneClock(started=0.0)
    _judge(clock, Sample("z", 1.0, sitter="disabled"))
    assert _judge(clock, Sample("z", 4.0, sitter="online")) is None  # reset
    assert _judge(clock, Sample("z", 7.0, sitter="disabled")) is None


def test_starting_or_unknown_sitter_is_not_hopeless() -> None:
    clock = ZoneClock(started=0.0)
    for at in range(1, 10):
        assert _judge(clock, Sample("z", float(at), sitter="offline")) is None
        assert _judge(clock, Sample("z", float(at), sitter=None)) is None


def test_still_at_the_old_version_after_the_reprovision() -> None:
    clock = ZoneClock(started=0.0)
    assert _judge(clock, Sample("z", 1.0, version="1.0.0")) is None
    verdict = _judge(clock, Sample("z", 4.0, version="1.0.0"))
    assert verdict is not None and "still reports version 1.0.0" in verdict
    assert "target 2.1.1" in verdict
    clock = ZoneClock(started=0.0)
    for at in (1.0, 4.0, 7.0):
        assert _judge(clock, Sample("z", at, version="2.1.1")) is None
    # no version before the action known (a resumed step): never judged stuck
    clock = ZoneClock(started=0.0)
    for at in (1.0, 4.0):
        assert _judge(clock, Sample("z", at, version="1.0.0"), before=None) is None


def test_out_of_the_election_longer_than_the_session_timeout_plus_margin() -> None:
    clock = ZoneClock(started=100.0)
    assert _judge(clock, Sample("z", 101.0, in_election=False)) is None
    assert _judge(clock, Sample("z", 140.0, in_election=False)) is None  # 39 s < 40 s
    verdict = _judge(clock, Sample("z", 142.0, in_election=False))
    assert verdict is not None and "out of the election for 41 s" in verdict
    clock = ZoneClock(started=100.0)
    _judge(clock, Sample("z", 101.0, in_election=False))
    _judge(clock, Sample("z", 130.0, in_election=True))  # rejoined: the clock restarts
    assert _judge(clock, Sample("z", 160.0, in_election=False)) is None
    assert _judge(clock, Sample("z", 180.0, in_election=None)) is None  # unknown


def test_timeout_messages_state_the_time_really_waited() -> None:
    assert waited(899.6, 900) == "timed out after 900 s"
    assert waited(70.2, 900) == "gave up after 70 s (of the 900 s the step allows)"


def test_repeated_notes_collapse_with_their_count_and_latest_cause() -> None:
    notes = Notes()
    for attempt in range(20):
        notes.add(f"reconnecting: refused ({attempt})", key="reconnecting")
    notes.add("the log channel closed")
    assert notes.render() == ("reconnecting: refused (19) (x20, the last shown)",
                              "the log channel closed")


def test_the_wait_line_shows_elapsed_remaining_and_the_last_sighting() -> None:
    line = WaitLine("the async's record", 900)
    line.started -= 12.2
    text = line.text()
    assert "12 s elapsed, 888 s left of 900 s" in text and "last seen" not in text
    line.last = "z1: sitter online, in the election"
    assert line.text().endswith("; last seen: z1: sitter online, in the election")
