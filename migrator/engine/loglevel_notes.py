"""Plan notes for steps that wait for a DEBUG sitter record a zone will not write.

Pure part: which pending steps wait (``log_record``) for a record that is
DEBUG upstream, and in which zone. Effect: one sample of each such zone's log
(``remote.loglevels.sample_zone``). The note says what the check will accept
instead, or that it will fail at once. Only the records of the sitter writing the
log now are judged (``remote.loglevels.judge_end``): a zone still at v1 is judged by
its v1 sitter; the v2 image's own SMF manifest decides the v2 level, which the run
judges again on the records of the sitter the step's reprovision started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrator.errors import MigratorError
from migrator.remote.loglevels import debug_only, fallback_for, sample_zone


@dataclass(frozen=True)
class DebugDependency:
    step: str
    zone: str
    msg: str


def debug_dependencies(plan: Any, playbook: Any) -> list[DebugDependency]:
    """Pending steps' ``log_record`` checks on DEBUG-only records, with the zone resolved."""
    pending = {s.id: s for s in plan.steps if s.status != "done"}
    found: list[DebugDependency] = []
    for step in playbook.steps:
        planned = pending.get(step.id)
        if planned is None:
            continue
        for ref in [*step.preconditions, *step.verify]:
            msg = ref.params.get("msg")
            if ref.check != "log_record" or not debug_only(msg):
                continue
            role = str(ref.params.get("zone"))
            zone = planned.zones.get(role, role)
            found.append(DebugDependency(step.id, zone, str(msg)))
    return found


def debug_notes(deps: list[DebugDependency],
                writes_debug: Callable[[str], bool | None]) -> list[str]:
    """One note per dependency whose zone writes no DEBUG records (each zone sampled once)."""
    seen: dict[str, bool | None] = {}
    notes: list[str] = []
    for dep in deps:
        if dep.zone not in seen:
            seen[dep.zone] = writes_debug(dep.zone)
        if seen[dep.zone] is not False:
            continue
        fallback = fallback_for(dep.msg)
        then = (f"instead it will accept {fallback.why}" if fallback is not None
                else "it has no INFO-level evidence to fall back on and will fail at once")
        notes.append(
            f"Step {dep.step} waits for the DEBUG record {dep.msg!r} in zone {dep.zone}, whose "
            f"current sitter writes no DEBUG records (it runs at info; Triton runs it with "
            f"-vvv): "
            f"{then}."
        )
    return notes


def sample_debug(remote: Any) -> Callable[[str], bool | None]:
    def writes_debug(zone: str) -> bool | None:
        try:
            return sample_zone(remote, zone)
        except MigratorError:
            return None

    return writes_debug
