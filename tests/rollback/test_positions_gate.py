"""Before a rollback changes anything, the peer it makes the v1 primary must hold every
other peer's data (issue 24 §1), against a real ZooKeeper. The zones' positions are
given as the zones' `commands.pg_position` prints them (the reading over SSH and real
postgres is tested in tests/sandbox/test_pgreal_positions.py)."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest

from migrator.commands.rollback import refuse_a_v1_primary_behind
from migrator.engine.rollback import RollbackChoice
from migrator.errors import Refused
from tests.conftest import ZONES, V1Shard

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"
IPS = list(ZONES)[:3]
A, B, C = (ZONES[ip] for ip in IPS)


class _Printed:
    """What each zone's position command prints (one line ROLE|TIMELINE|LSN|HISTORY)."""

    def __init__(self, lines: dict[str, str]) -> None:
        self.lines = lines

    def run_template(self, zone: str, name: str) -> Any:
        assert name == "pg_position"
        text = self.lines.get(zone)
        return SimpleNamespace(ok=text is not None, text=text or "", status=0 if text else 1)


def _choice(primary: str) -> Any:
    roles = {"current_primary": "original_primary", "current_sync": "original_sync",
             "current_async": "original_async"}
    zones = {"current_primary": primary, "current_sync": B, "current_async": C}
    return SimpleNamespace(resumed=False, roles=roles, zones=lambda: zones)


def _check(zk: Any, lines: dict[str, str], primary: str = A) -> str:
    ctx = SimpleNamespace(zk=zk, shard=SHARD, remote=_Printed(lines))
    console = SimpleNamespace(said=io.StringIO())
    console.say = lambda text, style=None: console.said.write(text + "\n")
    refuse_a_v1_primary_behind(ctx, _choice(primary), console)
    return console.said.getvalue()


def test_a_v1_primary_holding_everything_goes_ahead(zk: Any, v1_shard: V1Shard) -> None:
    for ip in IPS:
        v1_shard.join(ip, ZONES[ip])
    said = _check(zk, {A: "primary|1|0/3000060|", B: "standby|1|0/3000060|",
                       C: "standby|1|0/2000000|"})
    assert "The peers' data:" in said


def test_a_v1_primary_behind_another_peer_is_refused_naming_both(
    zk: Any, v1_shard: V1Shard
) -> None:
    """A v2 peer took writes during a pause while the original primary rebuilt itself
    from a stale peer: the rollback must not make the stale one the v1 primary."""
    for ip in IPS:
        v1_shard.join(ip, ZONES[ip])
    with pytest.raises(Refused) as caught:
        _check(zk, {A: "standby|1|0/2000000|", B: "standby|1|0/2000000|",
                    C: "primary|2|0/3000100|1\t0/2000000\tno recovery target specified"})
    message = caught.value.message
    assert f"would make {A} the v1 primary" in message and "nothing was done" in message
    assert C[:8] in (caught.value.hint or "") and "Choices, all manual" in (
        caught.value.hint or "")


def test_unreadable_positions_leave_a_note_not_a_refusal(zk: Any, v1_shard: V1Shard) -> None:
    for ip in IPS:
        v1_shard.join(ip, ZONES[ip])
    said = _check(zk, {A: "primary|1|0/3000060|"})
    assert "could not be compared first" in said


def test_a_resumed_rollback_is_not_judged_again(zk: Any) -> None:
    choice: Any = RollbackChoice("rollback-before-primary", [], resumed=True)
    refuse_a_v1_primary_behind(SimpleNamespace(zk=zk, shard=SHARD, remote=None), choice,
                               SimpleNamespace(say=lambda *_a: None))


def test_a_resume_with_a_primary_behind_another_peer_is_refused(
    zk: Any, v1_shard: V1Shard, tmp_path: Any,
) -> None:
    """A resume goes on with the shard's primary as it is now: refused before anything
    when another peer holds data it lacks."""
    from migrator.commands.engine import _refuse_a_primary_behind
    from migrator.engine.console import RunConsole
    from migrator.engine.journal_store import JournalStore
    from migrator.engine.runner import Runner, RunOptions
    from tests.engine.helpers import zk_only_playbook

    for ip in IPS:
        v1_shard.join(ip, ZONES[ip])
    console = RunConsole(assume_yes=True, shard=SHARD, stream=io.StringIO())
    runner = Runner(client=zk, shard=SHARD, loaded=zk_only_playbook(), choice="test",
                    inventory=SimpleNamespace(dump=dict), console=console,
                    remote=_Printed({A: "primary|1|0/2000000|", B: "standby|1|0/2000000|",
                                     C: "standby|1|0/3000000|"}),
                    store=JournalStore(zk, SHARD, audit_dir=tmp_path),
                    options=RunOptions(assume_yes=True), operator="t@h")
    plan, ctx = runner.plan()
    with pytest.raises(Refused) as caught:
        _refuse_a_primary_behind(console, "resume")(plan, ctx)
    assert f"This resume would go on with {A} as the primary" in caught.value.message
    assert zk.exists(f"/manatee/{SHARD}/state") is None
