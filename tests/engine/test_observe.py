"""Deciding which steps are done: concurrent, one context per step, one query clock.

Pure engine tests: the checks are registered here and touch no ZooKeeper or zone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import migrator.steps  # noqa: F401  (the built-in checks and actions)
from migrator.cluster.original import capture
from migrator.engine import observe
from migrator.engine.context import EngineContext
from migrator.playbook.loader import load_playbook_text
from migrator.stepkit import registry
from migrator.stepkit.context import StepContext
from migrator.stepkit.registry import NoParams, Outcome
from tests.engine.helpers import SHARD, snapshot

pytestmark = pytest.mark.unit

PLAYBOOK = f"""\
name: three-looks
title: Three steps whose done-checks meet
description: Each done-check waits until all three are being judged at once.
peers: 3
steps:
{"".join(f'''  - id: step-{n}
    title: Step {n}
    explain: A step for the test.
    action: {{name: ask_operator, params: {{question: "step {n}?"}}}}
    verify:
      - check: test_meet
''' for n in (1, 2, 3))}"""


@pytest.fixture
def meeting() -> Iterator[threading.Barrier]:
    barrier = threading.Barrier(3, timeout=5)
    seen: list[tuple[str | None, Any]] = []

    def meet(ctx: StepContext, _p: NoParams, timeout: float) -> Outcome:
        assert timeout == 0
        seen.append((getattr(ctx, "step_id", None), dict(ctx.marks)))
        barrier.wait()  # raises BrokenBarrierError if the steps are judged one by one
        return Outcome(True, f"{getattr(ctx, 'step_id', None)} met the others")

    registry.check("test_meet")(meet)
    barrier.seen = seen  # type: ignore[attr-defined]
    try:
        yield barrier
    finally:
        registry._CHECKS.pop("test_meet", None)


def test_steps_are_judged_concurrently_each_in_its_own_context(
    meeting: threading.Barrier,
) -> None:
    loaded = load_playbook_text(PLAYBOOK.encode(), "three-looks.yaml")
    ctx = EngineContext(shard=SHARD, zk=None, inventory=None, remote=None,
                        original=capture(snapshot([0, 1, 2])))
    observed = observe.observe(ctx, loaded, None, "migration")
    assert {step: outcome.detail for step, outcome in observed.items() if outcome} == {
        f"step-{n}": f"step-{n} met the others" for n in (1, 2, 3)
    }
    assert sorted(step for step, _marks in meeting.seen) == [  # type: ignore[attr-defined]
        "step-1", "step-2", "step-3"]
    assert ctx.step_id is None and ctx.marks == {}  # the caller's context is untouched


def test_the_query_clock_counts_overlapping_queries_once(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(observe.time, "monotonic", lambda: now[0])
    clock = observe.Stopwatch()
    with clock.timing():          # 100 -> 103
        now[0] = 101.0
        with clock.timing():      # overlaps: 101 -> 102 adds nothing
            now[0] = 102.0
        now[0] = 103.0
    now[0] = 110.0
    with clock.timing():          # 110 -> 111
        now[0] = 111.0
    assert clock.seconds == pytest.approx(4.0)
