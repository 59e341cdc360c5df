"""Bad input to `migrator sandbox`: one clear paragraph, a non-zero exit, nothing started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.errors import BadInput, StepFailed
from migrator.sandbox.config import SandboxConfig, ZoneConfig, load_config
from migrator.sandbox.manage import UpOptions, live_processes, up
from migrator.sandbox.peers import start_peer, stop_peer
from tests.sandbox.conftest import SandboxFactory

ZONE = "0b4e6c52-7a8b-4c4e-9f45-3cc2d1e0aa50"


def _migrator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrator", "sandbox", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env=env, cwd=Path(__file__).resolve().parents[2],
    )


def _assert_paragraph(result: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    for word in words:
        assert word in result.stderr


def _fake_sandbox(directory: Path) -> SandboxConfig:
    """A sandbox description with nothing running (enough for input checks)."""
    directory.mkdir()
    config = SandboxConfig(directory, 2181, [ZoneConfig(ZONE, "127.0.0.2", 5432, 2222, "v1")])
    config.save()
    return config


@pytest.mark.sandbox
@pytest.mark.parametrize("nodes", ["0", "6", "-1"])
def test_nodes_out_of_range(tmp_path: Path, nodes: str) -> None:
    result = _migrator("up", "--dir", str(tmp_path / "sb"), "--nodes", nodes, "--pg", "sim")
    _assert_paragraph(result, 2, "out of range", "1 to 5")
    assert not (tmp_path / "sb").exists()


@pytest.mark.sandbox
@pytest.mark.parametrize(("args", "words"), [
    (["--latency", "-5"], ["--latency -5 is out of range", "0 to 1000"]),
    (["--latency", "2000"], ["--latency 2000 is out of range"]),
    (["--latency", "25", "--access", "ssh"], ["route through the headnode", "--access ssh"]),
])
def test_latency_out_of_range_or_without_a_headnode(tmp_path: Path, args: list[str],
                                                    words: list[str]) -> None:
    result = _migrator("up", "--dir", str(tmp_path / "sb"), "--pg", "sim", *args)
    _assert_paragraph(result, 2, *words)
    assert not (tmp_path / "sb").exists()


@pytest.mark.sandbox
def test_dir_that_is_not_a_sandbox(tmp_path: Path) -> None:
    for command in ("status", "down"):
        result = _migrator(command, "--dir", str(tmp_path))
        _assert_paragraph(result, 2, "is not a sandbox directory", "sandbox up --dir")
    (tmp_path / "notes.txt").write_text("mine\n")
    result = _migrator("up", "--dir", str(tmp_path), "--pg", "sim")
    _assert_paragraph(result, 2, "is not empty and is not a sandbox directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.sandbox
def test_corrupt_sandbox_description(tmp_path: Path) -> None:
    (tmp_path / "sandbox.json").write_text("{not json")
    result = _migrator("status", "--dir", str(tmp_path))
    _assert_paragraph(result, 2, "not a readable sandbox description")


@pytest.mark.sandbox
def test_reprovision_of_unknown_zone_or_version_changes_nothing(tmp_path: Path) -> None:
    config = _fake_sandbox(tmp_path / "sb")
    before = (config.directory / "sandbox.json").read_text()
    result = _migrator("reprovision", "--dir", str(config.directory), "no-such-zone",
                       "--to", "v2")
    _assert_paragraph(result, 2, "has no zone 'no-such-zone'", ZONE)
    result = _migrator("reprovision", "--dir", str(config.directory), ZONE, "--to", "v3")
    _assert_paragraph(result, 2, "not a sandbox manatee version", "v1, v2")
    result = _migrator("stop-peer", "--dir", str(config.directory), "nope")
    _assert_paragraph(result, 2, "has no zone 'nope'")
    assert (config.directory / "sandbox.json").read_text() == before
    assert load_config(config.directory).zones[0].version == "v1"


@pytest.mark.sandbox
def test_the_inventorys_reprovision_command_refuses_as_the_cli_does(tmp_path: Path) -> None:
    """An ssh sandbox's inventory reprovisions through `migrator.sandbox.reprovisioner`
    (the CLI's start-up spared): the same refusals, paragraphs and exit status."""
    from migrator.sandbox.inventory_file import inventory_document

    config = _fake_sandbox(tmp_path / "sb")
    before = (config.directory / "sandbox.json").read_text()
    command = inventory_document(config)["commands"]["reprovision"]["command"]
    assert "-m migrator.sandbox.reprovisioner --dir" in command

    def reprovision(zone: str, to: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "migrator.sandbox.reprovisioner", "--dir",
             str(config.directory), zone, "--to", to],
            capture_output=True, text=True, timeout=60, check=False,
            cwd=Path(__file__).resolve().parents[2])

    for zone, to, words in [("no-such-zone", "v2", ["has no zone 'no-such-zone'", ZONE]),
                            (ZONE, "v3", ["not a sandbox manatee version", "v1, v2"])]:
        ours, cli = reprovision(zone, to), _migrator("reprovision", "--dir",
                                                     str(config.directory), zone, "--to", to)
        _assert_paragraph(ours, 2, *words)
        assert (ours.returncode, ours.stderr, ours.stdout) == (
            cli.returncode, cli.stderr, cli.stdout)
    assert (config.directory / "sandbox.json").read_text() == before


@pytest.mark.sandbox
def test_java_missing_names_the_package(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(tmp_path / "empty-bin")
    result = _migrator("up", "--dir", str(tmp_path / "sb"), "--pg", "sim", env=env)
    _assert_paragraph(result, 2, "java", "apt-get install -y default-jre-headless")
    assert not (tmp_path / "sb").exists()


@pytest.mark.unit
def test_zookeeper_or_sshd_missing_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a machine without the packages: point the well-known paths at nothing
    import migrator.sandbox.sshd as sshd
    import migrator.sandbox.zkserver as zkserver

    monkeypatch.setattr(zkserver, "ZOOKEEPER_JAR", tmp_path / "missing" / "zookeeper.jar")
    with pytest.raises(BadInput) as missing_zk:
        up(tmp_path / "a", UpOptions(nodes=1))
    assert "apt-get install -y zookeeper" in missing_zk.value.paragraph()
    monkeypatch.undo()
    monkeypatch.setattr(sshd, "SSHD", tmp_path / "missing" / "sshd")
    with pytest.raises(BadInput) as missing_sshd:
        up(tmp_path / "b", UpOptions(nodes=1))
    assert "apt-get install -y openssh-server" in missing_sshd.value.paragraph()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.sandbox
def test_status_json_of_a_stopped_sandbox(tmp_path: Path) -> None:
    config = _fake_sandbox(tmp_path / "sb")
    result = _migrator("status", "--dir", str(config.directory), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["zookeeper"] is None
    assert [(p["zone"], p["sitter"], p["pg"]) for p in document["peers"]] == [
        (ZONE, "stopped", None)
    ]
    assert document["client"] == {"running": False, "stats": None, "outages": []}
    down = _migrator("down", "--dir", str(config.directory))
    assert down.returncode == 0 and "Nothing was running" in down.stdout


@pytest.mark.sandbox
def test_sitter_whose_port_is_taken_fails_clearly(sandbox: SandboxFactory) -> None:
    config = sandbox(nodes=2)
    zone = config.zones[1]
    stop_peer(config.directory, zone.uuid)
    with socket.socket() as squatter:
        squatter.bind((zone.ip, zone.pg_port))
        squatter.listen()
        with pytest.raises(StepFailed) as failed:
            start_peer(config.directory, zone.uuid)
    assert "exited at start-up" in failed.value.paragraph()
    out = (config.zone_dir(zone) / "sitter.out").read_text()
    assert f"cannot listen on {zone.ip}:{zone.pg_port}" in out and "Traceback" not in out
    assert live_processes(config.directory).count(f"sitter-{zone.uuid}") == 0
