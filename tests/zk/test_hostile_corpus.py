"""The hostile-input corpus: one table, every boundary where outside text enters.

Groups: inventory, discovery (the headnode's answers), ZooKeeper values, zone
outputs, journals and saved plans, playbooks, CLI arguments, terminal output. Each
case is either refused (the exit status given, one paragraph naming the place, no
traceback) or harmless (exit 0, nothing raw reaches the terminal, markup is shown as
text). For every case:
no canary file was created (nothing hostile ran), and ZooKeeper holds exactly what it
held before the command. Cases with deeper coverage elsewhere are named in their
``also`` note. Real ZooKeeper; the zone-output and discovery cases are pure parses
(their over-SSH paths are in tests/remote and tests/sandbox).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ZONES, CliResult, V1Shard, invoke_cli, peer_data
from tests.engine.helpers import ZK_ONLY_PLAYBOOK

pytestmark = pytest.mark.zk

SHARD = "1.moray.test"
IPS = list(ZONES)
ESCAPES = "\x1b]0;pwned\x07\x1b[2J[bold red]boom[/]\u202e"
RAW = ("\x1b", "\x07", "\u202e")


@dataclass
class World:
    """What a case may use: the test's ZooKeeper client and server string, a shard of
    two v1 peers, a scratch directory, the canary's path and a CLI runner."""

    zk: Any
    connection: str
    shard: V1Shard
    tmp: Path
    canary: Path
    cli: Callable[[list[str]], CliResult]

    def hostile(self, word: str = "") -> str:
        """Shell text that would create the canary if anything ran it."""
        return f"{word}$(touch {self.canary});touch {self.canary};`touch {self.canary}`"

    def inventory(self, **changes: Any) -> Path:
        doc: dict[str, Any] = {
            "shard": SHARD, "zookeeper": self.connection,
            "zones": {ZONES[ip]: {"host": "127.0.0.2"} for ip in IPS[:2]}}
        doc.update(changes)
        path = self.tmp / "inventory.yaml"
        path.write_text(json.dumps(doc))  # JSON is YAML
        return path


Setup = Callable[[World], list[str]]


@dataclass
class Case:
    group: str
    name: str
    setup: Setup  # makes the hostile input, returns the argv to run
    status: int  # 0: harmless
    words: str  # in stderr (refused) or in stdout+stderr (harmless)
    also: str = ""


def _zk(world: World, *args: str) -> list[str]:
    return [args[0], "--zk", world.connection, *args[1:]]


def _join_hostile(field: str, value: Callable[[World], str]) -> Setup:
    def setup(world: World) -> list[str]:
        data = {**peer_data(IPS[2], ZONES[IPS[2]]), field: value(world)}
        world.shard.join(IPS[2], ZONES[IPS[2]], data=json.dumps(data).encode())
        return _zk(world, "backfill", "--shard", SHARD, "--yes")
    return setup


def _join_raw(data: Callable[[World], bytes]) -> Setup:
    def setup(world: World) -> list[str]:
        world.shard.join(IPS[2], ZONES[IPS[2]], data=data(world))
        return _zk(world, "backfill", "--shard", SHARD, "--yes")
    return setup


def _twice_given(world: World) -> bytes:
    """JSON giving zoneId twice: a reader keeping the last would copy the second."""
    first = json.dumps(peer_data(IPS[2], ZONES[IPS[2]]))
    return (first[:-1] + f', "zoneId": {json.dumps(world.hostile())}}}').encode()


def _crowded_election(world: World) -> list[str]:
    """Election nodes by the hundred, each named for its own address but all holding one
    peer's data (ephemeral nodes of the test's session, gone with it). The issue's 500 are
    refused the same way (any count over 32); 100 keep the suite quick."""
    base = f"/manatee/{SHARD}/election"
    data = json.dumps(peer_data(IPS[2], ZONES[IPS[2]])).encode()
    for i in range(100):
        world.zk.create(f"{base}/127.0.3.{i + 1}:5432:12345-", data,
                        ephemeral=True, sequence=True)
    return _zk(world, "backfill", "--shard", SHARD, "--yes")


def _hostile_state(world: World) -> list[str]:
    state = {"generation": 0, "primary": {**peer_data(IPS[0], ZONES[IPS[0]], True),
                                          "id": f"{IPS[0]}:5432:12345"},
             "sync": {**peer_data(IPS[1], ZONES[IPS[1]], True), "id": f"{IPS[1]}:5432:12345"},
             "async": [], "deposed": [], "initWal": "0/0000000",
             "freeze": {"date": "2026-12-06T00:00:00.000Z", "reason": ESCAPES}}
    world.zk.create(f"/manatee/{SHARD}/state", json.dumps(state).encode())
    return _zk(world, "status", "--shard", SHARD)


def _shard_named(world: World) -> list[str]:
    world.zk.create(f"/manatee/x;touch {world.canary.name}", b"")
    return _zk(world, "status")


def _deep_journal(world: World) -> list[str]:
    world.zk.create(f"/manatee-migrator/{SHARD}/journal", b"[" * 3000 + b"]" * 3000,
                    makepath=True)
    return _zk(world, "report", "--shard", SHARD)


def _edited_plan(world: World) -> list[str]:
    world.shard.join(IPS[2], ZONES[IPS[2]])  # the playbook is for three peers
    book = world.tmp / "zk-only.yaml"
    book.write_text(ZK_ONLY_PLAYBOOK)
    plan = world.tmp / "plan.json"
    made = world.cli(_zk(world, "plan", "--shard", SHARD, "--playbook", str(book),
                         "--out", str(plan)))
    assert made.status == 0, made.err
    doc = json.loads(plan.read_text())
    doc["steps"][0]["write"]["after"]["primary"]["pgUrl"] = world.hostile("tcp://")
    plan.write_text(json.dumps(doc))
    return _zk(world, "run", "--shard", SHARD, "--plan", str(plan), "--playbook", str(book))


def _plan_without_a_step(world: World) -> list[str]:
    """A saved plan with a step deleted and its digest recomputed, as a careful forger
    would: the digest passes, the comparison with the plan computed now does not."""
    from migrator.engine.savedplan import _digest

    world.shard.join(IPS[2], ZONES[IPS[2]])  # the playbook is for three peers
    book = world.tmp / "zk-only.yaml"
    book.write_text(ZK_ONLY_PLAYBOOK)
    plan = world.tmp / "plan.json"
    made = world.cli(_zk(world, "plan", "--shard", SHARD, "--playbook", str(book),
                         "--out", str(plan)))
    assert made.status == 0, made.err
    doc = json.loads(plan.read_text())
    doc["steps"].pop(0)
    doc["digest"] = _digest(doc)
    plan.write_text(json.dumps(doc))
    return _zk(world, "run", "--shard", SHARD, "--plan", str(plan), "--playbook", str(book))


def _report_of_a_fifo(world: World) -> list[str]:
    fifo = world.tmp / "journal.json"
    os.mkfifo(fifo)  # never written: opening it for reading would block for good
    return ["report", "--file", str(fifo)]


def _deep_journal_status(world: World) -> list[str]:
    _deep_journal(world)
    return _zk(world, "status", "--shard", SHARD)


def _long_playbook(world: World) -> list[str]:
    path = world.tmp / "long.yaml"
    steps = "".join(
        f"  - id: s{i}\n    title: t\n    explain: e\n    action: {{name: ask_operator, "
        "params: {question: q}}\n    confirm: \"yes\"\n    verify: []\n" for i in range(10_000))
    path.write_text(f"name: long\ntitle: t\ndescription: d\npeers: 3\nsteps:\n{steps}")
    return ["playbooks", "validate", str(path)]


def _alias_bomb_playbook(world: World) -> list[str]:
    path = world.tmp / "bomb.yaml"
    lines = ["a: &a [x,x,x,x,x,x,x,x,x]"] + [
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi",
                                                                    strict=True)]
    path.write_text("\n".join(lines) + "\nname: bomb\n")
    return ["playbooks", "validate", str(path)]


def _pure(check: Callable[[World], None]) -> Setup:
    """A pure case: ``check`` asserts what happens to the text; the command run after it
    is a harmless read, so the common assertions still hold."""
    def setup(world: World) -> list[str]:
        check(world)
        return _zk(world, "status", "--shard", SHARD)
    return setup


def _discovery_nesting(world: World) -> None:
    from migrator.discovery import parse

    with pytest.raises(parse.Unparseable):
        parse.parse_vm("[" * 100_000 + "]" * 100_000, ZONES[IPS[0]])


def _discovery_comment(world: World) -> None:
    import yaml

    from migrator.discovery.written import inventory_text

    document = {"shard": SHARD, "zones": {}}
    hostname = f"cn0\ncommands:\n  manatee_version: {world.hostile()}\n#"
    assert yaml.safe_load(inventory_text("h.yaml", SHARD, [("n", "h", hostname)],
                                         document)) == document


def _discovery_image_version(world: World) -> None:
    """The IMGAPI image version landed raw in the same comments as the hostname."""
    import yaml

    from migrator.discovery.written import inventory_text

    document = {"shard": SHARD, "versions": {"migrate_to": "img"}}
    version = f"2.1.1\ncommands:\n  sitter_config: {world.hostile()}\n#"
    source = f"--migrate-to latest (manta-manatee {version}{ESCAPES})"
    text = inventory_text("h.yaml", SHARD, [("versions.migrate_to", "img", source)], document)
    assert yaml.safe_load(text) == document
    assert not any(c in text for c in RAW)


def _zone_version_output(world: World) -> None:
    from migrator.remote.versions import at_least, reported_version
    from migrator.ui.inert import inert

    version = reported_version(f"{world.hostile('v2')}{ESCAPES}\n")
    assert version is None  # not a version: never compared or shown as one
    sane = reported_version('{"version": "2.1.1"}')
    assert sane == "2.1.1" and at_least(sane, "v2") is True
    assert not any(c in inert(f"{world.hostile('v2')}{ESCAPES}") for c in RAW)


CASES = [
    Case("inventory", "shard name with shell text",
         lambda w: ["plan", "--inventory", str(w.inventory(shard=w.hostile("1.moray")))],
         2, "not a shard name"),
    Case("inventory", "template reaching into a value",
         lambda w: ["plan", "--inventory", str(w.inventory(
             commands={"manatee_version": "echo {zone.__class__}"}))],
         2, "manatee_version"),
    Case("inventory", "template with a lone brace",
         lambda w: ["plan", "--inventory", str(w.inventory(
             commands={"manatee_version": "echo { " + w.hostile()}))],
         2, "manatee_version", also="tests/unit/test_input_errors.py"),
    Case("inventory", "ssh_config that never ends",
         lambda w: ["plan", "--inventory", str(w.inventory(ssh_config="/dev/zero"))],
         2, "ssh_config file /dev/zero", also="tests/unit/test_bounded_reads.py"),
    Case("inventory", "identity that never ends",
         lambda w: ["plan", "--inventory", str(w.inventory(
             ssh={"identity": "/dev/zero"}))], 2, "/dev/zero",
         also="tests/unit/test_bounded_reads.py"),
    Case("discovery", "headnode JSON nested 100,000 deep", _pure(_discovery_nesting), 0, "",
         also="tests/unit/test_input_errors.py"),
    Case("discovery", "a hostname that ends its provenance comment",
         _pure(_discovery_comment), 0, "", also="tests/unit/test_discovery_written.py"),
    Case("discovery", "an image version that ends its provenance comment",
         _pure(_discovery_image_version), 0, "",
         also="tests/unit/test_discovery_written.py"),
    Case("zookeeper", "election zoneId with shell text",
         _join_hostile("zoneId", lambda w: w.hostile()), 2, "not a UUID"),
    Case("zookeeper", "election pgUrl with shell text",
         _join_hostile("pgUrl", lambda w: w.hostile(f"tcp://postgres@{IPS[2]}:5432/")), 2,
         "pgUrl"),
    Case("zookeeper", "election ip with shell text",
         _join_hostile("ip", lambda w: f"{IPS[2]};touch {w.canary}"), 2,
         "not an IPv4 address", also="tests/unit/test_peer_checks.py"),
    Case("zookeeper", "election data giving zoneId twice", _join_raw(_twice_given), 2,
         "'zoneId' twice"),
    Case("zookeeper", "100 election nodes whose names disagree with their data",
         _crowded_election, 2, "more than the 32"),
    Case("zookeeper", "a shard znode named with shell text", _shard_named, 0,
         "skipped the znode"),
    Case("zone outputs", "a version string with shell text and escapes",
         _pure(_zone_version_output), 0, ""),
    Case("journal", "a journal nested 3,000 deep", _deep_journal, 2, "journal"),
    Case("journal", "status of a journal nested 3,000 deep", _deep_journal_status, 0,
         "is not a journal", also="tests/zk/test_input_errors.py"),
    Case("journal", "report --file of a FIFO", _report_of_a_fifo, 2, "FIFO",
         also="tests/unit/test_bounded_reads.py"),
    Case("journal", "report --file /dev/zero", lambda w: ["report", "--file", "/dev/zero"],
         2, "character device"),
    Case("saved plan", "a saved plan whose write was edited", _edited_plan, 3,
         "was changed after"),
    Case("saved plan", "a saved plan with a step deleted and its digest redone",
         _plan_without_a_step, 3, "step(s) backfill are not in the saved plan",
         also="tests/engine/test_zk_engine.py"),
    Case("playbooks", "10,000 steps", _long_playbook, 2, "more than the 500"),
    Case("playbooks", "an alias bomb", _alias_bomb_playbook, 2, "alias"),
    Case("cli", "--connect-timeout nan",
         lambda w: _zk(w, "status", "--connect-timeout", "nan"), 2, "nan"),
    Case("cli", "a port out of range", lambda w: ["status", "--zk", "127.0.0.1:99999999"],
         2, "99999999"),
    Case("cli", "a chroot with ..", lambda w: ["status", "--zk", f"{w.connection}/../x"],
         2, ".."),
    Case("cli", "--shard with shell text",
         lambda w: _zk(w, "status", "--shard", w.hostile("1.moray")), 2, "shard"),
    Case("terminal", "an election zoneId with escapes and markup",
         _join_hostile("zoneId", lambda w: ESCAPES), 2, "\\x1b]0;pwned\\x07",
         also="tests/engine/test_terminal_inert.py"),
    Case("terminal", "a freeze reason with escapes and markup", _hostile_state, 0,
         "\\x1b]0;pwned\\x07", also="tests/engine/test_terminal_inert.py"),
]


def _tree(zk: Any) -> dict[str, tuple[bytes, int]]:
    """Every znode's data and ephemeral owner (0: persistent), but ZooKeeper's own."""
    found: dict[str, tuple[bytes, int]] = {}

    def walk(path: str) -> None:
        for child in zk.get_children(path):
            full = f"{path.rstrip('/')}/{child}"
            if full == "/zookeeper":
                continue
            data, stat = zk.get(full)
            found[full] = (data, int(stat.ephemeralOwner))
            walk(full)

    walk("/")
    return found


def _unchanged_but_expired(before: dict[str, tuple[bytes, int]],
                           after: dict[str, tuple[bytes, int]], shard: V1Shard) -> bool:
    """``after`` is ``before``, but for the ephemeral nodes of peer sessions that expired
    meanwhile (under load the fixture's 4 s sessions expired while the command parsed a
    10,000-step playbook in this process): those say nothing of what the command did."""
    live = {int(client.client_id[0]) for client in shard.sessions.values()
            if client.connected and client.client_id}
    kept = {path: entry for path, entry in before.items()
            if entry[1] == 0 or entry[1] in live or path in after}
    return after == kept


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}: {c.name}" for c in CASES])
def test_hostile_input_is_refused_or_harmless(
    zk: Any, zk_server: Any, v1_shard: V1Shard, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], case: Case,
) -> None:
    for ip in IPS[:2]:
        v1_shard.join(ip, ZONES[ip])
    world = World(zk, zk_server.connection_string, v1_shard, tmp_path,
                  tmp_path / "PWNED", lambda argv: invoke_cli(argv, capsys))
    argv = case.setup(world)
    before = _tree(zk)
    result = world.cli(argv)
    shown = result.out + result.err
    assert result.status == case.status, (case.name, result.err[-2000:])
    assert "Traceback" not in result.err and "Internal error" not in result.err, result.err
    assert case.words in (result.err if case.status else shown), shown[-2000:]
    assert not any(c in shown for c in RAW), repr(shown[-2000:])
    # markup shown as text, never read: wherever "boom" arrives, its tags arrive with it
    assert shown.count("boom") == shown.count("[bold red]boom[/]"), shown[-2000:]
    assert not world.canary.exists(), "an injected command ran"
    after = _tree(zk)
    assert _unchanged_but_expired(before, after, v1_shard), ("ZooKeeper changed", before, after)
