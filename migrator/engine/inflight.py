"""What to do on resume with a non-idempotent action that was in flight: a pure decision.

A step left ``acting`` may have been interrupted before, during or after its
action. ZooKeeper actions look at what is there and are simply run again; a
reprovision, or a command in a zone, is not idempotent, and running it a
second time (or twice at once) can do harm. So the runner gathers evidence
(effects: SSH, ZooKeeper, /proc) and hands it to ``decide``, which only reads
data::

    evidence                                                   verdict
    the local child of the intent is still running             wait
    VMAPI lists a job created after the intent, queued/running wait (its execution shown)
    the headnode reports a reprovision job of the zone running wait
    the action never journalled its own intent (killed before) redo (it had not begun)
    VMAPI's job created after the intent succeeded             done (verify)
    VMAPI's job created after the intent failed or canceled    ask (its uuid and error)
    VMAPI answers and lists no job created after the intent    done when the zone is at
                                                               the target under a new
                                                               session; wait while the
                                                               intent is younger than
                                                               JOB_APPEARS_WITHIN; else
                                                               redo (it never began)
    zone at the target, rejoined the election after the intent done (verify)
    zone was already at the target when the intent was written done (verify)
    zone at the target, not (yet) back in the election         wait
    a local child never let run (no pid journalled, or its
      gate's mark: the run died before releasing it)           redo (it ran nothing)
    zone not reachable / out of the election, child unknown    wait (a job may be at work)
    zone untouched (old version, same election node) and the
      child is gone or the headnode reports no job             redo (it never happened)
    an idempotent command (sitter enable/disable)              redo
    anything else                                              ask (typed; --yes refuses)

VMAPI's jobs (``migrator.remote.vmapi``) are Triton's own record of a reprovision:
a job runs to its end whatever happens to the CLI that started it, so it outranks
what the zone looks like. "Created after the intent" compares the job uuids the
intent recorded (``jobsBefore``), not clocks.

"Rejoined after the intent" is judged from the zone's election node: the intent
records the node names the zone held when it was written, and a restarted
sitter holds a new one (a new ZooKeeper session). A child's liveness is judged
only on the machine that started it, by pid *and* kernel start time, so a
reused pid is never taken for it. ``wait`` is re-decided whenever something
changes (the child exits, the election moves) and is bounded by the action's
timeout; ``ask`` with ``--yes`` refuses (exit 3) and says what to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from migrator.stepkit.evidence import Evidence

Verdict = Literal["done", "wait", "redo", "ask"]

# seconds after the intent within which a reprovision command started just before the
# last run died may still create its VMAPI job (`sapiadm` starting on the headnode): "no
# job" is conclusive only after that
JOB_APPEARS_WITHIN = 30.0


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    look_at: list[str] = field(default_factory=list)


def decide(e: Evidence) -> Decision:
    """The verdict for one action left in flight (see the module docstring's table)."""
    zone = e.zone or "the zone"
    if e.child == "alive":
        return Decision("wait", f"the reprovision of {zone} started by the last run "
                                f"({e.child_label}) is still running")
    job = e.vmapi_job
    if job is not None and job.under_way:
        return Decision("wait", f"the headnode's reprovision {job.describe()} of {zone} is "
                                "under way")
    if e.job == "running":
        return Decision("wait", f"the headnode reports a reprovision job of {zone} still "
                                "running")
    if not e.begun:
        return Decision("redo", f"the last run stopped before the action began (it never "
                                f"journalled what it would do in {zone})")
    if e.action != "reprovision":
        return _decide_command(e)
    if job is not None and job.succeeded:
        return Decision("done", f"the headnode's reprovision {job.describe()} of {zone} "
                                "succeeded")
    if job is not None:
        return Decision(
            "ask",
            f"the headnode's reprovision {job.describe()} of {zone} ended without success",
            [f"`sdc-vmapi /jobs/{job.uuid}` on the headnode (its chain_results say where "
             "it stopped)", f"the manatee version {zone} reports and whether its sitter runs",
             "`migrator status` (is the zone back in the election?)"],
        )
    if e.vmapi_answered and not (e.at_target and e.new_session):
        if e.intent_age is not None and e.intent_age < JOB_APPEARS_WITHIN:
            return Decision("wait", f"VMAPI lists no reprovision job of {zone} yet; the "
                                    "reprovision command the last run started may still be "
                                    f"creating it (waiting until its intent is "
                                    f"{JOB_APPEARS_WITHIN:g} s old)")
        return Decision("redo", f"VMAPI lists no reprovision job of {zone} since the last "
                                "run's intent: the reprovision never began")
    if e.at_target:
        if e.from_version is not None and e.from_version == e.target:
            return Decision("done", f"{zone} already ran {e.target} when the last run "
                                    "started the action (it skipped it)")
        if e.new_session:
            return Decision("done", f"{zone} runs {e.target} and its sitter rejoined the "
                                    "election after the reprovision was started")
        return Decision("wait", f"{zone} runs {e.target} but its sitter has not rejoined the "
                                "election since the reprovision was started")
    if e.child == "gone" and e.released is False:
        # whatever the zone looks like (a rollback disabled its sitter before): nothing ran
        return Decision("redo", f"the last run stopped before it let its reprovision child "
                                f"for {zone} run ({e.child_label}), and that child has ended "
                                "having run nothing: the reprovision never began")
    if e.reachable is False or e.in_election is False:
        what = "cannot be reached" if e.reachable is False else "is out of the election"
        if e.child == "gone":
            return Decision(
                "ask",
                f"{zone} {what} and the reprovision child of the last run ({e.child_label}) "
                "has ended: the reprovision stopped part-way",
                _look(e),
            )
        return Decision("wait", f"{zone} {what}: a reprovision may still be at work on it")
    untouched = (e.version is not None and e.in_election is True and e.new_session is False)
    if untouched and (e.child == "gone" or e.job == "idle"):
        why = (f"the child of the last run ({e.child_label}) has ended"
               if e.child == "gone" else "the headnode reports no reprovision job running")
        return Decision("redo", f"{zone} still runs {e.version} under the election node it "
                                f"held before, and {why}: the reprovision never happened")
    seen = f"runs {e.version}" if e.version else "did not say its version"
    return Decision(
        "ask",
        f"{zone} {seen} (target {e.target}) and nothing shows whether the reprovision the "
        "last run started is still going, failed, or never began",
        _look(e),
    )


def _decide_command(e: Evidence) -> Decision:
    where = e.zone or "the zone"
    if e.idempotent:
        return Decision("redo", f"`{e.command}` sets a state in {where}; running it again is "
                                "harmless")
    return Decision(
        "ask",
        f"`{e.command}` was started in {where} by the last run and nothing shows whether it "
        "ran",
        [f"what `{e.command}` does in {where}, and whether it already did it",
         f"the sitter log of {where}"],
    )


def _look(e: Evidence) -> list[str]:
    zone = e.zone or "the zone"
    out = [f"the reprovision job of {zone} on the headnode (or the reprovision command's "
           "output)",
           f"the manatee version {zone} reports and whether its sitter runs",
           "`migrator status` (is the zone back in the election?)"]
    if e.child_label:
        out.insert(0, f"the child process of the last run, {e.child_label}")
    return out



def describe_evidence(e: Evidence) -> str:
    """What state the zone of an action left in flight is in, in one sentence."""
    zone = e.zone or "the zone"
    if e.action != "reprovision":
        return f"`{e.command}` in {zone} may or may not have run to its end."
    parts = []
    if e.version is not None:
        parts.append(f"runs {e.version}" + (" (the target)" if e.at_target else
                                             f" (target {e.target})"))
    elif e.reachable is False:
        parts.append("cannot be reached")
    if e.in_election is True:
        parts.append("is in the election" + (" under a new session" if e.new_session else
                                             " under the session it had before"))
    elif e.in_election is False:
        parts.append("is out of the election (its sitter is down)")
    if e.child == "alive":
        parts.append(f"the reprovision ({e.child_label}) is still running")
    elif e.child == "gone":
        parts.append(f"the reprovision child ({e.child_label}) has ended")
    if e.job == "running":
        parts.append("the headnode reports its reprovision job running")
    if e.vmapi_job is not None:
        parts.append(f"the headnode's reprovision {e.vmapi_job.describe()}")
    elif e.vmapi_answered:
        parts.append("VMAPI lists no reprovision job of it since the intent")
    return f"{zone}: " + ", ".join(parts) + "." if parts else f"{zone}: nothing could be seen."
