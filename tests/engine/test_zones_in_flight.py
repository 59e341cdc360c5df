"""The zones a stopped run left an action at work on, as a resumed run knows them before
it reaches their steps (so its watchdog does not take their departure for a fault)."""

from __future__ import annotations

import pytest

from migrator.cluster.original import capture
from migrator.engine.context import EngineContext
from migrator.engine.live_plan import zones_in_flight
from migrator.playbook import catalog
from tests.engine.helpers import SHARD, snapshot

pytestmark = pytest.mark.unit


def test_the_zones_of_steps_left_acting_or_verifying_are_in_flight() -> None:
    original = capture(snapshot([0, 1, 2]))
    ctx = EngineContext(shard=SHARD, zk=None, inventory=None, remote=None, original=original)
    loaded = catalog.resolve("three-node")
    sync = original.by_role("original_sync").zone_id
    primary = original.by_role("original_primary").zone_id

    def statuses(**left: str) -> set[str]:
        return zones_in_flight(ctx, loaded, lambda step: left.get(step.replace("-", "_"),
                                                                   "pending"))

    # a headnode's reprovision of the sync set going by the killed run
    assert statuses(reprovision_async="done", backfill="done",
                    reprovision_sync="acting") == {sync}
    assert statuses(reprovision_primary="verifying") == {primary}
    # done or never begun: nothing of the last run is at work there; steps without a
    # zone (the backfill) name none
    assert statuses(reprovision_sync="done", backfill="acting") == set()
    assert statuses() == set()
