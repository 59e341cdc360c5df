"""``primary_writable``: a step is over only when the primary serves, not when ZooKeeper
looks right.

Upstream's peer validates every /state it reads and dies on one it refuses; SMF
restarts it into the same death and then leaves it in ``maintenance`` (see
manatee-observed.md). A state can therefore be exactly what a step meant to
write while the only peer is dead. The evidence that it serves, usable at any
log level and after a resume:

* ``manatee-adm status`` lists the zone as the primary with ``online: true``:
  its postgres answers (a dead sitter's postgres is stopped with it under
  SMF, and a peer without a role runs none);
* a FATAL record in the zone's sitter log since the step started fails the
  check at once, quoting it, instead of waiting out the timeout;
* a sitter whose last record before the step was FATAL and that writes
  nothing within ``DEAD_GRACE`` seconds is taken to be down for good (SMF's
  ``maintenance`` restarts nothing): the check fails then, quoting that record,
  rather than waiting out the timeout.

``manatee-adm status`` rather than ``pg-status``: the same facts (each peer's
postgres online or not, its replication) as JSON, which the replication checks
already parse; ``pg-status`` prints them as a table for people.

The sitter's INFO records ``assuming role`` (role primary) and ``pg: applied
config`` are shown by the step's other verifications where it has them; the
status answer is what decides, because after a resume they may predate the
step. ``manatee-adm status`` is re-read whenever the zone's log moves, and at
least every ``RECHECK`` seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from migrator.errors import MigratorError
from migrator.record import field
from migrator.remote.bunyan import LEVEL_NUMBERS, RecordMatch, format_record
from migrator.remote.loglevels import records_of
from migrator.remote.manatee_status import ShardStatus, parse_status
from migrator.remote.search import look_once
from migrator.stepkit.context import StepContext
from migrator.stepkit.registry import NoParams, Outcome, check
from migrator.steps.remote import RECHECK, _mark, _remote, _try_follow, _zone_ref, status_command

DEAD_GRACE = 15.0  # seconds: longer than SMF's restart delay for a dying service


class WritableParams(NoParams):
    zone: str = field(check=_zone_ref)


def serving_verdict(status: ShardStatus, zone: str) -> Outcome:
    """Pure: is ``zone`` the primary in ``manatee-adm status``, with postgres answering?"""
    head = status.role("primary")
    if head is None:
        return Outcome(False, "manatee-adm status shows no primary")
    if head.zone != zone:
        return Outcome(False, f"manatee-adm status shows {head.zone} as primary, not {zone}")
    if head.online is not True:
        return Outcome(False, f"{zone} is the primary in /state but its postgres is not "
                              "online (the sitter may have died; see its log)")
    return Outcome(True, f"{zone} is the primary and its postgres is online")


def fatal_outcome(zone: str, record: Any, before_step: bool = False) -> Outcome:
    said = record.msg or record.raw
    if before_step:
        detail = (
            f"the sitter in {zone} is not running: its last record before this step was "
            f"FATAL ({said}) and it has written nothing since, so it is most likely in SMF's "
            "maintenance, which restarts nothing. /state is now valid for it: run `svcadm "
            "clear manatee-sitter` in the zone, then resume"
        )
    else:
        detail = (
            f"the sitter in {zone} died: {said} (upstream's sitter exits on a fatal error; "
            "SMF restarts it into the same death until the state is valid, then leaves it in "
            "maintenance). Correct /state, then run `svcadm clear manatee-sitter` in the zone "
            "if `svcs manatee-sitter` shows maintenance"
        )
    return Outcome(False, detail, {"zone": zone, "record": format_record(record), "fatal": True})


def _last_record_if_fatal(remote: Any, mark: Any) -> Any:
    """The last bunyan record before ``mark`` when it is FATAL (the sitter's last words)."""
    if mark.inode is None or mark.offset == 0:
        return None
    start = mark.advanced(max(0, mark.offset - 65536))
    try:
        read = remote.read_since(mark.zone, start, max_bytes=mark.offset - start.offset)
    except MigratorError:
        return None
    data = read.data if start.offset else b"\n" + read.data
    records = [r for r in records_of(data) if r.level is not None]
    if records and (records[-1].level or 0) >= LEVEL_NUMBERS["fatal"]:
        return records[-1]
    return None


@check("primary_writable", WritableParams)
def primary_writable(ctx: StepContext, p: WritableParams, timeout: float) -> Outcome:
    """The zone runs as a writable primary (manatee-adm status), its sitter alive."""
    remote = _remote(ctx)
    zone = ctx.zone(p.zone)
    command = status_command(remote.inventory)
    fatal = RecordMatch(min_level=LEVEL_NUMBERS["fatal"])
    marks = [_mark(ctx, zone)]  # read on from where the last look stopped
    started = time.monotonic()
    deadline = started + max(timeout, 0.0)
    last_words = _last_record_if_fatal(remote, marks[0])

    def look() -> Outcome:
        died = look_once(remote, marks[-1], fatal)
        if died.record is not None:
            return fatal_outcome(zone, died.record)
        marks.append(died.end)
        result = remote.run(zone, command, reads_only=True)
        silent = died.end.offset <= marks[0].offset
        if (last_words is not None and silent and timeout > 0
                and time.monotonic() - started >= min(DEAD_GRACE, timeout)):
            return fatal_outcome(zone, last_words, before_step=True)
        if not result.ok:
            said = result.stderr.decode("utf-8", "replace").strip()[-300:]
            return Outcome(False, f"`{command}` failed in {zone} (exit status "
                                  f"{result.status}): {said}", {"zone": zone})
        return serving_verdict(parse_status(result.text, ctx.shard), zone)

    outcome = look()
    if outcome.ok or timeout <= 0 or outcome.data.get("fatal"):
        return outcome
    follower = _try_follow(remote, zone)
    try:
        while time.monotonic() < deadline:
            step_end = min(deadline, time.monotonic() + RECHECK)
            if follower is not None:
                for _line in follower.lines(step_end):
                    break  # the sitter wrote something: look again now
                if not follower.alive:
                    follower.close()
                    follower = _try_follow(remote, zone)
            else:
                threading.Event().wait(max(0.0, step_end - time.monotonic()))
            outcome = look()
            if outcome.ok or outcome.data.get("fatal"):
                return outcome
    finally:
        if follower is not None:
            follower.close()
    return outcome
