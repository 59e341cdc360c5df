"""What a resumed run learns about an action left in flight, gathered by the action's
``resume`` (``migrator.stepkit.registry``) and judged by the engine
(``migrator.engine.inflight.decide``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from migrator.remote.vmapi import VmapiJob

ChildState = Literal["alive", "gone", "unknown"]
JobState = Literal["running", "idle", "unknown"]


@dataclass(frozen=True)
class Evidence:
    """What the live shard and this machine say about an action left in flight.

    ``None`` means "could not tell" (the zone did not answer, no template to ask).
    """

    action: str  # "reprovision" or "run_command"
    # the action journalled what it was about to do (it writes that before anything
    # else): False means it was stopped before it began
    begun: bool = True
    zone: str | None = None
    target: str | None = None  # the image the reprovision installs
    from_version: str | None = None  # what the zone ran when the intent was written
    version: str | None = None  # what it runs now (None: it did not answer)
    reachable: bool | None = None
    child: ChildState = "unknown"
    child_label: str = ""  # "pid 1234 (process group 1234) on host"
    # False: a local child the last run never let run (no pid journalled, or its gate's
    # mark: the child waits at its gate until its pid is journalled, and exits having
    # run nothing); None: released, or nothing says
    released: bool | None = None
    job: JobState = "unknown"
    # VMAPI's word (``commands.reprovision_jobs``): whether it answered, and the job
    # created after the intent (None: VMAPI lists none, or did not answer)
    vmapi_answered: bool = False
    vmapi_job: VmapiJob | None = None
    # seconds since the intent was journalled, on this machine's clock (None: unknown)
    intent_age: float | None = None
    in_election: bool | None = None
    new_session: bool | None = None  # an election node the intent did not record
    idempotent: bool = False  # a command that sets a state (sitter enable/disable)
    command: str | None = None

    @property
    def at_target(self) -> bool | None:
        if self.version is None or self.target is None:
            return None
        return self.version == self.target
