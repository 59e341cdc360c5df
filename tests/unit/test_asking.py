"""Which question a step asks: one rule for the plan and the run (pure)."""

from __future__ import annotations

import pytest

from migrator.cluster.writability import KIND_SYNC_LOST, Outage
from migrator.engine.asking import asks
from migrator.playbook import catalog
from migrator.stepkit.registry import get_action

pytestmark = pytest.mark.unit

STOPS_WRITES = Outage(KIND_SYNC_LOST, "the sync leaves", 2.0)


@pytest.mark.parametrize("name", sorted(catalog.builtin_names()))
def test_each_built_in_step_asks_by_the_one_rule(name: str) -> None:
    """Typed when the playbook says typed or the step stops writes (a reprovision of the
    sync says "yes" in the playbook but is typed once the plan finds its outage); y/n
    when the playbook, the action (a reprovision) or a shown write asks; else nothing."""
    for step in catalog.resolve(name).playbook.steps:
        action = get_action(step.action.name)
        asked = step.confirm != "none" or action.always_confirmed or action.confirms_itself
        expected = "typed" if step.confirm == "typed" else "yes" if asked else "none"
        assert asks(step, None, action) == expected, (name, step.id)
        assert asks(step, STOPS_WRITES, action) == "typed", (name, step.id)
