"""`migrator run`'s one "proceed?": the plan's summary, asked once before anything is written.

As ``terraform apply`` does: what will happen (steps to do, write outages
expected with their causes and estimates, ZooKeeper writes), then one
question. Declining writes nothing: no journal, no lock left behind. Each
zone reprovision is still confirmed when its step comes (see
``migrator.engine.asking``); ``--yes`` answers all of them, and a saved plan
(``--plan``) is itself the operator's answer.
"""

from __future__ import annotations

from typing import Any

from migrator.cluster.writability import Outage
from migrator.engine.planner import Plan
from migrator.engine.render import outage_summary, run_estimate_line
from migrator.stepkit.schema import Step


def summary_lines(plan: Plan) -> list[str]:
    """Plain sentences; the same on a terminal, in a pipe and in the ``summary`` event."""
    pending = plan.pending
    lines = [f"Shard {plan.shard}, playbook {plan.playbook}: {len(pending)} of "
             f"{len(plan.steps)} step(s) to do."]
    for index, step in enumerate(plan.steps, start=1):
        if step.status == "done":
            continue
        marks = []
        if step.write is not None:
            marks.append(f"writes {step.write.summary()}")
        if step.outage_detail is not None:
            marks.append(f"WRITE OUTAGE, {step.outage_detail.estimate}")
        lines.append(f"  {index}. {step.title} ({step.id})"
                     + (f": {'; '.join(marks)}" if marks else ""))
    lines.append(outage_summary(plan))
    lines.append(run_estimate_line(plan))
    writes = plan.writes
    lines.append(f"ZooKeeper writes: {len(writes)}"
                 + (f" ({', '.join(s.id for s in writes)})" if writes else "")
                 + "; each is shown again, and confirmed, when its step comes.")
    return lines


def summary_json(plan: Plan) -> dict[str, Any]:
    return {
        "shard": plan.shard,
        "playbook": plan.playbook,
        "steps": [s.id for s in plan.pending],
        "outages": [{"step": s.id, **s.outage_detail.to_json()} for s in plan.outages
                    if s.outage_detail is not None],
        "writes": [{"step": s.id, "summary": s.write.summary()} for s in plan.writes
                   if s.write is not None],
    }


def proceed(console: Any, plan: Plan, *, saved_plan: bool) -> None:
    """Show the summary and ask once (``NotConfirmed`` when declined)."""
    sink = getattr(console, "sink", None)
    if sink is not None:
        sink.emit("plan", plan=plan.to_json())
        sink.emit("summary", **summary_json(plan))
    console.say("")
    for index, line in enumerate(summary_lines(plan)):
        console.say(line, "bold" if index == 0 else None)
    question = f"Proceed with {len(plan.pending)} step(s) on shard {plan.shard}?"
    if saved_plan:
        console.say(f"{question} yes (saved plan)")
        answered = getattr(console, "answered", None)
        if answered is not None:
            answered(question, False, "yes (saved plan)")
        return
    console.ask(question, None, False)


def announce(console: Any, plan: Plan) -> None:
    """The ``summary`` event alone, for a run that shows its plan its own way and asks
    no "proceed?" (a rollback): the journal's log keeps it, so `status` counts the run's
    steps."""
    sink = getattr(console, "sink", None)
    if sink is not None:
        sink.emit("summary", **summary_json(plan))


def question_for(step: Step, described: str, outage: Outage | None) -> str:
    text = f"{step.title}: {described}?"
    if outage is not None:
        text += f" This causes a write outage: {outage.cause}; expected {outage.estimate}."
    elif step.outage:
        text += " This causes a write outage."
    return text
