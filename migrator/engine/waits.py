"""Verification waits that cannot succeed stop early, saying what was seen.

While a migration step waits for a verification that names zones (its
``zone``, ``primary``, ``sync`` or ``on`` parameter), ``guard`` samples each of
those zones and ``judge`` (pure) decides whether the wait is hopeless:

* the zone's sitter is not running: ``commands.sitter_status`` says
  ``disabled`` or ``maintenance`` in two samples in a row (states in which no
  sitter will start by itself; ``offline`` while starting is not hopeless);
* the step reprovisioned the zone, the action reported success, and the zone
  still reports the version it had before (and not the target) in two
  samples in a row;
* the zone has been out of the election for longer than the session timeout
  plus ``ELECTION_MARGIN`` seconds, counted from the start of the wait.

A hopeless wait ends the step at once with ``HopelessWait`` (exit 1, the step
stays resumable: ``resume`` re-verifies without acting again): the guard stops the
run (``migrator.cancellation``), whose wait then raises it. A zone that cannot be asked
(SSH down) is *unknown*, never hopeless: the wait runs to its deadline.

Event sources: the election is followed with a ZooKeeper watch (a zone leaving
or rejoining wakes the guard at once). A sitter's service state and a zone's
version have no event we can subscribe to over SSH, so they are sampled every
``RECHECK`` seconds (one short command each, concurrently with the wait). The
guard also feeds the console's wait line with what it saw last. Only migration
runs are guarded: a rollback disables sitters on purpose, and rolling back a
broken zone is its job.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from migrator import cancellation
from migrator.errors import StepFailed
from migrator.remote.versions import reported_version
from migrator.stepkit.registry import get_action
from migrator.zk import paths, reads
from migrator.zk.faults import guard_for

RECHECK = 3.0
ELECTION_MARGIN = 30.0
NOT_RUNNING = frozenset({"disabled", "maintenance"})
ZONE_PARAMS = ("zone", "primary", "sync", "on")


class HopelessWait(StepFailed):
    """A verification waited on something that cannot happen any more."""


@dataclass(frozen=True)
class Sample:
    """One look at a zone; None: could not be seen."""

    zone: str
    at: float
    sitter: str | None = None
    version: str | None = None
    in_election: bool | None = None

    def summary(self) -> str:
        parts = [f"sitter {self.sitter or '?'}"]
        if self.version is not None:
            parts.append(f"version {self.version}")
        parts.append({True: "in the election", False: "not in the election",
                      None: "election ?"}[self.in_election])
        return f"{self.zone}: " + ", ".join(parts)


@dataclass
class ZoneClock:
    """Pure accumulator of a zone's samples during one wait."""

    started: float
    bad_sitter: int = 0
    old_version: int = 0
    out_since: float | None = None
    last: Sample | None = None
    seen: list[str] = field(default_factory=list)


def judge(clock: ZoneClock, sample: Sample, *, before: str | None, target: str | None,
          session_timeout: float, margin: float = ELECTION_MARGIN) -> str | None:
    """Record ``sample``; a sentence when the wait on this zone cannot succeed."""
    clock.last = sample
    if sample.sitter is not None:
        clock.bad_sitter = clock.bad_sitter + 1 if sample.sitter in NOT_RUNNING else 0
    if sample.version is not None and before is not None:
        stuck = sample.version == before and sample.version != target
        clock.old_version = clock.old_version + 1 if stuck else 0
    if sample.in_election is True:
        clock.out_since = None
    elif sample.in_election is False and clock.out_since is None:
        clock.out_since = max(sample.at, clock.started)
    if clock.bad_sitter >= 2:
        return (f"the sitter of {sample.zone} is not running (its service state is "
                f"{sample.sitter}), so nothing it would log or do can happen; once what "
                "stopped it is corrected, start it in the zone (`svcadm clear manatee-sitter` "
                "from maintenance, `svcadm enable manatee-sitter` when disabled)")
    if clock.old_version >= 2:
        return (f"{sample.zone} still reports version {sample.version}, the version it had "
                f"before the reprovision reported success (target {target or '?'})")
    if clock.out_since is not None:
        out = sample.at - clock.out_since
        if out > session_timeout + margin:
            return (f"{sample.zone} has been out of the election for {out:.0f} s, longer "
                    f"than the session timeout ({session_timeout:g} s) plus {margin:g} s")
    return None


def waited(seconds: float, allowed: float) -> str:
    """How long a verification really waited, for its failure message."""
    if seconds >= allowed - 1.0:
        return f"timed out after {seconds:.0f} s"
    return f"gave up after {seconds:.0f} s (of the {allowed:g} s the step allows)"


def zones_of(ctx: Any, ref: Any) -> list[str]:
    """The zones a check names (resolved from roles)."""
    zones: list[str] = []
    for key in ZONE_PARAMS:
        value = (ref.params or {}).get(key)
        if isinstance(value, str):
            try:
                zone = ctx.zone(value)
            except Exception:  # not a role of this topology: not ours to watch
                continue
            if zone not in zones:
                zones.append(zone)
    return zones


def _sample(ctx: Any, zone: str, want_version: bool, election: set[str] | None) -> Sample:
    remote = ctx.remote
    sitter = version = None
    try:
        result = remote.run_template(zone, "sitter_status")
        text = result.text.strip()
        sitter = text.splitlines()[-1].strip() if result.ok and text else None
        if want_version:
            found = remote.run_template(zone, "manatee_version")
            version = reported_version(found.text) if found.ok else None
    except Exception:  # unreachable or failing: unknown, never evidence
        pass
    return Sample(zone, time.monotonic(), sitter, version,
                  None if election is None else zone in election)


def _election_zones(ctx: Any) -> set[str] | None:
    try:
        snapshot = reads.read_shard(ctx.zk, ctx.shard)
    except Exception:  # ZooKeeper paused: the fault guard deals with it
        return None
    return {str(n.data.get("zoneId")) for n in snapshot.topology.nodes}


@contextmanager
def guard(ctx: Any, step: Any, ref: Any, what: str, timeout: float, outputs: Any,
          console: Any, kind: str, resume_command: str) -> Iterator[None]:
    """Watch the zones ``ref`` waits on while the block waits (see the module docstring)."""
    zones = zones_of(ctx, ref) if kind == "migration" else []
    if not zones or getattr(ctx, "remote", None) is None:
        yield
        return
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.recipe.watchers import ChildrenWatch

    run = cancellation.current()
    outputs = dict(outputs or {})
    # the zone an action takes down on purpose (a reprovision) is expected to be away
    away = outputs.get("zone") if get_action(step.action.name).takes_zone_down and \
        not outputs.get("skipped") else None
    started = time.monotonic()
    clocks = {zone: ZoneClock(started) for zone in zones}
    stop = threading.Event()
    wake = threading.Event()
    sent: list[Any] = []
    session_timeout = guard_for(ctx.zk).session_timeout

    def poke(_children: Any) -> bool:
        wake.set()
        return not stop.is_set()

    def loop() -> None:
        while not stop.is_set():
            election = _election_zones(ctx)
            seen = []
            for zone in zones:
                sample = _sample(ctx, zone, zone == away, election)
                verdict = judge(clocks[zone], sample, before=outputs.get("from"),
                                target=outputs.get("image"), session_timeout=session_timeout)
                seen.append(sample.summary())
                if verdict is not None and not stop.is_set():
                    elapsed = time.monotonic() - started
                    error = HopelessWait(
                        f"Step {step.id} ({step.title}) stopped waiting for {what} "
                        f"({ref.check}) after {elapsed:.0f} s of {timeout:.0f} s, because it "
                        f"cannot succeed: {verdict}. Last seen: {'; '.join(seen)}. The step "
                        "is not stamped done.",
                        f"Look at {zone} (its sitter, its log, `migrator status`); once it is "
                        f"as the step expects, `{resume_command}` re-checks this step without "
                        "acting again.",
                    )
                    sent.append(error)
                    run.cancel(error)
                    return
            with_seen = getattr(console, "seen", None)
            if with_seen is not None:
                with_seen("; ".join(seen))
            wake.wait(RECHECK)
            wake.clear()

    with contextlib.suppress(Exception):  # ZooKeeper paused: the interval still serves
        ChildrenWatch(ctx.zk, paths.election_path(ctx.shard), poke)
    thread = threading.Thread(target=loop, name=f"migrator-wait-{step.id}", daemon=True)
    thread.start()
    ended = False
    try:
        yield
        ended = True
    finally:
        # not joined: a sample under way must not delay the next step; the thread
        # looks at ``stop`` before anything it does and ends by itself
        stop.set()
        wake.set()
        if ended:  # the wait ended on its own before it saw the stop: the run goes on
            for error in sent:
                run.withdraw(error)
