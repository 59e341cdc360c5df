"""A reprovision's VMAPI job followed while it runs, for the action's live line."""

from __future__ import annotations

import threading
from typing import Any

from migrator.remote.vmapi import VmapiJob, ours
from migrator.stepkit.context import StepContext

# seconds between looks at VMAPI's jobs while a reprovision runs (a job has no event to
# follow; the first look comes soon, when the job has just been created)
JOB_FIRST_LOOK = 1.0
JOB_RECHECK = 5.0


class JobFollower:
    """While a reprovision runs on the headnode: VMAPI's job of it, its execution shown
    on the action's live line as it changes (``ctx.seen``). Does nothing where the
    inventory lists no jobs (``known`` None). A look that fails shows nothing."""

    def __init__(self, ctx: StepContext, remote: Any, zone: str,
                 known: list[str] | None) -> None:
        self.ctx, self.remote, self.zone, self.known = ctx, remote, zone, known
        self.last: VmapiJob | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="migrator-vmapi-job",
                                        daemon=True)

    def look(self) -> VmapiJob | None:
        """VMAPI's job of this reprovision now (None: none yet, or VMAPI did not say)."""
        if self.known is None:
            return None
        try:
            jobs, _why_not = self.remote.reprovision_jobs(self.zone)
        except Exception:  # a look that fails proves nothing; the thread must live on
            return None
        found = None if jobs is None else ours(jobs, self.known, None)
        if found is not None and found != self.last:
            self.last = found
            self.ctx.seen(f"VMAPI {found.describe()}")
        return found

    def _follow(self) -> None:
        wait = JOB_FIRST_LOOK
        while not self._stop.wait(wait):
            self.look()
            wait = JOB_RECHECK

    def __enter__(self) -> JobFollower:
        if self.known is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
