"""Rendering a plan for people (rich on a terminal, plain text piped) or as JSON.

People see each check and action in words (``migrator.engine.planner.describe_ref``:
the playbook's ``why``, else the registered summary with its parameters in words), the
checks one a line, aligned after ``preconditions:`` and ``verify:``. ``--json`` keeps
the machine form (``name(key=value)``) unchanged: programs and saved plans rely on it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from migrator.engine.planner import Plan
from migrator.ui.inert import inert, inert_markup

_STATUS_STYLE = {"done": "green", "pending": "yellow", "resume": "cyan"}


def plan_lines(plan: Plan) -> list[tuple[str, str | None]]:
    """(text, style) lines; the same content on a terminal and in a pipe."""
    out: list[tuple[str, str | None]] = []
    add = out.append
    add((f"Plan for shard {plan.shard}: playbook {plan.playbook} ({plan.playbook_digest})",
         "bold"))
    if plan.choice:
        add((plan.choice, None))
    add(("Original topology (" + plan.original.source + "): " + ", ".join(
        f"{p.role.removeprefix('original_')} {p.zone_id} ({p.peer_id})"
        for p in plan.original.peers), None))
    for note in plan.notes:
        add((f"Note: {note}", "yellow"))
    if plan.tradeoff:
        add(("", None))
        add(("Trade-off: " + " ".join(plan.tradeoff.split()), None))
    for alternative in plan.alternatives:
        add(("Alternative: " + alternative, None))
    for index, step in enumerate(plan.steps, start=1):
        add(("", None))
        add((f"{index}. [{step.status.upper()}] {step.title} ({step.id})",
             f"bold {_STATUS_STYLE.get(step.status, '')}".strip()))
        add((f"   {step.reason}", None))
        if step.status == "done":
            continue
        if step.zones:
            add(("   zones: " + ", ".join(f"{r.removeprefix('original_')}={z}"
                                          for r, z in step.zones.items()), None))
        _checks(add, "preconditions", step.preconditions_words or step.preconditions)
        # what the run will ask (``migrator.engine.asking``), not only what the playbook says
        confirm = {"none": "", "yes": " (asks y/n)",
                   "typed": " (type the shard name)"}[step.asks]
        add((f"   action: {step.action_words or step.action}{confirm}"
             + (" -- WRITE OUTAGE" if step.outage else ""), None))
        if step.does:
            add((f"   does: {step.does}", None))
        if step.outage_detail is not None:
            add((f"   write outage: {step.outage_detail.cause}; expected: "
                 f"{step.outage_detail.estimate}", "bold red"))
        if step.write is not None:
            add((f"   ZooKeeper write: {step.write.summary()}", "bold"))
            for line in step.write.diff().splitlines():
                style = ("green" if line.startswith("+") and not line.startswith("+++")
                         else "red" if line.startswith("-") and not line.startswith("---")
                         else None)
                add(("     " + line, style))
            if step.write.note:
                add((f"     ({step.write.note})", None))
        _checks(add, "verify", step.verify_words or step.verify)
    add(("", None))
    if plan.complete:
        add(("Every step is done: nothing to do.", "bold green"))
    else:
        add((f"{len(plan.pending)} step(s) to run.", "bold"))
        add((outage_summary(plan), "bold red" if plan.outages else None))
        add((run_estimate_line(plan), None))
    if plan.risks:
        add(("Risks:", "bold"))
        for risk in plan.risks:
            add(("  - " + " ".join(risk.split()), None))
    return out


def _checks(add: Callable[[tuple[str, str | None]], None], label: str,
            checks: list[str]) -> None:
    """A step's preconditions or verifications, one a line, aligned after their label:
    each is a sentence (``migrator.engine.planner.describe_ref``), too long to share a
    line with another (and a bullet would read as a line of the write's diff)."""
    head = f"   {label}: "
    for index, check in enumerate(checks):
        add(((head if index == 0 else " " * len(head)) + check, None))


def run_estimate_line(plan: Plan) -> str:
    """About how long the run takes, and what the figure is made of."""
    reprovisions = sum(1 for s in plan.pending if s.takes_zone_down)
    minutes = plan.run_estimate / 60
    return (f"The run should take about {minutes:.0f} min ({plan.run_estimate:g} s): "
            f"{reprovisions} reprovision(s) of about {plan.timing.reprovision:g} s each and "
            f"{len(plan.pending) - reprovisions} other step(s) of a few seconds, not counting "
            "the time you take to answer.")


def outage_summary(plan: Plan) -> str:
    """One line: which steps stop writes and for about how long in all."""
    if not plan.outages:
        return "Write outages expected: none."
    total = sum(s.outage_detail.seconds for s in plan.outages if s.outage_detail is not None)
    return (f"Write outages expected: {len(plan.outages)} step(s) "
            f"({', '.join(s.id for s in plan.outages)}), about {total:g} s in all; "
            f"{plan.timing.describe()}.")


def render_plan(plan: Plan, *, as_json: bool, stream: Any = None) -> None:
    stream = stream or sys.stdout
    if as_json:
        stream.write(json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    if getattr(stream, "isatty", lambda: False)():
        # deferred: rich costs ~30 ms to import; only terminal views pay it
        from rich.console import Console

        console = Console(file=stream, highlight=False, soft_wrap=True)
        for text, style in plan_lines(plan):
            shown = inert_markup(text)
            console.print(f"[{style}]{shown}[/]" if style else shown)
        return
    for text, _style in plan_lines(plan):
        stream.write(inert(text) + "\n")
