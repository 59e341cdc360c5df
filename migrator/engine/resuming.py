"""Resuming an action a run left ``acting``: what the live shard says became of it.

A reprovision or a command in a zone is not idempotent. Before it does anything it
journals its *intent*; on resume the action's registered ``resume`` gathers the
evidence from the live zone, the election, this machine and the headnode, and
``migrator.engine.inflight.decide`` (pure) says: done -> verify; still under way ->
wait for it (never a second one at once); never happened -> act again; no evidence
either way -> ask the operator to type the shard name, or with ``--yes`` refuse (exit 3)
saying what to look at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from migrator.engine.console import RunConsole
from migrator.engine.context import EngineContext
from migrator.engine.inflight import Decision, decide, describe_evidence
from migrator.engine.observe import QUERIES
from migrator.engine.recording import RunRecorder
from migrator.errors import Refused, StepFailed
from migrator.remote.localchild import child_state, wait_gone
from migrator.stepkit.evidence import Evidence
from migrator.stepkit.registry import Outcome, get_action
from migrator.stepkit.schema import Step
from migrator.zk.watches import wait_for, watch_election

# seconds between looks at an action left in flight when nothing we can watch changes
# (a headnode job's status has no event to follow)
INFLIGHT_RECHECK = 5.0


class InFlight:
    """For one run: what became of the actions its journal left ``acting``."""

    def __init__(self, client: Any, shard: str, record: RunRecorder, console: RunConsole,
                 confirm: Callable[[str, Any, bool], None], resume_command: str, *,
                 refuse_to_ask: bool, waited: Callable[[float], None]) -> None:
        self.client = client
        self.shard = shard
        self.record = record
        self.console = console
        self.confirm = confirm
        self.resume_command = resume_command
        self.refuse_to_ask = refuse_to_ask  # --yes or a saved plan: nobody to ask
        self.waited = waited  # told the seconds spent waiting for the cluster

    def resume(self, ctx: EngineContext, step: Step) -> Outcome | None:
        """The outcome when the action is done, None when it must be run (again); waits
        while it is under way; asks (typed) when nothing tells, refuses with --yes."""
        registered = get_action(step.action.name)
        assert registered.resume is not None
        params = registered.params.validate(step.action.params)
        intent = dict(self.record.step(step.id).intent or {})
        limit = float(getattr(params, "timeout", None) or step.timeout)
        deadline = time.monotonic() + limit
        said = waited_for = ""
        while True:
            with QUERIES.timing():
                evidence = registered.resume(ctx, params, intent)
            decision = decide(evidence)
            if decision.reason != said:
                self.console.say(f"  left in flight by the last run: {decision.reason}")
                said = decision.reason
            if decision.verdict == "done":
                return Outcome(True, f"done in an earlier run: {decision.reason}",
                               {"resumed": "done", "reason": decision.reason})
            if decision.verdict == "redo":
                return None
            if decision.verdict == "ask":
                self._ask_redo(step, decision)
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StepFailed(
                    f"Step {step.id} ({step.title}): {decision.reason}, still after waiting "
                    f"{limit:g} s for it; nothing was started.",
                    f"Look at it; once it has ended, `{self.resume_command}` decides "
                    "again from what it finds.",
                )
            started = time.monotonic()
            try:
                if decision.reason != waited_for:  # one waiting line per new reason
                    waited_for = decision.reason
                    with self.console.waiting(decision.reason, remaining):
                        self._wait(evidence, intent, min(remaining, INFLIGHT_RECHECK))
                else:
                    self._wait(evidence, intent, min(remaining, INFLIGHT_RECHECK))
            finally:
                self.waited(time.monotonic() - started)

    def refuse_while_another_runs(self, kind: str, step: Step) -> None:
        """Never two non-idempotent actions at once: a local child an earlier run left
        (in any step, migration or rollback) must have ended first."""
        journal = self.record.journal
        assert journal is not None
        for run in journal.runs:
            for step_id, record in run.steps.items():
                if (run.kind, step_id) == (kind, step.id):
                    continue
                intent = record.intent or {}
                if record.status == "acting" and child_state(intent) == "alive":
                    raise Refused(
                        f"Step {step.id} ({step.title}) was not started: the {run.kind}'s "
                        f"step {step_id} left an action running (pid {intent.get('pid')}, "
                        f"process group {intent.get('pgid')}, in {intent.get('zone')}).",
                        "Wait for it to end (its output is in "
                        f"{intent.get('output')}), then run this again.",
                    )

    def say_interrupted(self, ctx: EngineContext, step: Step) -> None:
        """After Ctrl-C: what state the zone of an action left in flight is in, and the
        command that continues. Best effort: it must not hide the interruption."""
        try:
            record = self.record.step(step.id)
            registered = get_action(step.action.name)
            if record.status == "acting" and registered.resume is not None:
                params = registered.params.validate(step.action.params)
                evidence = registered.resume(ctx, params, dict(record.intent or {}))
                self.console.essential(f"  Stopped waiting for {step.title.lower()}; it was "
                                       f"left as it is. {describe_evidence(evidence)}",
                                       "yellow")
                self.console.essential(
                    "  The step stays `acting`: resuming decides from the zone whether the "
                    "action happened, waits for it while it runs, and never starts a second "
                    "one at the same time.", "yellow")
            self.console.essential(f"  To continue: {self.resume_command}", "yellow")
        except (Exception, KeyboardInterrupt):
            pass

    def _ask_redo(self, step: Step, decision: Decision) -> None:
        look = "; ".join(decision.look_at) or "the zone"
        if self.refuse_to_ask:
            raise Refused(
                f"Step {step.id} ({step.title}) was interrupted while acting, and "
                f"{decision.reason}. Running it again without knowing could start a second "
                "one; nothing was done.",
                f"Look at: {look}. If it did not happen, run `{self.resume_command}` "
                "without --yes and confirm; if it did, wait until the zone is back and "
                "resume.",
            )
        self.console.say(f"  Before answering, look at: {look}.", "yellow")
        self.confirm(f"{step.title}: run the action again (it may have happened already)?",
                     None, True)

    def _wait(self, evidence: Evidence, intent: Mapping[str, Any], timeout: float) -> None:
        """Until the local child exits, or the election changes, or ``timeout``."""
        if evidence.child == "alive" and isinstance(intent.get("pid"), int):
            wait_gone(int(intent["pid"]), timeout)
            return

        first: list[Any] = []

        def changed(children: Any) -> Any:
            if not first:
                first.append(sorted(children))
                return None
            return True if sorted(children) != first[0] else None

        wait_for(lambda deliver: watch_election(self.client, self.shard, deliver), changed,
                 timeout)
