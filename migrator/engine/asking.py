"""Which question a step asks before it acts: none, y/n, or the shard name typed.

One rule for the plan and the run, so what `migrator plan` says a step will ask is
what the run asks (pure):

* a step asks when the playbook says so (``confirm: yes|typed``), when its action is
  registered as always confirmed (a zone's reprovision), or when it stops writes;
  an action that shows its own computed write and asks about it
  (``confirms_itself``: the ZooKeeper writes) asks in its own words instead, but by
  the same rule of kind;
* the question is typed (the shard name) when the playbook says ``typed`` or the
  step stops writes; otherwise y/n.
"""

from __future__ import annotations

from migrator.cluster.writability import Outage
from migrator.stepkit.registry import Registered
from migrator.stepkit.schema import Step

NONE, YES, TYPED = "none", "yes", "typed"


def needs_confirmation(step: Step, outage: Outage | None, action: Registered) -> bool:
    """Whether the runner asks before the action (an action that confirms itself asks
    on its own, so not here)."""
    if action.confirms_itself:
        return False
    return step.confirm != "none" or action.always_confirmed or outage is not None


def asks(step: Step, outage: Outage | None, action: Registered) -> str:
    """``none``, ``yes`` (y/n) or ``typed``: what the operator is asked in this step."""
    if not (action.confirms_itself or needs_confirmation(step, outage, action)):
        return NONE
    return TYPED if typed(step, outage) else YES


def typed(step: Step, outage: Outage | None) -> bool:
    return step.confirm == "typed" or outage is not None
