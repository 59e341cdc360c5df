"""Actions that only involve the operator: acknowledgements the runbook leaves to people."""

from __future__ import annotations

from migrator.record import field
from migrator.stepkit.context import StepContext
from migrator.stepkit.registry import NoParams, Outcome, action, check


class AskParams(NoParams):
    question: str = field(min_length=1)
    typed: bool = False


@action("ask_operator", AskParams, describe=lambda _ctx, p: f"ask: {p.question}",
        confirms_itself=True)
def ask_operator(ctx: StepContext, p: AskParams) -> Outcome:
    """Ask the operator to confirm something the tool cannot see."""
    ctx.confirm(p.question, None, typed=p.typed)
    return Outcome(True, f"operator confirmed: {p.question}", {"confirmed": True})


class MorayParams(NoParams):
    min_version: str = field(min_length=1)


def listed_morays(inventory: object) -> list[str]:
    morays = getattr(inventory, "morays", None) or []
    if isinstance(morays, dict):
        return [str(k) for k in morays]
    return [str(getattr(m, "name", None) or getattr(m, "zone", None) or m) for m in morays]


@action("confirm_morays", MorayParams,
        describe=lambda _ctx, p: f"confirm Morays are at least {p.min_version}",
        implied=False, confirms_itself=True)
def confirm_morays(ctx: StepContext, p: MorayParams) -> Outcome:
    """With Morays listed, their versions are verified next; with none, the operator vouches."""
    names = listed_morays(ctx.inventory)
    if names:
        return Outcome(True, f"{len(names)} Moray zone(s) listed; their versions are checked "
                             f"against {p.min_version}", {"morays": names})
    ctx.confirm(
        f"The inventory lists no Moray zones, so their versions cannot be checked. Have you "
        f"upgraded every Moray of this shard to {p.min_version} or later (a Moray that reads "
        "topology only from the election would follow the wrong primary after the takeover)?",
        None,
    )
    return Outcome(True, "operator confirmed the Morays are upgraded (none listed)",
                   {"morays": [], "confirmed": True})


@check("morays_listed")
def morays_listed(ctx: StepContext, _p: NoParams, _timeout: float) -> Outcome:
    """The inventory lists Moray zones, so their versions can be checked by the tool."""
    names = listed_morays(ctx.inventory)
    if names:
        return Outcome(True, f"{len(names)} Moray zone(s) listed")
    return Outcome(False, "the inventory lists no Moray zones (the operator must confirm)")
