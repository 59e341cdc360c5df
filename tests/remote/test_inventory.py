"""The inventory format: the documented examples load; errors name file, line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.errors import BadInput
from migrator.inventory.load import load_inventory
from migrator.inventory.values import CommandTemplate, check_template

pytestmark = pytest.mark.unit


DOCS = Path(__file__).resolve().parents[2] / "docs" / "inventory.md"


def _documented_examples() -> list[str]:
    """The YAML examples of docs/inventory.md, the inventory's reference."""
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_documented_examples_load(tmp_path: Path, index: int) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(_documented_examples()[index])
    inventory = load_inventory(path)
    assert inventory.shard and inventory.zookeeper and inventory.zones
    assert inventory.path == path


def test_full_example_values(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(_documented_examples()[0])
    inv = load_inventory(path)
    assert next(iter(inv.zones)) == "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01"  # order kept
    second = inv.zones["7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02"]
    assert second.port == 2222 and second.user == "admin"
    assert second.identity == [tmp_path / "keys/zone48"]  # relative to the file
    assert [str(j) for j in second.jump or []] == ["root@hn1", "root@hn2:2222"]
    assert inv.known_hosts == tmp_path / "known_hosts"
    assert inv.versions.migrate_to == "2.1.1"
    assert inv.commands.reprovision.template.fill(zone="z", image="2.1.1") == (
        "sapiadm reprovision z 2.1.1"
    )
    assert inv.commands.sitter_log.command == "svcs -L manatee-sitter"
    assert inv.sitter_log("7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02") == Path(
        "/var/log/manatee/sitter.log")


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    with pytest.raises(BadInput) as caught:
        load_inventory(path)
    return caught.value.message


BASE = "shard: s1\nzookeeper: 127.0.0.1:2181\nzones:\n  z1:\n    host: 127.0.0.1\n"


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + "    port: 99999\n")
    assert f"{tmp_path / 'inv.yaml'}:6: zones.z1.port" in message


def test_unknown_field_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + "    hots: x\n")
    assert ":6: zones.z1.hots: unknown field" in message


def test_missing_field_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, "shard: s1\nzones: {z1: {host: h}}\n")
    assert "zookeeper: this field is required" in message


def test_bad_zone_id_is_named_at_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + "  'z2; rm -rf /':\n    host: 127.0.0.2\n")
    assert ":6: zones:" in message and "not a zone id" in message


def test_duplicate_zone_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + "  z1:\n    host: 127.0.0.2\n")
    assert "appears twice" in message and ":6:" in message


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "shard: [unclosed\nzones: {}\n")
    assert "not valid YAML" in message and "inv.yaml:" in message


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("svcadm enable '{zone}'", "inside quotes"),
        ('echo "{image}"', "inside quotes"),
        ("echo {password}", "unknown placeholder"),
        ("echo 'open", "unbalanced"),
        ("", "empty"),
    ],
)
def test_unsafe_templates_are_refused(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_template(template, allowed=frozenset({"zone", "image"}))


def test_local_commands_may_not_use_shell_operators() -> None:
    with pytest.raises(ValueError, match="without a shell"):
        check_template("reprovision {zone} | tee log", allowed=frozenset({"zone"}), local=True)
    assert check_template("/bin/x --to {zone}", allowed=frozenset({"zone"}), local=True)


def test_template_values_are_quoted_and_shell_braces_left_alone() -> None:
    template = CommandTemplate("awk '{print $1}' ${HOME}/x {zone}")
    assert template.placeholders == {"zone"}
    assert template.fill(zone="a b;c") == "awk '{print $1}' ${HOME}/x 'a b;c'"
    assert CommandTemplate("run {zone} --to {image}").argv(zone="$(id)", image="v2") == [
        "run", "$(id)", "--to", "v2"]


def test_reprovision_template_error_is_reported_with_line(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + "commands:\n  reprovision:\n    run_on: local\n"
                                      "    command: x {zone}; rm -rf /\n")
    assert "commands.reprovision" in message and "without a shell" in message
