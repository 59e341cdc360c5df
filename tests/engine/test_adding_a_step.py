"""The README's "Adding a step": a new action and its check, registered in a module of
their own (this one), used by a playbook, run by the engine, with nothing in
``migrator/engine`` naming them. Against a real ZooKeeper."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from migrator.cluster.writability import KIND_WHOLE, Effect, Outage, ShardModel, Timing
from migrator.engine.console import RunConsole
from migrator.engine.journal_store import JournalStore
from migrator.engine.runner import Runner, RunOptions
from migrator.playbook.loader import load_playbook_text
from migrator.record import field
from migrator.stepkit.context import StepContext
from migrator.stepkit.registry import NoParams, Outcome, action, check
from migrator.zk.watches import wait_for
from tests.conftest import V1Shard
from tests.engine.helpers import SHARD

pytestmark = pytest.mark.zk


class TagParams(NoParams):
    tag: str = field(pattern=r"[a-z][a-z0-9-]{0,30}")


def _tag_path(shard: str, tag: str) -> str:
    return f"/manatee-migrator/{shard}/tags/{tag}"


def _pauses_writes(model: ShardModel, p: TagParams, _zone_of: Any, timing: Timing) -> Effect:
    """What the planner should show: this step stops writes for a session timeout."""
    return Outage(KIND_WHOLE, f"tagging {p.tag} pauses the shard's writes",
                  timing.session_timeout), model


@check("shard_tagged", TagParams)
def shard_tagged(ctx: StepContext, p: TagParams, timeout: float) -> Outcome:
    """The shard carries the tag."""
    from kazoo.recipe.watchers import DataWatch

    path = _tag_path(ctx.shard, p.tag)
    ctx.zk.ensure_path(path.rsplit("/", 1)[0])
    found, _ = wait_for(lambda deliver: DataWatch(ctx.zk, path, lambda d, _s: deliver(d)),
                        lambda data: data if data is not None else None, timeout)
    if found is None:
        return Outcome(False, f"no tag {p.tag}")
    return Outcome(True, f"tagged {p.tag} ({found.decode()})")


@action("tag_shard", TagParams, describe=lambda ctx, p: f"create {_tag_path(ctx.shard, p.tag)}",
        effect=_pauses_writes)
def tag_shard(ctx: StepContext, p: TagParams) -> Outcome:
    """Tag the shard (create-if-absent, so a resumed run changes nothing)."""
    from kazoo.exceptions import NodeExistsError

    try:
        ctx.zk.create(_tag_path(ctx.shard, p.tag), b"tagged by a test step", makepath=True)
    except NodeExistsError:
        return Outcome(True, f"{p.tag} was there already", {"written": False})
    return Outcome(True, f"tagged {p.tag}", {"written": True})


PLAYBOOK = """\
name: tag
title: Tag the shard
description: A playbook made of a step registered outside the engine.
peers: 3
steps:
  - id: tag
    title: Tag the shard
    explain: The new action and its check, nothing else.
    action: {name: tag_shard, params: {tag: rehearsed}}
    verify:
      - check: shard_tagged
        params: {tag: rehearsed}
    done_when:
      - check: shard_tagged
        params: {tag: rehearsed}
    timeout: 10
"""


def test_a_step_registered_outside_the_engine_is_planned_and_run(
    zk: Any, kazoo: Any, three_peers: V1Shard, tmp_path: Path,
) -> None:
    loaded = load_playbook_text(PLAYBOOK.encode(), "tag.yaml")
    stream = io.StringIO()
    runner = Runner(
        client=kazoo, shard=SHARD, loaded=loaded, choice="test", inventory=None, remote=None,
        console=RunConsole(assume_yes=True, shard=SHARD, stream=stream),
        store=JournalStore(kazoo, SHARD, audit_dir=tmp_path / "audit"),
        options=RunOptions(assume_yes=True), operator="test@host",
    )
    plan, _ctx = runner.plan()
    (step,) = plan.steps
    # the engine read the action's declared effect: the step is a write outage
    assert step.outage_detail is not None
    assert step.outage_detail.cause == "tagging rehearsed pauses the shard's writes"
    result = runner.execute()
    assert result.complete and result.ran == ["tag"], stream.getvalue()
    data, _ = zk.get(_tag_path(SHARD, "rehearsed"))
    assert data == b"tagged by a test step"
    journal = JournalStore(zk, SHARD).load()
    assert journal is not None
    run = journal.run("migration")
    assert run is not None and run.step("tag").status == "done"
    assert run.step("tag").outputs == {"written": True}
    # and a second run finds it done by its done-check, acting never again
    again = Runner(
        client=kazoo, shard=SHARD, loaded=loaded, choice="test", inventory=None, remote=None,
        console=RunConsole(assume_yes=True, shard=SHARD, stream=io.StringIO()),
        store=JournalStore(kazoo, SHARD, audit_dir=tmp_path / "audit"),
        options=RunOptions(assume_yes=True), operator="test@host",
    ).execute()
    assert again.complete and again.ran == []
