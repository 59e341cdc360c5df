"""Where a migration stands, decided from the shard as a whole: a pure function.

Each step's done-checks say whether *its* effect holds now. Taken one by one
they can mislead: the unfreeze removes the freeze that the sync's reprovision
step checks for, so after an unfreeze ``shard_frozen`` no longer holds although
the sync was reprovisioned. A migration playbook is an ordered sequence of
effects, so the position is the furthest step whose effect holds (or that this
attempt's journal records done), and every step before it is done too,
**implied** by it, with two exceptions:

* a step whose action registers ``implied=False`` (the Moray check: it can be
  looked at any time, and the takeover at the end depends on it) is judged by
  itself only;
* an earlier step whose *persistent* done-check fails (one no later step
  undoes: a zone's version) was not done: the shard went past it out of order,
  by hand. That is a conflict: the run refuses, naming it, rather than skip it.

Only migrations are judged this way; a rollback's steps are not a sequence of
effects that later ones imply (its done-checks may hold before it starts), so
each is judged by itself. Evidence from an attempt that was rolled back never
reaches this function: the history is scoped to the current /state
(``cluster.history.current_attempt``) and an archived journal is not read.

Invariant (tested with hypothesis): among the steps that may be implied, the
done ones form a prefix, and adding evidence never moves the position back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StepFacts:
    """What is known of one step: the journal, its done-checks now, how it may be judged."""

    id: str
    journal_done: bool = False
    held: bool = False  # its done-checks hold now
    implied_ok: bool = True  # a later step's effect may imply it
    positional: bool = True  # its effect holding places the migration (not journal-only)
    # persistent done-checks that fail now, each with what was seen
    persistent_failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepPosition:
    id: str
    done: bool
    how: str | None  # "journal", "held", "implied" or None
    reason: str


@dataclass(frozen=True)
class Position:
    steps: tuple[StepPosition, ...]
    furthest: str | None  # the furthest step whose effect holds or the journal has done
    conflicts: tuple[str, ...]

    @property
    def done(self) -> list[str]:
        return [s.id for s in self.steps if s.done]


def position(facts: Sequence[StepFacts], *, imply: bool = True) -> Position:
    """Which steps are done. ``imply=False`` (rollbacks): each step by itself."""
    furthest = -1
    if imply:
        for index, step in enumerate(facts):
            if step.implied_ok and step.positional and (step.held or step.journal_done):
                furthest = index
    steps: list[StepPosition] = []
    conflicts: list[str] = []
    for index, step in enumerate(facts):
        if step.journal_done:
            steps.append(StepPosition(step.id, True, "journal", "the journal records it done"))
        elif step.held:
            steps.append(StepPosition(step.id, True, "held", "its effect holds now"))
        elif index < furthest and step.implied_ok:
            later = facts[furthest].id
            if step.persistent_failed:
                seen = "; ".join(step.persistent_failed)
                conflicts.append(
                    f"the shard is past step {step.id} (step {later}'s effect holds) but "
                    f"{step.id} was not done: {seen}"
                )
                steps.append(StepPosition(step.id, False, None, f"not done although {later} "
                                                                f"is: {seen}"))
            else:
                steps.append(StepPosition(step.id, True, "implied",
                                          f"implied by step {later}, whose effect holds"))
        else:
            steps.append(StepPosition(step.id, False, None, "not done yet"))
    return Position(tuple(steps), facts[furthest].id if furthest >= 0 else None,
                    tuple(conflicts))
