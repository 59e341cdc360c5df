"""Outage flags, causes and estimates per step, for every built-in playbook (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.cluster import writability as o
from migrator.engine.outage import StepSpec, assess, timing_of
from migrator.engine.planner import Plan, PlannedStep, make_plan
from migrator.engine.render import outage_summary, plan_lines
from migrator.playbook import catalog
from migrator.playbook.loader import load_playbook_text
from tests.engine.helpers import ZONES, snapshot

pytestmark = pytest.mark.unit

NOW = "2026-11-26T05:00:00.000Z"
TIMING = o.Timing(session_timeout=30.0, reprovision=400.0, source="inventory")
A, B, C = ZONES


def _plan(name: str, peers: int) -> Plan:
    return make_plan(snapshot(list(range(peers))), [], catalog.resolve(name), None, {},
                     now=NOW, timing=TIMING)


def _by_action(plan: Plan, zone: str) -> PlannedStep:
    (step,) = [s for s in plan.steps if s.action.startswith("reprovision(")
               and f"zone={_role_of(plan, zone)}" in s.action]
    return step


def _role_of(plan: Plan, zone: str) -> str:
    return next(p.role for p in plan.original.peers if p.zone_id == zone)


def _flagged(plan: Plan) -> dict[str, str]:
    return {s.id: s.outage_detail.kind for s in plan.steps if s.outage_detail is not None}


def test_three_node_flags_the_v1_sync_departure_and_the_takeover() -> None:
    plan = _plan("three-node", 3)
    assert _flagged(plan) == {"reprovision-sync": o.KIND_SYNC_LOST,
                              "reprovision-primary": o.KIND_TAKEOVER}
    sync = plan.steps[[s.id for s in plan.steps].index("reprovision-sync")]
    assert sync.outage and sync.outage_detail is not None
    assert "v1 primary's sync leaves" in sync.outage_detail.cause
    assert sync.outage_detail.seconds == 30.0
    assert sync.to_json()["outage"] is True
    assert sync.to_json()["outageDetail"]["estimateSeconds"] == 30.0
    assert not _by_action(plan, C).outage  # the async's reprovision stops nothing
    doc = plan.to_json()
    assert doc["outages"]["steps"] == ["reprovision-sync", "reprovision-primary"]
    assert doc["outages"]["totalEstimateSeconds"] == 60.0
    assert doc["outages"]["timing"]["source"] == "inventory"


def test_frozen_primary_order_is_a_whole_reprovision_outage() -> None:
    plan = _plan("three-node-frozen-primary", 3)
    flagged = _flagged(plan)
    assert flagged["reprovision-primary-frozen"] == o.KIND_WHOLE
    assert flagged["reprovision-sync"] == o.KIND_SYNC_LOST
    step = next(s for s in plan.steps if s.id == "reprovision-primary-frozen")
    assert step.outage_detail is not None and step.outage_detail.seconds == 400.0
    assert "frozen" in step.outage_detail.cause


def test_two_node_primary_reprovision_is_an_outage_for_its_whole_length() -> None:
    plan = _plan("two-node", 2)
    primary = _by_action(plan, A)
    assert primary.outage_detail is not None
    assert primary.outage_detail.kind == o.KIND_WHOLE
    assert "two-node" in primary.outage_detail.cause and "async" in primary.outage_detail.cause
    sync = _by_action(plan, B)
    assert sync.outage_detail is not None and sync.outage_detail.kind == o.KIND_SYNC_LOST


def test_one_node_reprovision_is_a_whole_shard_outage_not_a_short_one() -> None:
    plan = _plan("one-node", 1)
    primary = _by_action(plan, A)
    assert primary.outage_detail is not None
    assert primary.outage_detail.kind == o.KIND_WHOLE
    assert "one peer" in primary.outage_detail.cause
    text = "\n".join(line for line, _ in plan_lines(plan))
    assert "the whole reprovision, about 400 s" in text
    assert not any("short write outage" in r for r in plan.risks)


def test_one_node_backfill_is_flagged_the_reprovisioned_peer_waits_for_state() -> None:
    """The one-node shard's only peer comes back at v2 with no /state and takes no writes
    until the backfill writes it: the backfill is an outage step too (it is typed); the
    outage ends in the last step, which waits for the peer to serve as primary."""
    plan = _plan("one-node", 1)
    kinds = _flagged(plan)
    assert kinds.get("backfill") == o.KIND_NO_STATE, kinds
    backfill = next(s for s in plan.steps if s.id == "backfill")
    assert backfill.asks == "typed" and backfill.outage_detail is not None
    assert "waits for /state" in backfill.outage_detail.cause
    assert "as long as its confirmation takes" in backfill.outage_detail.estimate
    assert kinds.get("one-node-write-mode") == o.KIND_PLAYBOOK
    # two- and three-node backfills come while a v1 primary takes writes: no outage
    assert "backfill" not in _flagged(_plan("three-node", 3))
    assert "backfill" not in _flagged(_plan("two-node", 2))


def test_every_step_without_a_cause_says_no_outage_in_json() -> None:
    plan = _plan("three-node", 3)
    for step in plan.steps:
        doc = step.to_json()
        assert doc["outage"] is (doc["outageDetail"] is not None)


ROLES = {"original_primary": A, "original_sync": B, "original_async": C}
ROLE_OF = {zone: role for role, zone in ROLES.items()}


def _assess(specs: list[StepSpec], model: o.ShardModel) -> list[o.Outage | None]:
    return assess(specs, model, TIMING, ROLES.get)


def _reprovision(zone: str) -> StepSpec:
    return StepSpec("x", "reprovision", {"zone": ROLE_OF[zone]})


def _template(name: str) -> list[StepSpec]:
    path = catalog.playbooks_dir() / f"{name}.yaml"
    loaded = load_playbook_text(path.read_bytes(), str(path))
    return [StepSpec(s.id, s.action.name, s.action.params, marked=s.outage)
            for s in loaded.playbook.steps]


def test_rollback_after_primary_is_down_from_the_disable_until_the_sync_is_back() -> None:
    # after the takeover: C' primary, B' sync, A' deposed; every peer v2, unfrozen
    model = o.ShardModel(election=(C, B, A), state=(C, B), deposed=(A,),
                         v2=frozenset({A, B, C}))
    specs = _template("rollback-after-primary")
    found = dict(zip([s.id for s in specs], _assess(specs, model), strict=True))
    down = [i for i, v in found.items() if v is not None]
    assert down == ["disable-sitters", "delete-state", "roll-back-primary", "roll-back-sync"]
    assert found["roll-back-async"] is None and found["confirm-v1"] is None
    assert found["roll-back-sync"] is not None and found["roll-back-sync"].seconds == 400.0


def test_rollback_before_primary_flags_the_current_syncs_departure() -> None:
    # A (v1) primary, C' sync by /state and election, B' async
    model = o.ShardModel(election=(A, C, B), state=(A, C, B), frozen=False,
                         v2=frozenset({B, C}))
    specs = _template("rollback-before-primary")
    found = dict(zip([s.id for s in specs], _assess(specs, model), strict=True))
    assert found["roll-back-async"] is None
    sync = found["roll-back-sync"]
    assert sync is not None and sync.kind == o.KIND_SYNC_LOST
    assert found["delete-state"] is None


def test_v2_sync_leaving_while_frozen_waits_for_it() -> None:
    model = o.ShardModel(election=(A, C, B), state=(A, C, B), frozen=True,
                         v2=frozenset({A, B, C}))
    (found,) = _assess([_reprovision(C)], model)
    assert found is not None and found.kind == o.KIND_WHOLE and "frozen" in found.cause


def test_playbook_marked_outage_is_kept_with_the_playbook_as_cause() -> None:
    model = o.ShardModel(election=(A, B, C))
    (found,) = _assess([StepSpec("x", "set_one_node_write_mode", {}, marked=True)], model)
    assert found is not None and found.kind == o.KIND_PLAYBOOK


def test_backfill_order_matches_upstream() -> None:
    assert o.backfill_order((A, B, C)) == (A, C, B)
    assert o.backfill_order((A, B)) == (A, B)
    assert o.backfill_order((A,)) == (A,)


def test_timing_from_the_inventory_or_assumed() -> None:
    assert timing_of(None) == o.Timing()
    assert "assumed" in o.Timing().describe()
    assert o.timing_from({"session_timeout": 2, "reprovision": 5}, "sandbox").reprovision == 5


def test_summary_names_the_steps_and_total() -> None:
    text = outage_summary(_plan("three-node", 3))
    assert "2 step(s) (reprovision-sync, reprovision-primary), about 60 s in all" in text


@given(st.lists(st.sampled_from([A, B, C]), min_size=1, max_size=8),
       st.booleans(), st.booleans())
def test_async_reprovisions_never_stop_writes(zones: list[str], frozen: bool,
                                             with_state: bool) -> None:
    """Whatever else happens, reprovisioning a peer that is neither the primary nor the
    primary's sync is never an outage, and a writable shard stays modelled writable."""
    model = o.ShardModel(election=(A, B, C), state=(A, C, B) if with_state else None,
                         frozen=frozen)
    for zone in zones:
        primary, sync = model.primary, model.sync_of_primary()
        (found,) = _assess([_reprovision(zone)], model)
        if zone not in (primary, sync):
            assert found is None
        else:
            assert found is not None and found.seconds > 0
        model = o.zone_cycles(model, zone, False, TIMING)[1]
        assert model.peers() == 3


def test_rollback_skips_steps_already_done_since_the_live_shard_includes_them() -> None:
    # stopped after the backfill: A (v1) primary streaming to B (v1) by election, C' (v2)
    # the /state sync; the current async B never left v1, so its roll-back already holds
    model = o.ShardModel(election=(A, B, C), state=(A, C, B), frozen=True,
                         v2=frozenset({B, C}))
    specs = _template("rollback-before-primary")
    marked = [StepSpec(s.id, s.action, s.params, s.marked, skip=s.id == "roll-back-async")
              for s in specs]
    # the template's roll-back-sync acts on the original async (C'), the current sync
    found = dict(zip([s.id for s in specs], _assess(marked, model), strict=True))
    assert found["roll-back-sync"] is None  # C' is not the v1 primary's sync: no outage
    walked = dict(zip([s.id for s in specs], _assess(specs, model), strict=True))
    assert walked["roll-back-sync"] is not None  # had B really left and come back, it would be
