"""Which steps are done already: each step's done-checks judged at one instant (all of
them concurrently, on one read of the shard), and the clock of the time spent asking
the cluster."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from migrator.cluster.history import HistoryRecord
from migrator.cluster.shard import ShardSnapshot
from migrator.engine.context import EngineContext
from migrator.engine.journal import Journal, StepRecord
from migrator.errors import MigratorError
from migrator.playbook.loader import LoadedPlaybook
from migrator.stepkit.registry import Outcome, get_check
from migrator.stepkit.schema import CheckRef, Step
from migrator.stepkit.together import side_by_side
from migrator.zk.faults import wait_guarded


class Stopwatch:
    """Accumulates the seconds spent asking the cluster, for the overhead figures.

    Queries may run concurrently (``observe``), so it counts the time during
    which at least one is under way, not the sum of their durations.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._running = 0
        self._since = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def timing(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._since = time.monotonic()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self.seconds += time.monotonic() - self._since


QUERIES = Stopwatch()


def run_check(ctx: EngineContext, ref: CheckRef, timeout: float) -> Outcome:
    """One check, through ZooKeeper's faults: a check only looks, so one met by a lost
    connection waits for the reconnect and looks again, its deadline kept
    (``migrator.zk.faults.wait_guarded``)."""
    registered = get_check(ref.check)
    params = registered.params.validate(ref.params)

    def check(left: float) -> Outcome:
        return registered.func(ctx, params, left)

    what = f"checking {ref.check}"
    if timeout > 0:
        return wait_guarded(ctx.zk, what, timeout, check)
    with QUERIES.timing():
        return wait_guarded(ctx.zk, what, 0.0, check)


def look_at_once(ctx: EngineContext, refs: Sequence[CheckRef], name: str
                 ) -> list[tuple[Outcome | BaseException, list[str]]]:
    """Every check of ``refs`` looked at once (timeout 0: each only looks), with what it
    raised in place of its outcome, and the words it said (a log record it found): held
    back and handed to the caller to say in the declared order, so the output is the
    same whichever check answered first."""
    said: list[list[str]] = [[] for _ in refs]
    looked = side_by_side([functools.partial(run_check, replace(ctx, say_func=words.append),
                                             ref, 0.0)
                           for ref, words in zip(refs, said, strict=True)], name)
    return list(zip(looked, said, strict=True))


def evaluate_done(ctx: EngineContext, step: Step) -> Outcome:
    """Do the step's done-checks hold right now (timeout 0)? A check that cannot be
    evaluated (zone unreachable) counts as not holding, with the reason.

    Every check is looked at, all at once (they only look, and the ZooKeeper ones share
    one read: ``EngineContext.view`` or ``look``), not only up to the first that fails:
    a failing *persistent* check (one no later step undoes, e.g. a zone's version) is
    reported in ``data["persistent_failed"]``, which tells a step undone by a later
    one from a step never done (``migrator.engine.position``).
    """
    if not step.done_checks:
        return Outcome(False, "only the journal can say this step was done (done_when: [])")
    details: list[str] = []
    failed: list[str] = []
    persistent: list[str] = []
    # all at once, judged (and what they said, said) in the declared order below
    looked = look_at_once(ctx, step.done_checks, f"done-{step.id}")
    for ref, (outcome, said) in zip(step.done_checks, looked, strict=True):
        for words in said:
            ctx.say(words)
        if isinstance(outcome, MigratorError):
            failed.append(f"{ref.check} could not be checked: {outcome.message}")
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome.ok:
            details.append(outcome.detail)
            continue
        failed.append(f"{ref.check}: {outcome.detail}")
        if get_check(ref.check).persistent:
            persistent.append(outcome.detail)
    if failed:
        return Outcome(False, failed[0], {"persistent_failed": persistent})
    return Outcome(True, "; ".join(details))


def observe(ctx: EngineContext, loaded: LoadedPlaybook, journal: Journal | None,
            kind: str, view: tuple[ShardSnapshot, list[HistoryRecord]] | None = None
            ) -> dict[str, Outcome | None]:
    """Which steps are already done.

    The steps are judged concurrently, each in its own copy of the context: a
    done-check only looks (timeout 0), the ZooKeeper ones all judge ``view``
    (one read), and the ones that ask zones over SSH spend their time waiting
    for the answer, so asking three zones costs one round trip instead of three.
    """
    run = journal.run(kind) if journal is not None else None
    steps = loaded.playbook.steps

    def judge(step: Step) -> Outcome:
        record = run.step(step.id) if run is not None else StepRecord()
        own = replace(ctx, step_id=step.id, marks=dict(record.marks), view=view)
        return evaluate_done(own, step)

    results = side_by_side([functools.partial(judge, step) for step in steps], "observe")
    observed: dict[str, Outcome | None] = {}
    for step, result in zip(steps, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        observed[step.id] = result
    return observed
