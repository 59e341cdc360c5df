"""`migrator plan` shows checks and actions in words, never as Python reprs, while
`plan --json` keeps their machine form unchanged (issue 20 §7)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from migrator.engine.planner import Plan, describe_ref, make_plan, render_ref
from migrator.engine.render import render_plan
from migrator.playbook import catalog
from migrator.stepkit.schema import CheckRef
from tests.conftest import invoke_cli
from tests.engine.helpers import IPS, SHARD, ZONES, snapshot

pytestmark = pytest.mark.unit

NOW = "2026-11-26T05:00:00.000Z"
SIZES = {3: "three-node", 2: "two-node", 1: "one-node"}
# a check or action as a call: name(...key=...), and Python reprs of dicts and lists
CALL_WITH_KEYWORDS = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\([^()]*=")
REPRS = ("{'", "['", "={", "=[")


def _machine_form_in(line: str) -> list[str]:
    found = [m.group() for m in CALL_WITH_KEYWORDS.finditer(line)]
    return found + [r for r in REPRS if r in line]


def _plan(name: str, peers: int) -> Plan:
    return make_plan(snapshot(list(range(peers))), [], catalog.resolve(name), None, {},
                     now=NOW)


def _topology(tmp_path: Path, peers: int) -> Path:
    path = tmp_path / f"topology-{peers}.json"
    path.write_text(json.dumps({
        "shard": SHARD,
        "election": [{"name": f"{ip}:5432:12345-{i:010d}",
                      "data": {"zoneId": zone, "ip": ip,
                               "pgUrl": f"tcp://postgres@{ip}:5432/postgres"}}
                     for i, (ip, zone) in enumerate(zip(IPS[:peers], ZONES, strict=False))],
        "state": None,
    }))
    return path


@pytest.mark.parametrize("peers", [3, 2, 1])
def test_the_offline_plan_shows_every_check_in_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], peers: int) -> None:
    result = invoke_cli(["plan", "--topology", str(_topology(tmp_path, peers))], capsys)
    assert result.status == 0, result.err
    assert f"playbook {SIZES[peers]} " in result.out
    lines = result.out.splitlines()
    assert [line for line in lines if _machine_form_in(line)] == []
    assert any(line.startswith("   verify: ") for line in lines)
    assert any(line.startswith("   action: ") for line in lines)


@pytest.mark.parametrize("name", catalog.builtin_names())
def test_every_built_in_plan_renders_in_words_piped_and_on_a_terminal(name: str) -> None:
    loaded = catalog.resolve(name)
    if loaded.playbook.kind != "migration":
        pytest.skip("a rollback plan starts from a migrated shard")
    plan = _plan(name, loaded.playbook.peers)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream in (io.StringIO(), Terminal()):
        render_plan(plan, as_json=False, stream=stream)
        text = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())
        assert [line for line in text.splitlines() if _machine_form_in(line)] == []


def test_every_check_and_action_of_every_built_in_playbook_has_words() -> None:
    for name in catalog.builtin_names():
        loaded = catalog.resolve(name)
        for step in loaded.playbook.steps:
            refs = [*step.preconditions, *step.verify, *step.done_checks, step.action]
            for ref in refs:
                words = describe_ref(ref)
                assert words and not _machine_form_in(words), (loaded.name, step.id, words)


def test_a_check_without_why_reads_as_its_summary_with_its_parameters_in_words() -> None:
    ref = CheckRef.validate({"check": "log_record", "params": {
        "zone": "original_async", "msg": "assuming role", "fields": {"role": "unassigned"}}})
    assert describe_ref(ref) == (
        "the zone's sitter log has a matching record since the step started: the original "
        'async; message "assuming role"; with role unassigned')
    why = CheckRef.validate({**ref.dump(), "why": "the v2 sitter took the unassigned role"})
    assert describe_ref(why) == "the v2 sitter took the unassigned role"
    assert describe_ref(CheckRef.validate({"check": "peers_all_present",
                                           "params": {"allow_deposed": True}})) == (
        "every peer of the original topology is in /state: allow deposed: yes")
    assert describe_ref(CheckRef.validate({"check": "history_progression", "params": {
        "events": ["backfill", "unfreeze"]}})).endswith("generation): backfill, unfreeze")


@pytest.mark.parametrize("peers", [3, 2, 1])
def test_the_json_keeps_the_machine_form(peers: int) -> None:
    loaded = catalog.resolve(SIZES[peers])
    plan = _plan(SIZES[peers], peers)
    stream = io.StringIO()
    render_plan(plan, as_json=True, stream=stream)
    document = json.loads(stream.getvalue())
    for step, planned in zip(loaded.playbook.steps, document["steps"], strict=True):
        assert planned["preconditions"] == [render_ref(r) for r in step.preconditions]
        assert planned["verify"] == [render_ref(r) for r in step.verify]
        assert planned["action"] == render_ref(step.action)
        assert not any(key.endswith("words") or key.endswith("Words") for key in planned)
    machine = [s for s in document["steps"] for s in s["verify"] if "(" in s]
    assert machine and all(CALL_WITH_KEYWORDS.search(s) for s in machine)
