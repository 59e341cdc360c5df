"""No internal errors from input (issue 21 §5): each input that used to raise an internal
error, hang or be wrongly accepted is a clear error (exit 2), a refusal or a warning.

Pure tests (no ZooKeeper, no SSH); the ZooKeeper side is in tests/zk/test_input_errors.py
and the zones' in tests/remote/test_missing_paths.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from migrator.cli.types import FiniteFloat, FiniteFloatRange
from migrator.discovery import parse
from migrator.discovery.build import DiscoveryFailed, _parsed
from migrator.engine.journal_store import JournalStore
from migrator.engine.journal_znode import JOURNAL_MAX_DEPTH, journal_document
from migrator.engine.preflight import Facts, decide
from migrator.errors import EXIT_BAD_INPUT, BadInput, MalformedZnode
from migrator.inventory.load import load_inventory
from migrator.inventory.values import check_template, parse_zk_connection
from migrator.playbook.loader import MAX_STEPS, PlaybookError, load_playbook_text
from migrator.remote.probe import LOG_MISSING_PROBLEM, ZoneReport
from migrator.strictjson import JsonRejected
from migrator.yamldoc import MAX_EXPANDED_NODES, AliasExpansionError, parse_document
from migrator.zk.client import ZkTarget, checked_hosts, resolve_target
from tests.conftest import invoke_cli
from tests.engine.helpers import ZK_ONLY_PLAYBOOK

pytestmark = pytest.mark.unit

ZONE = "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01"
DEEP = "[" * 100_000 + "]" * 100_000


# --- 1. the ZooKeeper connection string ---------------------------------------------------

@pytest.mark.parametrize(("value", "words"), [
    ("127.0.0.1:2181/../x", "not an absolute normalised path"),
    ("127.0.0.1:2181/a/./b", "not an absolute normalised path"),
    ("127.0.0.1:2181/a//b", "not an absolute normalised path"),
    ("127.0.0.1:2181/a/", "no trailing '/'"),
    ("127.0.0.1:2181/a b", "component 'a b'"),
    ("127.0.0.1:99999999", "from 1 to 65535"),
    ("127.0.0.1:65536", "from 1 to 65535"),
    ("127.0.0.1:0", "from 1 to 65535"),
    ("127.0.0.1:-1", "from 1 to 65535"),
    ("127.0.0.1:", "from 1 to 65535"),
    ("127.0.0.1:2181,", "empty server"),
    (",127.0.0.1:2181", "empty server"),
    ("::1:2181", "IPv6 address in brackets"),
    ("[nope]:2181", "not a host name or address"),
    ("[::1]x:2181", "text after its IPv6 address"),
    ("a b:2181", "not a host name or address"),
    ("127.0.0.1:2181/a\nb", "component 'a\\nb'"),
])
def test_connection_strings_kazoo_cannot_use_are_refused(value: str, words: str) -> None:
    with pytest.raises(ValueError, match="is not a ZooKeeper connection string") as caught:
        parse_zk_connection(value, port_required=False)
    assert words in str(caught.value)
    with pytest.raises(BadInput) as refused:
        resolve_target(value + " ", 1.0)  # --zk and ZK_IPS are stripped first
    assert refused.value.exit_status == EXIT_BAD_INPUT and words in refused.value.message
    with pytest.raises(BadInput):  # a target built directly is checked before kazoo sees it
        _ = ZkTarget(value).hosts


@pytest.mark.parametrize(("value", "hosts"), [
    ("127.0.0.1:2181", "127.0.0.1:2181"),
    ("10.0.0.1:2181,10.0.0.2:2182/tenant/x-1", "10.0.0.1:2181,10.0.0.2:2182/tenant/x-1"),
    ("zk.example.com", "zk.example.com:2181"),  # manatee's ZK_IPS may omit the port
    ("[::1]:2181/t", "[::1]:2181/t"),
    ("127.0.0.1:2181/", "127.0.0.1:2181/"),
    ("127.0.0.1:65535", "127.0.0.1:65535"),
    ("10.0.0.1:2181, 10.0.0.2", "10.0.0.1:2181,10.0.0.2:2181"),  # spaces around a server
])
def test_usable_connection_strings_are_kept(value: str, hosts: str) -> None:
    assert checked_hosts(value) == hosts
    assert ZkTarget(value).hosts == hosts


def test_an_inventory_needs_every_port_and_a_clean_chroot(tmp_path: Path) -> None:
    for value, words in (("127.0.0.1", "has no port"), ("127.0.0.1:2181/../x", "'..'"),
                         ("127.0.0.1:70000", "from 1 to 65535"),
                         ("127.0.0.1:2181, 127.0.0.2:2181", "not a host name")):
        path = tmp_path / "inv.yaml"
        path.write_text(f"shard: s1\nzookeeper: '{value}'\nzones:\n  z1: {{host: h}}\n")
        with pytest.raises(BadInput) as caught:
            load_inventory(path)
        assert f"{path}:2: zookeeper" in caught.value.message and words in caught.value.message


@pytest.mark.parametrize("zk", ["127.0.0.1:2181/../x", "127.0.0.1:99999999"])
def test_the_cli_refuses_the_string_before_connecting(
    zk: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke_cli(["status", "-z", zk, "--connect-timeout", "1"], capsys)
    assert result.status == 2, result.err
    assert result.err.startswith("error: ") and repr(zk) in result.err
    assert "Internal error" not in result.err and "Traceback" not in result.err


def test_sapi_zk_servers_out_of_range_are_unparseable() -> None:
    answer = json.dumps([{"metadata": {"ZK_SERVERS": [{"host": "10.0.0.1", "port": 99999}]}}])
    with pytest.raises(parse.Unparseable, match="from 1 to 65535"):
        parse.parse_zk_servers(answer)


# --- 2. deeply nested headnode answers -----------------------------------------------------

@pytest.mark.parametrize("text", [DEEP, "HTTP/1.1 200 OK\nContent-Type: x\n\n" + DEEP,
                                  "HTTP/1.1 404 Not Found\n\n" + DEEP])
def test_deeply_nested_headnode_answers_are_not_json(text: str) -> None:
    with pytest.raises(parse.Unparseable) as caught:
        parse.parse_vm(text, ZONE)
    assert "nests deeper" in str(caught.value) or "HTTP 404" in str(caught.value)


def test_a_deep_vmapi_answer_stops_discovery_with_its_clear_failure(tmp_path: Path) -> None:
    class Headnode:
        def ask(self, template: str, setting: str, fill: str, **values: str) -> str:
            return DEEP

        def failed(self, command: str, why: str, setting: str, fill: str) -> DiscoveryFailed:
            return DiscoveryFailed(f"Discovery stopped: `{command}` ({why}).", fill)

    with pytest.raises(DiscoveryFailed) as caught:
        _parsed(Headnode(), "sdc-vmapi /vms/{zone}", "vm", "`zones:`",  # type: ignore[arg-type]
                lambda text: parse.parse_vm(text, ZONE), zone=ZONE)
    assert caught.value.exit_status == EXIT_BAD_INPUT
    assert "nests deeper than 64 levels" in caught.value.message


def test_a_headnode_answer_keeps_large_numbers_discovery_does_not_read() -> None:
    vm = {"uuid": ZONE, "server_uuid": ZONE, "image_uuid": ZONE, "quota": 2**60,
          "nics": [{"nic_tag": "admin", "ip": "10.0.0.5"}]}
    assert parse.parse_vm(json.dumps(vm), ZONE).ip == "10.0.0.5"


def test_deeply_nested_election_data_in_discovery_is_unparseable() -> None:
    with pytest.raises(parse.Unparseable, match="does not hold JSON"):
        parse.peer_zones([("10.0.0.1:5432:12345-0000000000", DEEP.encode())], None, "1.m")


# --- 3. deeply nested journals ---------------------------------------------------------------

def test_journal_documents_are_parsed_bounded() -> None:
    with pytest.raises(JsonRejected, match="nests deeper"):
        journal_document("[" * 3000 + "]" * 3000)
    nested: Any = []
    for _ in range(JOURNAL_MAX_DEPTH - 2):  # with the object and the innermost list
        nested = [nested]
    assert journal_document(json.dumps({"runs": nested}))["runs"] == nested


def test_the_store_refuses_a_deep_journal_naming_it() -> None:
    class Client:
        def get(self, path: str) -> tuple[bytes, Any]:
            return b"[" * 3000 + b"]" * 3000, None

    store = JournalStore(Client(), "1.moray.test")  # type: ignore[arg-type]
    with pytest.raises(MalformedZnode) as caught:
        store.load()
    assert "/manatee-migrator/1.moray.test/journal" in caught.value.message
    assert "nests deeper" in caught.value.message


# --- 4. float options ------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "-nan", "NaN", "inf", "-inf", "1e999", "Infinity"])
@pytest.mark.parametrize("kind", [FiniteFloat(), FiniteFloat(positive=False),
                                  FiniteFloatRange(0.1, 300)])
def test_float_options_refuse_what_is_not_finite(value: str, kind: click.ParamType) -> None:
    with pytest.raises(click.BadParameter, match="not a finite number"):
        kind.convert(value, None, None)


@pytest.mark.parametrize("value", ["0", "-1", "-0.0", "abc", ""])
def test_timeouts_must_be_greater_than_zero(value: str) -> None:
    with pytest.raises(click.BadParameter):
        FiniteFloat().convert(value, None, None)
    assert FiniteFloat().convert("2.5", None, None) == 2.5
    assert FiniteFloat(positive=False).convert("0", None, None) == 0.0


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e400"])
def test_connect_timeout_nan_inf_and_non_positive_are_usage_errors(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke_cli(["status", "-z", "127.0.0.1:2181", f"--connect-timeout={value}"],
                        capsys)
    assert result.status == 2, result.err
    assert "--connect-timeout" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(("args", "option"), [
    (["sandbox", "verify", "--dir", "/nonexistent", "--timeout", "nan"], "--timeout"),
    (["sandbox", "verify", "--dir", "/nonexistent", "--timeout", "0"], "--timeout"),
    (["sandbox", "up", "--dir", "/nonexistent/sb", "--latency", "nan"], "--latency"),
    (["sandbox", "reprovision", "--dir", "/nonexistent", "z", "--to", "v2", "--delay", "inf"],
     "--delay"),
])
def test_sandbox_float_options_refuse_nan_and_inf(
    args: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke_cli(args, capsys)
    assert result.status == 2 and option in result.err and "Traceback" not in result.err


# --- 6. command templates ------------------------------------------------------------------

@pytest.mark.parametrize(("template", "words"), [
    ("svcadm restart {zone.__class__}", "reaches into a value"),
    ("echo {zone[0]}", "reaches into a value"),
    ("echo {zone!r}", "reaches into a value"),
    ("echo {zone:>40}", "reaches into a value"),
    ("echo {Zone}", "unknown placeholder {Zone}"),
    ("echo {0}", "unknown placeholder {0}"),
    ("echo {zone", "the '{' at character 6 is never closed"),
    ("echo { {zone}", "is never closed"),
    ("echo zone}", "closes nothing"),
])
def test_templates_with_format_fields_or_lone_braces_are_refused(template: str,
                                                                 words: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_template(template, allowed=frozenset({"zone", "shard"}))
    assert words in str(caught.value)


@pytest.mark.parametrize("template", [
    "awk '{print $1}' ${HOME}/x {zone}", "echo {a,b} {1..5} {zone}",
    "find /var -name x -exec cat {} \\; {zone}", "echo '{' '}' \\{ {zone}",
    'echo "${HOME}" {shard}',
])
def test_shell_braces_stay_the_operators(template: str) -> None:
    assert check_template(template, allowed=frozenset({"zone", "shard"})) == template


def test_a_template_error_names_its_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("shard: s1\nzookeeper: 127.0.0.1:2181\nzones:\n  z1: {host: h}\n"
                    "commands:\n  manatee_version: cat {zone.__class__}/package.json\n")
    with pytest.raises(BadInput) as caught:
        load_inventory(path)
    message = caught.value.message
    assert f"{path}:6: commands.manatee_version" in message
    assert "reaches into a value" in message and "write {zone}" in message


# --- 7. the pre-flight on a missing sitter log -------------------------------------------

def _zone(name: str, problems: list[str], sitter: str = "online") -> ZoneReport:
    return ZoneReport(name, "manatee", f"ssh root@{name}:22", reachable=True,
                      host_key="known", version="2.1.1", sitter=sitter,
                      log="/var/log/x.log (does not exist)", problems=problems)


def _facts(zone: ZoneReport, *, rollback: bool = False) -> Facts:
    return Facts(zones=[zone], election_zones=frozenset({zone.zone}), zookeeper_problem=None,
                 zookeeper_detail="answers", holders=[], identity="me",
                 lenient_sitters=rollback)


def test_a_missing_log_of_a_running_sitter_refuses_even_a_rollback() -> None:
    missing = LOG_MISSING_PROBLEM + "/var/log/x.log does not exist in the zone; set ..."
    for rollback in (False, True):
        verdict = decide(_facts(_zone("z1", [missing]), rollback=rollback))
        assert not verdict.ok
        assert verdict.problems == [f"manatee zone z1: {missing}"]


def test_the_missing_log_of_a_stopped_sitter_is_a_sitter_problem() -> None:
    problems = ["its sitter is not running (`svcs` says disabled)",
                LOG_MISSING_PROBLEM + "/var/log/x.log does not exist in the zone"]
    assert not decide(_facts(_zone("z1", problems, sitter="disabled"))).ok
    verdict = decide(_facts(_zone("z1", problems, sitter="disabled"), rollback=True))
    assert verdict.ok and verdict.rows[0].note


# --- 8. long playbooks and alias bombs ---------------------------------------------------------

def _steps(count: int) -> str:
    head, _, _ = ZK_ONLY_PLAYBOOK.partition("steps:")
    step = ("  - id: s{n}\n    title: step {n}\n    explain: x\n"
            "    action: {{name: unfreeze}}\n")
    return head + "steps:\n" + "".join(step.format(n=n) for n in range(count))


def test_a_playbook_with_too_many_steps_is_too_long_not_an_alias_bomb() -> None:
    text = _steps(10_000)
    root, _ = parse_document(text)  # no aliases: never an alias bomb, however long
    assert root is not None
    with pytest.raises(PlaybookError) as caught:
        load_playbook_text(text.encode(), "long.yaml")
    message = caught.value.message
    assert caught.value.exit_status == EXIT_BAD_INPUT
    assert f"10000 steps, more than the {MAX_STEPS}" in message and "long.yaml, line" in message
    assert "alias" not in message


def test_a_playbook_of_aliased_steps_is_also_counted_by_its_steps() -> None:
    text = _steps(1).replace("  - id: s0", "  - &s\n    id: s0") + "  - *s\n" * 600
    with pytest.raises(PlaybookError, match="601 steps"):
        load_playbook_text(text.encode(), "aliased.yaml")


def test_only_what_aliases_add_counts_towards_an_alias_bomb() -> None:
    many = "a: [" + ", ".join(["x"] * (MAX_EXPANDED_NODES + 10)) + "]\n"
    parse_document(many)  # more nodes than the bound, but no alias
    bomb = ("a: &a [" + ", ".join(["x"] * 1000) + "]\n"
            "b: [" + ", ".join(["*a"] * 101) + "]\n")
    with pytest.raises(AliasExpansionError, match="alias bomb"):
        parse_document(bomb)
    parse_document("a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 99)
                   + "]\n")
