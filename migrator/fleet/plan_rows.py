"""The fleet plan's rows and totals: pure decisions over each shard's plan figures.

A shard's row is what `migrator plan --inventory` of that shard says, in one line:
its mode (v1, mixed, v2), the playbook chosen, the steps left, the write outages
still ahead (count and estimated seconds) and, when a run would be refused, why.

Decisions:

* status ``ready``: planned, steps left, nothing refuses it; ``done``: no step left;
  ``skip``: the fleet file skips it; ``refused``: its plan could not be made (the
  error, e.g. a bad inventory), its pre-flight refuses it, or it conflicts with the
  journal, exactly as `migrator plan` would refuse it.
* A refused shard never hides the others: each row is decided on its own.
* The command's exit status is the highest of the refused rows' (3 refused for
  safety, 2 bad input, 1 failed), 0 when none is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.errors import EXIT_OK, EXIT_REFUSED

READY = "ready"
DONE = "done"
SKIP = "skip"
REFUSED = "refused"


@dataclass(frozen=True)
class StateWrite:
    """One ZooKeeper write a shard's run would make, as its plan shows it."""

    step: str
    summary: str
    diff: str


@dataclass(frozen=True)
class Figures:
    """What a row needs of one shard's plan (``migrator.engine.planner.Plan``)."""

    playbook: str
    steps_total: int
    steps_left: int
    outages: int
    outage_seconds: float
    writes: tuple[StateWrite, ...] = ()
    conflicts: tuple[str, ...] = ()
    preflight_problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One shard of the fleet after planning: skipped, planned, or failed."""

    shard: str
    mode: str | None = None  # v1, mixed, v2 (None: not read)
    skip: str | None = None
    figures: Figures | None = None
    error: str | None = None  # the message (and hint) of what stopped its plan
    error_status: int = EXIT_OK


@dataclass(frozen=True)
class Row:
    shard: str
    mode: str
    status: str
    playbook: str | None
    steps_left: int | None
    steps_total: int | None
    outages: int | None
    outage_seconds: float | None
    note: str  # why refused, why skipped, or ""
    exit_status: int = EXIT_OK
    writes: tuple[StateWrite, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "mode": self.mode,
            "status": self.status,
            "playbook": self.playbook,
            "stepsLeft": self.steps_left,
            "stepsTotal": self.steps_total,
            "outages": self.outages,
            "outageSeconds": self.outage_seconds,
            "note": self.note or None,
            "exitStatus": self.exit_status,
            "writes": [{"step": w.step, "summary": w.summary, "diff": w.diff}
                       for w in self.writes],
        }


def row_of(outcome: Outcome) -> Row:
    mode = outcome.mode or "-"
    if outcome.skip is not None:
        return Row(outcome.shard, mode, SKIP, None, None, None, None, None,
                   f"skip: {outcome.skip}")
    figures = outcome.figures
    if figures is None:
        return Row(outcome.shard, mode, REFUSED, None, None, None, None, None,
                   outcome.error or "no plan", outcome.error_status or EXIT_REFUSED)
    refusals = [*figures.conflicts, *figures.preflight_problems]
    if outcome.error is not None:
        refusals.insert(0, outcome.error)
    if refusals:
        status, note, exit_status = REFUSED, "; ".join(refusals), \
            outcome.error_status or EXIT_REFUSED
    elif figures.steps_left == 0:
        status, note, exit_status = DONE, "", EXIT_OK
    else:
        status, note, exit_status = READY, "", EXIT_OK
    return Row(outcome.shard, mode, status, figures.playbook, figures.steps_left,
               figures.steps_total, figures.outages, figures.outage_seconds, note, exit_status,
               figures.writes)


@dataclass(frozen=True)
class Totals:
    shards: int
    ready: int
    done: int
    skipped: int
    refused: int
    steps_left: int
    outages: int
    outage_seconds: float

    def sentence(self) -> str:
        return (f"{self.shards} shard(s): {self.ready} to run, {self.done} done, "
                f"{self.skipped} skipped, {self.refused} refused; {self.steps_left} step(s) "
                f"left, {self.outages} write outage(s) of about {self.outage_seconds:g} s "
                "in all (one after another; shards run side by side overlap theirs).")

    def to_json(self) -> dict[str, Any]:
        return {"shards": self.shards, "ready": self.ready, "done": self.done,
                "skipped": self.skipped, "refused": self.refused,
                "stepsLeft": self.steps_left, "outages": self.outages,
                "outageSeconds": self.outage_seconds}


def totals(rows: Sequence[Row]) -> Totals:
    """Steps and outages of the shards that would run (a refused shard's are not counted:
    it does not run until planned again)."""
    running = [r for r in rows if r.status in (READY, DONE)]
    return Totals(
        shards=len(rows),
        ready=sum(1 for r in rows if r.status == READY),
        done=sum(1 for r in rows if r.status == DONE),
        skipped=sum(1 for r in rows if r.status == SKIP),
        refused=sum(1 for r in rows if r.status == REFUSED),
        steps_left=sum(r.steps_left or 0 for r in running),
        outages=sum(r.outages or 0 for r in running),
        outage_seconds=round(sum(r.outage_seconds or 0.0 for r in running), 1),
    )


def exit_status(rows: Sequence[Row]) -> int:
    return max((r.exit_status for r in rows if r.status == REFUSED), default=EXIT_OK)


def table_rows(rows: Sequence[Row]) -> list[list[str]]:
    """SHARD, MODE, PLAYBOOK, STEPS LEFT, OUTAGES, STATUS (the cells, as text). Why a
    shard is refused or skipped goes below the table (``notes``): a sentence in a
    column would push the table past 120 columns when piped."""
    out = []
    for r in rows:
        steps = "-" if r.steps_left is None else f"{r.steps_left} of {r.steps_total}"
        outages = ("-" if r.outages is None else
                   f"{r.outages}, ~{r.outage_seconds:g} s" if r.outages else "0")
        out.append([r.shard, r.mode, r.playbook or "-", steps, outages, r.status])
    return out


def notes(rows: Sequence[Row]) -> list[str]:
    """One line per refused or skipped shard: why."""
    return [f"{r.shard}: {r.note}" for r in rows if r.note]


TABLE_HEADERS = ["SHARD", "MODE", "PLAYBOOK", "STEPS LEFT", "WRITE OUTAGES", "STATUS"]


def fleet_plan_document(name: str, fleet_file: str, fleet_digest: str,
                        plans: dict[str, str], skipped: dict[str, str]
                        ) -> dict[str, Any]:
    """``PLANDIR/fleet-plan.json``: the fleet, the exact fleet file it was planned from,
    and each shard's saved plan (relative to the folder)."""
    return {"format": FLEET_PLAN_FORMAT, "fleet": name, "fleetFile": fleet_file,
            "fleetDigest": fleet_digest, "plans": plans, "skipped": skipped}


FLEET_PLAN_FORMAT = "manatee-migrator-fleet-plan/1"
