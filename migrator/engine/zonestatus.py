"""The zones' status as a second source of observed write outages.

While a step the plan flags as an outage step runs, a ``ZoneStatusSampler``
reads the current primary's ``manatee-adm status`` (run in the primary's zone
through the run's SSH session, parsed by ``migrator.remote.manatee_status``)
and hands each reading to the outage judge (``OutageWatch.see_status``).

Decisions, as the watchdog's replication monitor makes them (it is reused
here): a reading is taken when the step starts, whenever the primary's or the
departing zone's sitter log moves (a sync stopping, a primary reconfiguring
its standby), whenever ZooKeeper's view of the shard changes (``wake``), and
otherwise every ``STATUS_RECHECK`` seconds, since
replication itself writes nothing to those logs. A reading that cannot be
taken (SSH or ``manatee-adm`` failing) is handed on as ``None``: not knowing
opens or closes nothing, and ZooKeeper's view stands. One sampler at a time,
stopped and joined when the step ends or the run does.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from migrator.engine.outagewatch import StatusSample, sample_of
from migrator.engine.watchdog import ReplicationMonitor
from migrator.remote.manatee_status import parse_status
from migrator.steps.remote import status_command

# seconds between readings when no log moves: a window's edges are known to about a
# second, and a sync's loss is seen before its ZooKeeper session expires (one
# `manatee-adm status` a second in the primary's zone, only while an outage step runs)
STATUS_RECHECK = 1.0


class ZoneStatusSampler(ReplicationMonitor):
    """Samples ``manatee-adm status`` in ``where()`` (the current primary's zone), woken
    by the sitter logs of ``primary`` and ``departing``."""

    def __init__(self, remote: Any, shard: str, primary: str, departing: str,
                 where: Callable[[], str | None],
                 on_sample: Callable[[StatusSample | None], None],
                 *, recheck: float = STATUS_RECHECK) -> None:
        super().__init__(remote, shard, primary, departing, lambda _r, _s: None,
                         recheck=recheck)
        self.where = where
        self.on_sample = on_sample

    def start(self) -> None:
        self._spawn(self._loop, "migrator-zone-status")

    def wake(self) -> None:
        """Read again now: ZooKeeper's view of the primary changed (a session ended, a
        takeover), which is when a reading must not wait for the next recheck."""
        self._wake.put(object())

    def read(self) -> StatusSample | None:
        zone = self.where() or self.primary
        try:
            result = self.remote.run(zone, status_command(self.remote.inventory),
                                     reads_only=True)
            if not result.ok:
                return None
            return sample_of(parse_status(result.text, self.shard))
        except Exception:  # any failure to look: unknown, and the thread must live on
            return None

    def _loop(self) -> None:
        zones = [self.primary] + ([self.sync] if self.sync != self.primary else [])
        for zone in zones:
            if self._stop.is_set():
                return
            self._follow(zone)
        while not self._stop.is_set():
            sample = self.read()
            if self._stop.is_set():
                return
            self.samples += 1
            self.on_sample(sample)
            try:
                self._wake.get(timeout=self.recheck)
            except queue.Empty:
                continue
            while not self._wake.empty():  # one reading for a burst of log lines
                self._wake.get_nowait()
