"""The plan alone (`migrator plan`'s ``LivePlanner``, no runner) is the run's own plan.

`migrator plan` builds the engine's planning half by itself so that it imports nothing of
the run's step loop; a run plans through the same half, holding the journal in its
record. Both must say the same on the same shard, with or without a journal, and the plan
alone must write nothing.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from migrator.engine.console import RunConsole
from migrator.engine.journal_store import JournalStore
from migrator.engine.live_plan import JournalReader, LivePlanner
from migrator.engine.planner import Plan
from migrator.engine.runner import RunOptions
from migrator.errors import NotConfirmed
from tests.conftest import V1Shard
from tests.engine.conftest import DecliningConsole, MakeRunner
from tests.engine.helpers import SHARD, zk_only_playbook

pytestmark = pytest.mark.zk

# a plan is stamped with the time it was made (the backfill's freeze date)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _alone(client: Any) -> tuple[Plan, LivePlanner]:
    console = RunConsole(assume_yes=False, shard=SHARD, stream=io.StringIO())
    store = JournalStore(client, SHARD)
    planner = LivePlanner(client=client, shard=SHARD, loaded=zk_only_playbook(),
                          choice="test", inventory=None, remote=None, console=console,
                          store=store, confirm=console.ask)
    return planner.plan()[0], planner


def _comparable(plan: Plan) -> str:
    return _TIME.sub("TIME", repr(plan.to_json()))


def test_a_plan_alone_is_the_runs_plan_and_writes_nothing(
    zk: Any, kazoo: Any, three_peers: V1Shard, make_runner: MakeRunner,
) -> None:
    alone, planner = _alone(kazoo)
    assert isinstance(planner.record, JournalReader) and planner.journal is None
    assert zk.exists(JournalStore(zk, SHARD).path) is None  # nothing written
    assert [s.status for s in alone.steps] == ["pending", "pending"]
    assert _comparable(alone) == _comparable(make_runner().plan()[0])


def test_a_plan_alone_reads_the_journal_as_the_run_does(
    zk: Any, kazoo: Any, three_peers: V1Shard, make_runner: MakeRunner,
) -> None:
    # a run declined at its first step leaves a journal with that step pending
    with pytest.raises(NotConfirmed):
        make_runner(console=DecliningConsole(), options=RunOptions(assume_yes=False)).execute()
    written = zk.exists(JournalStore(zk, SHARD).path)
    assert written is not None
    alone, planner = _alone(kazoo)
    assert planner.journal is not None and planner.journal.run("migration") is not None
    assert zk.exists(JournalStore(zk, SHARD).path).version == written.version
    assert _comparable(alone) == _comparable(make_runner().plan()[0])
