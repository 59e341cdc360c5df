"""The pre-flight verdict: pure decisions over what the gate saw."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.engine.lock import LockHeld, LockHolder
from migrator.engine.preflight import Facts, decide
from migrator.errors import EXIT_REFUSED
from migrator.remote.probe import ZoneReport

pytestmark = pytest.mark.unit

ZONES = ["z1", "z2", "z3"]
ME = "me@here pid 1"


def _zone(name: str, *, kind: str = "manatee", problems: list[str] | None = None,
          sitter: str = "online") -> ZoneReport:
    return ZoneReport(name, kind, f"ssh root@{name}:22", reachable=True, host_key="known",
                      version="2.1.1", log="/var/log/sitter.log (10 bytes)",
                      sitter=sitter if kind == "manatee" else None,
                      problems=list(problems or []))


def _facts(**changes: object) -> Facts:
    facts = Facts(zones=[_zone(z) for z in ZONES], election_zones=frozenset(ZONES),
                  zookeeper_problem=None, zookeeper_detail="answers", holders=[],
                  identity=ME)
    return replace(facts, **changes)  # type: ignore[arg-type]


def test_everything_fine_passes_with_a_row_per_zone_zookeeper_and_lock() -> None:
    verdict = decide(_facts())
    assert verdict.ok and verdict.problems == []
    assert [r.subject for r in verdict.rows] == [*ZONES, "zookeeper", "lock"]
    assert all(r.ok and not r.note for r in verdict.rows)


def test_unreachable_zone_refuses_naming_it() -> None:
    broken = _zone("z2", problems=["Could not connect to z2: refused"])
    verdict = decide(_facts(zones=[_zone("z1"), broken, _zone("z3")]))
    assert not verdict.ok
    assert verdict.problems == ["manatee zone z2: Could not connect to z2: refused"]
    error = verdict.refusal("run")
    assert error.exit_status == EXIT_REFUSED and "changed nothing" in error.message


def test_sitter_down_or_out_of_the_election_refuses_a_run_but_not_a_rollback() -> None:
    down = _zone("z3", problems=["its sitter is not running (`x` says disabled)"],
                 sitter="disabled")
    facts = _facts(zones=[_zone("z1"), _zone("z2"), down],
                   election_zones=frozenset({"z1", "z3"}))
    verdict = decide(facts)
    assert not verdict.ok
    assert [p.split(":")[0] for p in verdict.problems] == ["manatee zone z2",
                                                           "manatee zone z3"]
    assert "not in the election" in verdict.problems[0]
    lenient = decide(replace(facts, lenient_sitters=True))
    assert lenient.ok
    assert [r.subject for r in lenient.rows if r.note] == ["z2", "z3"]


def test_a_sitter_dead_on_a_state_it_refuses_is_a_note_only_for_that_zone() -> None:
    """`manatee-adm state-backfill` by hand on one peer: the sitter dies on /state until
    the run sets one-node-write mode, so its being down cannot refuse the run; a route
    problem still does, and so does another zone's dead sitter."""
    down = _zone("z1", problems=["its sitter is not running (`x` says maintenance)"],
                 sitter="maintenance")
    facts = _facts(zones=[down], election_zones=frozenset(), dies_on_state=frozenset({"z1"}))
    verdict = decide(facts)
    assert verdict.ok and verdict.rows[0].note
    assert "oneNodeWriteMode" in verdict.rows[0].detail
    assert not decide(replace(facts, dies_on_state=frozenset({"z2"}))).ok
    unreachable = _zone("z1", problems=["Could not connect to z1: refused"])
    assert not decide(replace(facts, zones=[unreachable])).ok


def test_only_the_primary_of_a_state_without_sync_or_onwm_dies_on_it() -> None:
    from migrator.cluster.state import ClusterState
    from migrator.engine.preflight import refused_by_state

    peer = {"id": "p", "zoneId": "z1", "ip": "127.0.0.1", "pgUrl": "tcp://p",
            "backupUrl": "http://p"}
    alone = {"generation": 0, "primary": peer, "sync": None, "async": [], "deposed": [],
             "initWal": "0/0000000"}
    assert refused_by_state(ClusterState(alone)) == frozenset({"z1"})
    assert refused_by_state(ClusterState({**alone, "oneNodeWriteMode": True})) == frozenset()
    assert refused_by_state(ClusterState({**alone, "sync": {**peer, "zoneId": "z2"}})
                            ) == frozenset()
    assert refused_by_state(None) == frozenset()


def test_rollback_still_refuses_an_unreachable_zone() -> None:
    broken = _zone("z1", problems=["Host key CHANGED for z1"])
    assert not decide(_facts(zones=[broken, _zone("z2"), _zone("z3")],
                             lenient_sitters=True)).ok


def test_zone_of_a_step_in_flight_is_a_note() -> None:
    broken = _zone("z3", problems=["Could not connect to z3: refused"])
    verdict = decide(_facts(zones=[_zone("z1"), _zone("z2"), broken],
                            election_zones=frozenset({"z1", "z2"}),
                            in_flight={"z3": "reprovision-async"}))
    assert verdict.ok
    row = verdict.rows[2]
    assert row.note and "reprovision-async is in flight" in row.detail


def test_moray_problems_refuse_and_morays_need_no_election() -> None:
    moray = _zone("m1", kind="moray")
    assert decide(_facts(zones=[*(_zone(z) for z in ZONES), moray])).ok
    bad = _zone("m1", kind="moray", problems=["`cat` gave no version"])
    verdict = decide(_facts(zones=[*(_zone(z) for z in ZONES), bad]))
    assert verdict.problems == ["moray zone m1: `cat` gave no version"]


def test_lock_held_by_a_live_run_refuses_with_lock_held() -> None:
    holder = LockHolder("op@elsewhere pid 9", "lock-0000000003", 0x1234, 0)
    verdict = decide(_facts(holders=[holder]))
    assert not verdict.ok
    assert "is being migrated by op@elsewhere pid 9" in verdict.problems[0]
    assert isinstance(verdict.refusal("run"), LockHeld)
    # our own node (a resumed guard) is not a holder against us
    assert decide(_facts(holders=[replace(holder, identity=ME)])).ok


def test_lock_held_only_by_dead_local_runs_is_a_note() -> None:
    holder = LockHolder("op@here pid 99999", "lock-0000000001", 1, 0)
    verdict = decide(_facts(holders=[holder], dead_holders=frozenset({holder.identity})))
    assert verdict.ok
    assert verdict.rows[-1].note and "stale" in verdict.rows[-1].detail


def test_zookeeper_and_local_commands() -> None:
    verdict = decide(_facts(zookeeper_problem="Shard 'x' does not exist",
                            local_missing=["/opt/bin/reprovision"]))
    assert verdict.problems == ["ZooKeeper: Shard 'x' does not exist",
                                "missing on this machine: /opt/bin/reprovision"]


def test_unknown_election_is_shown_not_judged() -> None:
    verdict = decide(_facts(election_zones=None, zookeeper_problem="ConnectionLoss"))
    assert [r.election for r in verdict.rows[:3]] == ["?", "?", "?"]
    assert verdict.problems == ["ZooKeeper: ConnectionLoss"]


@given(
    broken=st.lists(st.booleans(), min_size=3, max_size=3),
    in_election=st.lists(st.booleans(), min_size=3, max_size=3),
    flight=st.lists(st.booleans(), min_size=3, max_size=3),
    lenient=st.booleans(), lock_held=st.booleans(), zk_down=st.booleans(),
)
def test_verdict_is_ok_exactly_when_no_row_refuses(
    broken: list[bool], in_election: list[bool], flight: list[bool], lenient: bool,
    lock_held: bool, zk_down: bool,
) -> None:
    zones = [_zone(z, problems=["unreachable"] if b else None)
             for z, b in zip(ZONES, broken, strict=True)]
    facts = _facts(
        zones=zones,
        election_zones=frozenset(z for z, e in zip(ZONES, in_election, strict=True) if e),
        in_flight={z: "s" for z, f in zip(ZONES, flight, strict=True) if f},
        lenient_sitters=lenient,
        holders=[LockHolder("x@y pid 2", "n-0000000001", 1, 0)] if lock_held else [],
        zookeeper_problem="down" if zk_down else None,
    )
    verdict = decide(facts)
    assert verdict.ok == all(r.ok for r in verdict.rows)
    assert verdict.ok == (not verdict.problems)
    assert len(verdict.problems) == sum(not r.ok for r in verdict.rows)
    # a zone refuses exactly when it has a problem that neither a step in flight nor a
    # rollback's leniency (for sitter/election problems only) excuses
    for zone, row in zip(ZONES, verdict.rows[:3], strict=True):
        bad_route = broken[ZONES.index(zone)]
        bad_sitter = not in_election[ZONES.index(zone)]
        excused = flight[ZONES.index(zone)] or (lenient and not bad_route)
        assert row.ok == (not (bad_route or bad_sitter) or excused)


def test_zones_of_steps_in_flight_come_from_the_journal() -> None:
    from migrator.cluster.original import capture
    from migrator.engine.journal import StepRecord, new_journal, new_run
    from migrator.engine.preflight import in_flight_zones
    from migrator.playbook import catalog
    from tests.engine.helpers import ZONES as IDS
    from tests.engine.helpers import snapshot

    loaded = catalog.resolve("three-node")
    original = capture(snapshot([0, 1, 2]))
    journal = new_journal("1.moray.test", original, {}, "t@h").with_run(
        new_run("migration", "three-node", loaded.digest, "t@h"))
    assert in_flight_zones(journal, "migration", loaded, original) == {}
    acting = journal.with_step("migration", "reprovision-async", StepRecord(status="acting"))
    assert in_flight_zones(acting, "migration", loaded, original) == {
        IDS[2]: "reprovision-async"}
    # another kind of run's steps are not this run's
    assert in_flight_zones(acting, "rollback", loaded, original) == {}
    assert in_flight_zones(None, "migration", loaded, original) == {}


def test_the_commands_a_playbook_runs_come_from_what_its_steps_declare(
    tmp_path: Path
) -> None:
    """Each check and action declares the commands it runs in the zones or on this
    machine (``zone_commands``, ``local_commands``); the pre-flight asks for exactly
    those, per built-in playbook."""
    from migrator.engine.preflight import local_missing, zone_words
    from migrator.inventory.load import load_inventory
    from migrator.playbook import catalog

    zone = "11111111-2222-3333-4444-555555555555"
    for run_on in ("local", "zone"):
        path = tmp_path / f"{run_on}.yaml"
        path.write_text(
            "shard: 1.moray.test\nzookeeper: 127.0.0.1:2181\n"
            f"zones:\n  {zone}: {{host: 127.0.0.2}}\n"
            "commands:\n  sitter_disable: sitter-ctl disable\n  tail: gtail\n"
            f"  reprovision: {{run_on: {run_on}, command: 'reprov {{zone}} {{image}}'}}\n")
        inventory = load_inventory(path)
        adm = inventory.commands.manatee_adm  # the inventory's default
        three = catalog.resolve("three-node")
        after = catalog.resolve("rollback-after-primary")
        # psql: the final data check's `commands.pg_position`
        assert zone_words(inventory, three) == (
            (adm, "gtail", "reprov", "psql") if run_on == "zone" else (adm, "gtail", "psql"))
        assert "sitter-ctl" in zone_words(inventory, after)
        assert "sitter-ctl" not in zone_words(inventory, three)
        assert local_missing(inventory, three) == (["reprov"] if run_on == "local" else [])


def test_what_the_steps_need_of_the_inventory_refuses_with_an_inventory_row() -> None:
    from types import SimpleNamespace

    import migrator.steps  # noqa: F401 - registers the built-in actions
    from migrator.stepkit.registry import get_action

    reprovision = get_action("reprovision")
    params = reprovision.params.validate({"zone": "original_sync"})
    without = SimpleNamespace(versions=SimpleNamespace(migrate_to=None, roll_back_to="1"))
    with_it = SimpleNamespace(versions=SimpleNamespace(migrate_to="2.1.1", roll_back_to="1"))
    (need,) = reprovision.inventory_needs(without, params)
    assert "no `versions.migrate_to`" in need
    assert reprovision.inventory_needs(with_it, params) == ()
    pinned = reprovision.params.validate({"zone": "original_sync",
                                          "image": "6f2c1b4e-1d1a-4c3e-9a55-0e6b3f1a0002"})
    assert reprovision.inventory_needs(without, pinned) == ()  # the step names its image

    verdict = decide(_facts(inventory_missing=[need]))
    assert not verdict.ok and verdict.problems == [need]
    assert [(r.subject, r.ok) for r in verdict.rows][-1] == ("inventory", False)
