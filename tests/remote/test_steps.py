"""The registered checks and actions against a real sshd, with a minimal step context."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from migrator.errors import StepFailed
from migrator.inventory.load import load_inventory
from migrator.remote.session import RemoteSession
from migrator.sandbox.sshd import SshServer
from migrator.stepkit.registry import get_action, get_check
from migrator.steps.remote import mark_step_logs, status_command
from tests.remote.conftest import write_inventory

ROLES = {"original_primary": "z1", "original_sync": "z2", "original_async": "z3"}


@dataclass
class Ctx:
    """Just what the step functions use (the engine's EngineContext has more)."""

    shard: str
    inventory: Any
    remote: Any
    zk: Any = None
    marks: dict[str, Any] = field(default_factory=dict)
    said: list[str] = field(default_factory=list)

    def zone(self, ref: str) -> str:
        return ROLES.get(ref, ref)

    def say(self, text: str) -> None:
        self.said.append(text)

    def confirm(self, question: str, shown: Any, *, typed: bool = False) -> None:
        raise AssertionError("no confirmation expected")


@dataclass
class Step:
    zones: list[str]


@pytest.fixture
def world(tmp_path: Path, sshd_factory: Callable[..., SshServer],
          client_key: Path) -> Iterator[tuple[Ctx, Path]]:
    bin_dir, zones_dir = tmp_path / "bin", tmp_path / "zones"
    bin_dir.mkdir()
    adm = bin_dir / "manatee-adm"
    # a stand-in manatee-adm: refuses unless the shard and ZooKeeper come through env
    adm.write_text(f'#!/bin/sh\n[ "$SHARD" = 1.moray.test ] && [ -n "$ZK_IPS" ] || exit 3\n'
                   f'[ "$1" = status ] || exit 4\ncat {tmp_path}/status.json\n')
    adm.chmod(0o755)
    reprovision = bin_dir / "reprovision"
    reprovision.write_text(f'#!/bin/sh\necho "{{\\"version\\": \\"$2\\"}}" > '
                           f'{zones_dir}/"$1"/package.json\necho "reprovisioned $1 to $2"\n')
    reprovision.chmod(0o755)
    server = sshd_factory(set_env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line() + "\n")
    zones = {}
    for zone in ("z1", "z2", "z3"):
        (zones_dir / zone).mkdir(parents=True)
        (zones_dir / zone / "package.json").write_text('{"version": "1.0.0"}')
        (zones_dir / zone / "sitter.log").write_text("")
        zones[zone] = {"host": server.host, "port": server.port,
                       "sitter_log": str(zones_dir / zone / "sitter.log")}
    path = write_inventory(
        tmp_path, zones, known_hosts=known, identity=client_key,
        extra={
            "versions": {"migrate_to": "2.1.1-test", "roll_back_to": "1.0.0"},
            "commands": {
                "manatee_version": f"cat {zones_dir}/{{zone}}/package.json",
                "manatee_adm": "manatee-adm",
                "sitter_disable": f"touch {tmp_path}/disabled-{{zone}}",
                "reprovision": {"run_on": "local", "command": f"{reprovision} {{zone}} {{image}}"},
            },
        },
    )
    inventory = load_inventory(path)
    with RemoteSession(inventory, use_agent=False) as remote:
        yield Ctx("1.moray.test", inventory, remote), zones_dir


@contextmanager
def _soon(action: Callable[..., object], *args: object) -> Iterator[None]:
    """``action(*args)`` 0.3 s into the block (a sitter logging while a check waits);
    cancelled if the block ends first."""
    timer = threading.Timer(0.3, action, args)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _record(msg: str, **fields: Any) -> str:
    return json.dumps({"name": "manatee-sitter", "hostname": "z", "pid": 1, "level": 30,
                       "msg": msg, "time": "2026-01-01T00:00:00.000Z", "v": 0, **fields}) + "\n"


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def _check(name: str, ctx: Ctx, params: dict[str, Any], timeout: float) -> Any:
    registered = get_check(name)
    return registered.func(ctx, registered.params.validate(params), timeout)


def _act(name: str, ctx: Ctx, params: dict[str, Any]) -> Any:
    registered = get_action(name)
    return registered.func(ctx, registered.params.validate(params))


@pytest.mark.sshd
def test_log_record_sees_only_records_since_the_step_started(world: tuple[Ctx, Path]) -> None:
    ctx, zones = world
    log = zones / "z3" / "sitter.log"
    _append(log, _record("assuming role", role="unassigned"))  # before the step: ignored
    mark_step_logs(ctx, Step(["original_async", "morays"]))
    assert set(ctx.marks) == {"log:z3"}
    params = {"zone": "original_async", "msg": "assuming role", "fields": {"role": "unassigned"}}
    assert not _check("log_record", ctx, params, 0).ok
    _append(log, _record("assuming role", role="unassigned"))
    outcome = _check("log_record", ctx, params, 0)
    assert outcome.ok and "assuming role (role=unassigned)" in ctx.said[-1]


@pytest.mark.sshd
def test_log_record_waits_for_a_record_and_resolves_role_fields(
    world: tuple[Ctx, Path]
) -> None:
    ctx, zones = world
    mark_step_logs(ctx, Step(["original_async"]))
    config = "{ role: 'sync', upstream: { zoneId: 'z1', ip: '127.0.0.21' }, downstream: null }"
    with _soon(_append, zones / "z3" / "sitter.log",
               _record(f"pg: applied config {config}", nretries=0)):
        outcome = _check("log_record", ctx, {"zone": "original_async",
                                             "msg": "pg: applied config",
                                             "fields": {"role": "sync",
                                                        "upstream": "original_primary"}}, 10)
    assert outcome.ok, outcome.detail


@pytest.mark.sshd
def test_log_record_times_out_with_a_sentence(world: tuple[Ctx, Path]) -> None:
    ctx, zones = world
    _append(zones / "z3" / "sitter.log", _record("assuming role", role="async"))
    outcome = _check("log_record", ctx, {"zone": "z3", "msg": "assuming role",
                                         "fields": {"role": "sync"}}, 0.3)
    assert not outcome.ok
    assert "z3 logged no record where msg is 'assuming role' and role is 'sync'" in (
        outcome.detail)


def _status(catching_up: bool) -> str:
    replay = "0/1000000" if catching_up else "0/174A438"
    return json.dumps({"1.moray.test": {
        "primary": {"zoneId": "z1", "ip": "10.0.0.1", "repl": {
            "client_addr": "10.0.0.3", "state": "streaming", "sync_state": "sync",
            "sent_location": "0/174A438", "replay_location": replay}},
        "sync": {"zoneId": "z3", "ip": "10.0.0.3", "repl": {}},
    }})


# Issue 22 §3: a v1 sitter at debug (pid 41) reprovisioned into a v2 sitter at info (pid 52)
V1_DEBUG = (_record("manatee-sitter starting", pid=41)
            + _record("zookeeper session established", pid=41, level=20))
V2_INFO = (_record("manatee-sitter starting", pid=52)
           + _record("assuming role", pid=52, role="unassigned"))
SETUP = {"zone": "original_async", "msg": "cluster not yet setup"}


def _reprovisioned(log: Path, layout: str, v2: str) -> None:
    """What a reprovision leaves: the v1 sitter's last DEBUG record, then the v2 sitter's
    records appended to the same file, or in a fresh file that replaced it."""
    _append(log, _record("new peer found", pid=41, level=20))
    if layout == "fresh":
        log.rename(log.with_name("sitter.log.0"))
    _append(log, v2)


@pytest.mark.sshd
@pytest.mark.parametrize("layout", ["append", "fresh"])
def test_log_record_judges_the_level_of_the_sitter_started_since_the_step_began(
    world: tuple[Ctx, Path], layout: str
) -> None:
    ctx, zones = world
    log = zones / "z3" / "sitter.log"
    _append(log, V1_DEBUG)
    mark_step_logs(ctx, Step(["original_async"]))
    _reprovisioned(log, layout, V2_INFO)
    outcome = _check("log_record", ctx, SETUP, 0)
    assert outcome.ok, outcome.detail
    assert ("z3's sitter (pid 52) writes no DEBUG records, so instead of 'cluster not yet "
            "setup' this waited for the INFO record of the unassigned role") in outcome.detail
    assert outcome.data["sitter_pid"] == 52
    assert ("rotated" in outcome.detail) is (layout == "fresh")
    # a v2 sitter at debug is waited for with its DEBUG record, in either layout
    log.rename(log.with_name("sitter.log.1"))
    mark_step_logs(ctx, Step(["original_async"]))
    _append(log, _record("zookeeper session established", pid=63, level=20)
            + _record("cluster not yet setup", pid=63, level=20))
    at_debug = _check("log_record", ctx, SETUP, 0)
    assert at_debug.ok and "instead" not in at_debug.detail


@pytest.mark.sshd
@pytest.mark.parametrize("layout", ["append", "fresh"])
def test_log_record_waiting_when_the_new_sitter_has_not_written_yet(
    world: tuple[Ctx, Path], layout: str
) -> None:
    """The check starts while the log still ends with the v1 sitter's DEBUG record; the
    v2 sitter's records come while it follows the log."""
    ctx, zones = world
    log = zones / "z3" / "sitter.log"
    _append(log, V1_DEBUG)
    mark_step_logs(ctx, Step(["original_async"]))
    _append(log, _record("new peer found", pid=41, level=20))
    with _soon(_reprovisioned, log, layout, V2_INFO):
        outcome = _check("log_record", ctx, SETUP, 10)
    assert outcome.ok, outcome.detail
    assert "so instead of 'cluster not yet setup'" in outcome.detail
    assert outcome.data["sitter_pid"] == 52


@pytest.mark.sshd
def test_log_record_ignores_a_matching_record_of_a_replaced_sitter(
    world: tuple[Ctx, Path]
) -> None:
    ctx, zones = world
    log = zones / "z3" / "sitter.log"
    mark_step_logs(ctx, Step(["original_async"]))
    _append(log, _record("assuming role", pid=41, role="unassigned")
            + _record("manatee-sitter starting", pid=52))
    params = {"zone": "original_async", "msg": "assuming role", "fields": {"role": "unassigned"}}
    outcome = _check("log_record", ctx, params, 0)
    assert not outcome.ok and outcome.data["sitter_pid"] == 52
    _append(log, _record("assuming role", pid=52, role="unassigned"))
    assert _check("log_record", ctx, params, 0).ok


@pytest.mark.sshd
def test_a_debug_record_without_a_fallback_fails_at_once_at_info(
    world: tuple[Ctx, Path]
) -> None:
    ctx, zones = world
    log = zones / "z3" / "sitter.log"
    _append(log, V1_DEBUG)
    mark_step_logs(ctx, Step(["original_async"]))
    _reprovisioned(log, "append", V2_INFO)
    params = {"zone": "original_async", "msg": "preparing for new generation (primary gone)"}
    outcome = _check("log_record", ctx, params, 600)  # hopeless: no wait at all
    assert not outcome.ok and outcome.data["log_level"] == "info"
    assert "current sitter (pid 52) writes no DEBUG records" in outcome.detail


@pytest.mark.sshd
def test_replication_synced_waits_for_catch_up(world: tuple[Ctx, Path]) -> None:
    ctx, zones = world
    status = zones.parent / "status.json"
    status.write_text(_status(catching_up=True))
    params = {"primary": "original_primary", "sync": "original_async"}
    first = _check("replication_synced", ctx, params, 0)
    assert not first.ok and "catching up" in first.detail

    def catch_up() -> None:
        status.write_text(_status(catching_up=False))
        _append(zones / "z3" / "sitter.log", _record("pg: caught up"))

    with _soon(catch_up):
        outcome = _check("replication_synced", ctx, params, 10)
    assert outcome.ok, outcome.detail
    assert "streams synchronously to z3" in outcome.detail


@pytest.mark.sshd
def test_status_command_passes_shard_and_zookeeper_quoted(world: tuple[Ctx, Path]) -> None:
    ctx, _ = world
    assert status_command(ctx.inventory) == (
        "env SHARD=1.moray.test ZK_IPS=127.0.0.1:2181 manatee-adm status")


@pytest.mark.sshd
def test_zone_version_and_reprovision(world: tuple[Ctx, Path]) -> None:
    ctx, _zones = world
    params = {"zone": "original_sync", "at_least": "v2"}
    before = _check("zone_version", ctx, params, 0)
    assert not before.ok and "z2 reports 1.0.0" in before.detail
    described = get_action("reprovision").describe
    assert described is not None
    text = described(ctx, get_action("reprovision").params.validate(
        {"zone": "original_sync"}))
    assert "z2 2.1.1-test" in text and "on this machine" in text
    done = _act("reprovision", ctx, {"zone": "original_sync"})
    assert done.ok and done.data["from"] == "1.0.0"
    assert _check("zone_version", ctx, params, 0).ok
    again = _act("reprovision", ctx, {"zone": "original_sync"})  # idempotent on resume
    assert again.ok and again.data.get("skipped") is True
    assert "log:z2" in ctx.marks  # the log mark was taken before reprovisioning


@pytest.mark.sshd
def test_zone_version_on_groups(world: tuple[Ctx, Path]) -> None:
    ctx, zones = world
    (zones / "z2" / "package.json").write_text('{"version": "2.1.1"}')
    outcome = _check("zone_version", ctx, {"zones": "zones", "at_least": "v2"}, 0)
    assert not outcome.ok and "z1 reports 1.0.0" in outcome.detail and "z2" not in (
        outcome.detail.split(":", 1)[1])
    none = _check("zone_version", ctx, {"zones": "morays", "at_least": "v2"}, 0)
    assert none.ok and "no morays" in none.detail


@pytest.mark.sshd
def test_run_command_quotes_and_fails_loudly(world: tuple[Ctx, Path], tmp_path: Path) -> None:
    ctx, _ = world
    ok = _act("run_command", ctx, {"zone": "z1", "argv": ["echo", "a b; $(id)"]})
    assert ok.ok and ok.data["stdout"] == "a b; $(id)"
    _act("run_command", ctx, {"zone": "z1", "command": "sitter_disable"})
    assert (tmp_path / "disabled-z1").exists()
    with pytest.raises(StepFailed, match="exit status 5"):
        _act("run_command", ctx, {"zone": "z1", "argv": ["sh", "-c", "exit 5"]})


@pytest.mark.unit
def test_params_reject_metacharacter_zones() -> None:
    from migrator.record import RecordError

    for name in ("log_record", "zone_version"):
        with pytest.raises(RecordError, match=r"zone: 'z1;id' is neither a role"):
            get_check(name).params.validate({"zone": "z1;id", "msg": "x", "at_least": "1"})
    with pytest.raises(RecordError, match=r"image: .*not an image"):
        get_action("reprovision").params.validate({"zone": "z1", "image": "$(id)"})


@pytest.mark.unit
def test_step_start_hook_is_registered() -> None:
    from migrator.stepkit import hooks

    assert mark_step_logs in hooks._HOOKS
