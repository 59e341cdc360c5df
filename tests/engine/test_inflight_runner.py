"""The runner's handling of a non-idempotent action against a real ZooKeeper: the intent
is journalled before the action runs; a step left `acting` is resumed from evidence
(done -> verify only; unknown -> typed question, or refused with --yes)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from migrator.engine.console import RunConsole
from migrator.engine.journal import Journal
from migrator.engine.runner import RunOptions
from migrator.errors import Refused
from migrator.playbook.loader import load_playbook_text
from migrator.record import field
from migrator.stepkit.context import StepContext
from migrator.stepkit.evidence import Evidence
from migrator.stepkit.registry import NoParams, Outcome, action
from tests.conftest import V1Shard
from tests.engine.conftest import MakeRunner
from tests.engine.helpers import SHARD

pytestmark = pytest.mark.zk

CALLS: list[dict[str, Any]] = []
VERDICT: dict[str, Any] = {}


class EffectParams(NoParams):
    label: str = field(min_length=1)


def _evidence(_ctx: StepContext, p: EffectParams, intent: dict[str, Any]) -> Evidence:
    if VERDICT.get("down"):  # a reprovision whose zone stays unreachable: wait for it
        return Evidence("reprovision", zone="zone-a", target="2", reachable=False)
    return Evidence("run_command", zone="zone-a", command=p.label,
                    begun="command" in intent, idempotent=VERDICT.get("idempotent", False))


@action("test_effect", EffectParams, resume=_evidence)
def effect_action(ctx: StepContext, p: EffectParams) -> Outcome:
    """A non-idempotent effect that looks at its own journal entry as it runs."""
    ctx.record_intent(command=p.label)  # type: ignore[attr-defined]
    data, _ = ctx.zk.get(f"/manatee-migrator/{SHARD}/journal")
    record = json.loads(data)["runs"][-1]["steps"]["effect"]
    CALLS.append(record)
    if VERDICT.get("interrupt"):
        raise KeyboardInterrupt
    return Outcome(True, f"did {p.label}", {"label": p.label})


PLAYBOOK = """\
name: effect
title: One non-idempotent effect
description: For the runner tests.
peers: 3
steps:
  - id: effect
    title: Do the effect
    explain: Once only.
    action: {name: test_effect, params: {label: flip-the-switch}}
    verify:
      - check: state_absent
    done_when: []
    timeout: 5
"""


class TypingConsole(RunConsole):
    def __init__(self) -> None:
        super().__init__(assume_yes=False, shard=SHARD, stream=io.StringIO())
        self.asked: list[tuple[str, bool]] = []

    def ask(self, question: str, shown: Any, typed: bool) -> None:
        self.asked.append((question, typed))


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()
    VERDICT.clear()


def _journal(zk: Any) -> Journal:
    data, _ = zk.get(f"/manatee-migrator/{SHARD}/journal")
    return Journal.from_json(json.loads(data))


def _interrupted_in_flight(make_runner: MakeRunner) -> None:
    loaded = load_playbook_text(PLAYBOOK.encode(), "effect.yaml")
    VERDICT["interrupt"] = True
    with pytest.raises(KeyboardInterrupt):
        make_runner(loaded=loaded).execute()
    VERDICT.pop("interrupt")


def test_intent_is_journalled_before_the_action_and_unknown_is_not_repeated_with_yes(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    _interrupted_in_flight(make_runner)
    seen = CALLS[0]
    assert seen["status"] == "acting"
    assert seen["intent"]["action"] == "test_effect" and seen["intent"]["command"] == (
        "flip-the-switch")
    assert {"started", "host", "operatorPid"} <= set(seen["intent"])
    record = _journal(zk).run("migration").steps["effect"]  # type: ignore[union-attr]
    assert record.status == "acting" and record.intent is not None
    loaded = load_playbook_text(PLAYBOOK.encode(), "effect.yaml")
    with pytest.raises(Refused) as refused:
        make_runner(loaded=loaded).execute()
    assert "could start a second one; nothing was done" in refused.value.message
    assert "flip-the-switch" in refused.value.message
    assert refused.value.hint and "Look at:" in refused.value.hint
    assert len(CALLS) == 1


def test_unknown_asks_typed_and_runs_again_once_confirmed(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    _interrupted_in_flight(make_runner)
    console = TypingConsole()
    loaded = load_playbook_text(PLAYBOOK.encode(), "effect.yaml")
    result = make_runner(loaded=loaded, console=console,
                         options=RunOptions(assume_yes=False)).execute()
    assert result.complete and result.ran == ["effect"]
    # the run's one "proceed?" first, then the typed question about the action in flight
    assert console.asked == [("Proceed with 1 step(s) on shard 1.moray.test?", False),
                             ("Do the effect: run the action again (it may have happened "
                              "already)?", True)]
    assert "Before answering, look at:" in console.stream.getvalue()
    assert len(CALLS) == 2
    assert _journal(zk).run("migration").steps["effect"].status == "done"  # type: ignore[union-attr]


def test_a_state_setting_command_is_simply_run_again(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    _interrupted_in_flight(make_runner)
    VERDICT["idempotent"] = True
    loaded = load_playbook_text(PLAYBOOK.encode(), "effect.yaml")
    console = RunConsole(assume_yes=True, shard=SHARD, stream=io.StringIO())
    result = make_runner(loaded=loaded, console=console).execute()
    assert result.complete and len(CALLS) == 2
    assert "running it again is harmless" in console.stream.getvalue()


def test_no_action_starts_while_an_earlier_runs_child_still_runs(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    from dataclasses import replace

    from migrator.engine.journal import StepRecord, new_run
    from migrator.engine.journal_store import JournalStore
    from migrator.remote import localchild

    _interrupted_in_flight(make_runner)
    child = localchild.start(["sleep", "60"])
    try:
        store = JournalStore(zk, SHARD)
        journal = store.load()
        assert journal is not None
        other = replace(new_run("rollback", "rollback-before-primary", "sha256:x", "op@h"),
                        steps={"rollback-async": StepRecord(
                            status="acting", intent={**child.info.to_json(), "zone": "z1"})})
        store.save(journal.with_run(other))
        VERDICT["idempotent"] = True
        loaded = load_playbook_text(PLAYBOOK.encode(), "effect.yaml")
        with pytest.raises(Refused) as refused:
            make_runner(loaded=loaded).execute()
        assert f"pid {child.info.pid}" in refused.value.message
        assert "rollback's step rollback-async left an action running" in refused.value.message
        assert len(CALLS) == 1
    finally:
        import os

        os.killpg(child.info.pgid, 9)
        localchild.wait_gone(child.info.pid, 30)


def test_waiting_for_an_action_in_flight_is_bounded_and_starts_nothing(
    zk: Any, three_peers: V1Shard, make_runner: MakeRunner
) -> None:
    from migrator.errors import StepFailed

    _interrupted_in_flight(make_runner)
    VERDICT["down"] = True
    loaded = load_playbook_text(PLAYBOOK.encode(), "effect.yaml")
    console = RunConsole(assume_yes=True, shard=SHARD, stream=io.StringIO())
    with pytest.raises(StepFailed) as failed:
        make_runner(loaded=loaded, console=console).execute()
    assert "cannot be reached: a reprovision may still be at work on it, still after " \
        "waiting 5 s for it; nothing was started" in failed.value.message
    assert console.stream.getvalue().count("waiting up to") == 1  # one line, not one a look
    assert len(CALLS) == 1
    assert _journal(zk).run("migration").steps["effect"].status == "acting"  # type: ignore[union-attr]
