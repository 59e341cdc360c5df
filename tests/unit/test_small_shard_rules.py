"""Pure rules for small shards and log levels: the one-node backfill, a primary serving,
why no takeover happened, DEBUG-only records and their fallbacks."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace

import pytest

from migrator.cluster.backfill import (
    compute_backfill_state,
    migrator_backfill_state,
    upstream_backfill_variant,
)
from migrator.cluster.election import legacy_topology, parse_election_node
from migrator.cluster.state import ClusterState
from migrator.engine.loglevel_notes import DebugDependency, debug_dependencies, debug_notes
from migrator.remote.bunyan import parse_line
from migrator.remote.loglevels import fallback_for, records_of, writes_debug
from migrator.remote.manatee_status import ShardStatus, StatusPeer
from migrator.steps.serving import serving_verdict
from migrator.steps.shard_rules import _why_no_takeover, is_backfill

pytestmark = pytest.mark.unit

DATE = "2026-11-26T03:59:01.007Z"


def _topology(*ips: str) -> object:
    nodes = [
        parse_election_node(f"{ip}:5432:12345-{i:010d}", json.dumps(
            {"zoneId": str(uuid.uuid5(uuid.NAMESPACE_DNS, ip)), "ip": ip, "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}
        ).encode(), "s")
        for i, ip in enumerate(ips)
    ]
    return legacy_topology("s", nodes)


def test_one_node_backfill_is_upstreams_bytes_plus_one_node_write_mode_last() -> None:
    topology = _topology("10.0.0.1")
    upstream = compute_backfill_state(topology, DATE)  # type: ignore[arg-type]
    ours = migrator_backfill_state(topology, DATE)  # type: ignore[arg-type]
    assert ours.to_bytes() == upstream.to_bytes()[:-1] + b',"oneNodeWriteMode":true}'
    assert upstream_backfill_variant(ours.document) == upstream.document
    assert is_backfill(ours.document, ours) and is_backfill(upstream.document, ours)


def test_larger_shards_are_backfilled_exactly_as_upstream() -> None:
    for ips in (("10.0.0.1", "10.0.0.2"), ("10.0.0.1", "10.0.0.2", "10.0.0.3")):
        topology = _topology(*ips)
        ours = migrator_backfill_state(topology, DATE)  # type: ignore[arg-type]
        assert ours == compute_backfill_state(topology, DATE)  # type: ignore[arg-type]
        with_onwm = {**ours.document, "oneNodeWriteMode": True}
        assert not is_backfill(with_onwm, ours)


def _status(zone: str | None, online: bool | None) -> ShardStatus:
    peers = [] if zone is None else [StatusPeer("primary", zone, "10.0.0.1", online, {})]
    return ShardStatus("s", None, peers)


def test_serving_verdict() -> None:
    assert serving_verdict(_status("a", True), "a").ok
    assert "not online" in serving_verdict(_status("a", False), "a").detail
    assert "shows b as primary" in serving_verdict(_status("b", True), "a").detail
    assert "no primary" in serving_verdict(_status(None, None), "a").detail


def test_why_no_takeover_from_what_state_shows() -> None:
    peer = {"zoneId": "z", "ip": "10.0.0.1", "pgUrl": "p", "id": "10.0.0.1:5432:12345"}
    base = {"generation": 0, "primary": peer, "sync": peer, "async": [], "initWal": "0/0"}
    assert "frozen" in _why_no_takeover(ClusterState({**base, "freeze": {"reason": "r"}}))
    assert "no async" in _why_no_takeover(ClusterState(base))
    assert "session had not" in _why_no_takeover(ClusterState({**base, "async": [peer]}))


def test_debug_records_are_recognised_in_a_sampled_tail() -> None:
    info = b'{"level":30,"msg":"assuming role","role":"sync"}'
    debug = b'{"level":20,"msg":"cluster not yet setup"}'
    assert writes_debug(records_of(b"cut-off line\n" + info + b"\n" + debug + b"\n")) is True
    assert writes_debug(records_of(b"cut\n" + info + b"\n" + debug[:10])) is False
    assert writes_debug(records_of(b"cut\nnot bunyan\n")) is None
    assert writes_debug([parse_line(debug)]) is True


def test_a_sampled_log_end_is_judged_with_its_cut_first_line() -> None:
    from migrator.remote.loglevels import judge_end
    from migrator.remote.logs import LogEnd, LogMark

    debug = b'{"level":20,"msg":"cluster not yet setup"}\n'
    info = b'{"level":30,"msg":"assuming role","role":"sync"}\n'
    mark = LogMark("z", "/log", 100, "1", "2")
    # from the file's first byte, the first line is whole and counts
    assert judge_end(LogEnd(mark, debug + info, cut=False)) is True
    # from inside the file, the first line may be cut and is not judged
    assert judge_end(LogEnd(mark, debug + info, cut=True)) is False
    assert judge_end(LogEnd(LogMark("z", "/log", 0, "1", "2"), b"", cut=False)) is None
    assert judge_end(LogEnd(LogMark("z", "/log", 0, None, None), b"", cut=False)) is None


def test_fallbacks_are_info_records() -> None:
    setup = fallback_for("cluster not yet setup")
    assert setup is not None and setup.msg == "assuming role"
    assert dict(setup.fields) == {"role": "unassigned"}
    reconfigure = fallback_for("pg.reconfigure")
    assert reconfigure is not None and reconfigure.msg == "pg: applied config"
    assert fallback_for("preparing for new generation (primary gone)") is None


def test_plan_notes_only_for_pending_steps_in_zones_without_debug() -> None:
    check = SimpleNamespace
    playbook = SimpleNamespace(steps=[
        SimpleNamespace(id="a", preconditions=[], verify=[
            check(check="log_record", params={"zone": "original_async",
                                              "msg": "cluster not yet setup"}),
            check(check="log_record", params={"zone": "original_async", "msg": "assuming role"}),
        ]),
        SimpleNamespace(id="b", preconditions=[], verify=[
            check(check="log_record", params={"zone": "original_sync", "msg": "pg.reconfigure"}),
        ]),
        SimpleNamespace(id="c", preconditions=[], verify=[
            check(check="log_record", params={"zone": "original_sync",
                                              "msg": "preparing for new generation (primary "
                                                     "gone)"}),
        ]),
    ])
    plan = SimpleNamespace(steps=[
        SimpleNamespace(id="a", status="pending", zones={"original_async": "za"}),
        SimpleNamespace(id="b", status="done", zones={"original_sync": "zb"}),
        SimpleNamespace(id="c", status="pending", zones={"original_sync": "zb"}),
    ])
    deps = debug_dependencies(plan, playbook)
    assert deps == [DebugDependency("a", "za", "cluster not yet setup"),
                    DebugDependency("c", "zb", "preparing for new generation (primary gone)")]
    sampled: list[str] = []

    def writes(zone: str) -> bool | None:
        sampled.append(zone)
        return {"za": False, "zb": False}[zone]

    notes = debug_notes(deps + deps, writes)
    assert sampled == ["za", "zb"]  # each zone sampled once
    assert "instead it will accept" in notes[0] and "will fail at once" in notes[1]
    assert debug_notes(deps, lambda _zone: True) == []
    assert debug_notes(deps, lambda _zone: None) == []


def test_plan_notes_reuse_the_preflight_samples_and_sample_only_the_rest() -> None:
    from dataclasses import dataclass, field
    from typing import Any

    from migrator.commands.engine import with_log_level_notes
    from migrator.errors import BadInput

    @dataclass
    class PlanLike:
        steps: list[Any]
        notes: list[str] = field(default_factory=list)

    class Remote:
        """Counts the log samples asked of it; no log can be read."""

        def __init__(self) -> None:
            self.sampled: list[str] = []

        def read_log_end(self, zone: str, _max_bytes: int) -> Any:
            self.sampled.append(zone)
            raise BadInput(f"no log in {zone}")

    check = SimpleNamespace
    loaded = SimpleNamespace(playbook=SimpleNamespace(steps=[
        SimpleNamespace(id="a", preconditions=[], verify=[
            check(check="log_record", params={"zone": "original_async",
                                              "msg": "cluster not yet setup"})]),
        SimpleNamespace(id="c", preconditions=[], verify=[
            check(check="log_record", params={"zone": "original_sync",
                                              "msg": "preparing for new generation (primary "
                                                     "gone)"})]),
    ]))
    plan = PlanLike(steps=[
        SimpleNamespace(id="a", status="pending", zones={"original_async": "za"}),
        SimpleNamespace(id="c", status="pending", zones={"original_sync": "zb"}),
    ])
    remote = Remote()
    noted: Any = with_log_level_notes(plan, loaded, remote, {"za": False, "zb": True})
    assert remote.sampled == []  # both zones' logs were sampled by the pre-flight
    assert len(noted.notes) == 1 and "in zone za" in noted.notes[0]

    noted = with_log_level_notes(plan, loaded, remote, {"za": False})
    assert remote.sampled == ["zb"]  # only the zone the pre-flight did not sample
    assert len(noted.notes) == 1 and "in zone za" in noted.notes[0]
