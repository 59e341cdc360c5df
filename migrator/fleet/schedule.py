"""Which shard starts next, what each shard's end means, and the fleet's exit. Pure.

Decisions:
  - shards start in the fleet file's order, at most ``parallel`` at once;
  - once the fleet is stopping (a shard stopped without ``--keep-going``, or Ctrl-C)
    no shard starts;
  - a shard's verdict comes from its child's exit status alone, the events saying only
    whether the fleet asked it to stop; a child that ended without an exit status of
    the migrator's (killed by a signal) is ``lost``;
  - the fleet exits 0 only when every shard it was to run ended migrated; after
    Ctrl-C 130; otherwise with the exit status of the first shard that ended without
    being migrated (1 failed, 2 bad input, 3 refused, 130 stopped), 1 for a lost one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
)

MAX_PARALLEL = 32

MIGRATED = "migrated"
ALREADY = "already migrated"
FAILED = "failed"
BAD_INPUT = "bad input"
REFUSED = "refused"
STOPPED = "stopped"
INTERRUPTED = "interrupted"
LOST = "lost"
NOT_STARTED = "not started"
SKIPPED = "skipped"

# the verdicts of a shard that needs nothing more
FINE = frozenset({MIGRATED, ALREADY, SKIPPED})


def to_start(pending: Sequence[str], running: int, parallel: int, stopping: bool
             ) -> list[str]:
    """The shards to start now: the first of ``pending`` (in the fleet's order) up to
    ``parallel`` running in all; none once the fleet is stopping."""
    if stopping:
        return []
    room = max(parallel - running, 0)
    return list(pending[:room])


def verdict(exit_status: int | None, asked_to_stop: bool) -> str:
    """A finished shard's verdict from its child's exit status (None or negative: killed
    by a signal, so the child could not say)."""
    if exit_status == EXIT_OK:
        return MIGRATED
    if exit_status == EXIT_REFUSED:
        return REFUSED
    if exit_status == EXIT_BAD_INPUT:
        return BAD_INPUT
    if exit_status == EXIT_FAILED:
        return FAILED
    if exit_status == EXIT_INTERRUPTED:
        return STOPPED if asked_to_stop else INTERRUPTED
    return LOST


def stops_the_fleet(event: Mapping[str, Any]) -> bool:
    """A child's event after which no other shard may start (without --keep-going): the
    watchdog's stopping alarm, or an error (the child's end follows)."""
    kind = event.get("event")
    if kind == "alarm":
        return event.get("stop") is True
    return kind == "error"


def fleet_exit(ended: Sequence[tuple[str, str, int | None]], interrupted: bool) -> int:
    """The fleet's exit status. ``ended``: (shard, verdict, exit status) of every shard
    it was to run, in the order they ended (never started: ``NOT_STARTED``, None)."""
    if all(found in FINE for _shard, found, _status in ended) and not interrupted:
        return EXIT_OK
    if interrupted:
        return EXIT_INTERRUPTED
    for _shard, found, status in ended:
        if found in FINE or found == NOT_STARTED:
            continue
        if found == LOST or status is None or status <= 0:
            return EXIT_FAILED  # no exit status of the migrator's to pass on
        return status
    return EXIT_FAILED  # only shards never started: the fleet stopped before them
