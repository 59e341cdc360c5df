"""The zlogin route: quoting through two shells (pure and real), one connection per
compute node, logs read in the node's global zone, refusals and failures named."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.errors import BadInput, MigratorError
from migrator.inventory.load import load_inventory
from migrator.remote.errors import HostKeyUnknown, ZoneUnreachable
from migrator.remote.probe import check_inventory
from migrator.remote.session import RemoteSession
from migrator.remote.zlogin import node_log_path, zlogin_command
from migrator.sandbox.nodes import write_node_bin, write_zone_env, write_zones_root
from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import write_inventory

Z1 = "2ffb1a8a-5a1d-4c51-9d3f-3b0e4e0a0a01"
Z2 = "7b9e5f7c-3d2e-4a8b-8f5c-6c1d2e3f4a02"
HOSTILE = [
    "$(touch {canary})", "`touch {canary}`", "; touch {canary}", "a'b\"c", "'", '"', "\\",
    "| touch {canary}", "&& touch {canary}", "\n touch {canary}", "$HOME", "*", "~",
    "-Q", "--", "x y", "", " ", "${{IFS}}touch${{IFS}}{canary}", "é ünïcødé", "\t",
]

# --- pure ---------------------------------------------------------------------------

words = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                max_size=20)


@pytest.mark.unit
@given(argv=st.lists(words, min_size=1, max_size=6), zone=st.sampled_from([Z1, "zone-1"]))
def test_two_shells_each_see_the_intended_words(argv: list[str], zone: str) -> None:
    inner = shlex.join(argv)
    outer = zlogin_command("zlogin -Q", zone, inner)
    node_words = shlex.split(outer)
    assert node_words == ["zlogin", "-Q", zone, inner]
    # zlogin joins its arguments with spaces: here there is exactly one
    assert shlex.split(" ".join(node_words[3:])) == argv


@pytest.mark.unit
@given(path=st.text(min_size=1, max_size=30).map(lambda t: "/" + t.replace("\x00", "")))
def test_node_log_path_stays_under_the_zone_root(path: str) -> None:
    try:
        found = node_log_path("/zones", Z1, path)
    except BadInput:
        assert ".." in path.split("/") or "\n" in path
        return
    assert found.startswith(f"/zones/{Z1}/root/")
    assert ".." not in found.split("/")


@pytest.mark.unit
def test_node_log_path_keeps_a_global_zone_view() -> None:
    already = f"/zones/{Z1}/root/var/svc/log/x.log"
    assert node_log_path("/zones", Z1, "/var/svc/log/x.log") == already
    assert node_log_path("/zones", Z1, already) == already
    with pytest.raises(BadInput):
        node_log_path("/zones", Z1, "relative/x.log")


# --- both shells for real, no SSH ------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(argv=st.lists(st.text(st.characters(blacklist_characters="\x00",
                                           blacklist_categories=("Cs",)), max_size=12),
                     min_size=1, max_size=4))
@pytest.mark.local
def test_real_shells_run_exactly_the_words(tmp_path_factory: pytest.TempPathFactory,
                                           argv: list[str]) -> None:
    node = _local_node(tmp_path_factory.mktemp("node"))
    outer = zlogin_command("zlogin -Q", Z1, shlex.join(["printf", "%s\\0", *argv]))
    done = subprocess.run(["/bin/sh", "-c", outer], capture_output=True, timeout=10,
                          env={"PATH": f"{node['bin']}:/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == argv


def _local_node(base: Path) -> dict[str, Path]:
    zones = base / "zones"
    for zone in (Z1, Z2):
        (zones / zone).mkdir(parents=True, exist_ok=True)
        write_zone_env(zones / zone, {"ZONENAME": zone, "PATH": "/usr/bin:/bin"})
        (zones / zone / "sitter.log").touch()
    write_node_bin(base / "bin", zones, [Z1, Z2])
    write_zones_root(base / "zroot", zones, [Z1, Z2])
    return {"bin": base / "bin", "zones": zones, "root": base / "zroot"}


# --- over a real sshd ---------------------------------------------------------------------


def node_over_sshd(tmp_path: Path, sshd_factory: Callable[..., SshServer]) -> dict[str, Any]:
    """A compute node (its zones, bin and zones root) behind its own real sshd."""
    paths = _local_node(tmp_path / "cn0")
    server = sshd_factory("127.0.0.31", name="cn0",
                          set_env={"PATH": f"{paths['bin']}:/usr/bin:/bin"})
    return {**paths, "server": server}


@pytest.fixture
def node(tmp_path: Path, sshd_factory: Callable[..., SshServer]) -> dict[str, Any]:
    return node_over_sshd(tmp_path, sshd_factory)


def _zlogin_inventory(tmp_path: Path, client_key: Path, node: dict[str, Any],
                      known: list[SshServer], node_entry: dict[str, Any] | None = None,
                      **extra: Any) -> Path:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join(s.known_hosts_line() + "\n" for s in known))
    server = node["server"]
    entry = {"host": server.host, "port": server.port, "zones_root": str(node["root"]),
             **(node_entry or {})}
    zones = extra.pop("zones", {Z1: {"node": "cn0"}, Z2: {"node": "cn0"}})
    return write_inventory(
        tmp_path, zones, known_hosts=known_hosts, identity=client_key,
        ssh={"via": "zlogin"},
        extra={"nodes": {"cn0": entry},
               "commands": {"node_sitter_log": "svcs -z {zone} -L manatee-sitter"}, **extra},
    )


@pytest.mark.sshd
def test_hostile_arguments_reach_the_zone_as_words_and_never_run(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    canary = tmp_path / "canary"
    argv = [h.format(canary=canary) for h in HOSTILE]
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]])
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        result = session.run(Z1, ["printf", "%s\\0", *argv])
        zone_name = session.run(Z2, "echo $ZONENAME").text.strip()
        connections = {id(session.connection(z)) for z in (Z1, Z2)}
        opened = session.connection(Z1).connects
    assert result.ok, result.stderr
    assert result.stdout.decode().split("\0")[:-1] == argv
    assert result.zone == Z1 and result.command.startswith("printf ")
    assert zone_name == Z2  # the command ran in Z2's context
    assert len(connections) == 1 and opened == 1  # one connection for the node's zones
    assert not canary.exists()


@pytest.mark.sshd
def test_log_is_read_and_followed_in_the_global_zone(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]])
    log = node["zones"] / Z1 / "sitter.log"
    log.write_text("before\n")
    # count zlogin's runs: reading and following the log must need none
    calls = tmp_path / "zlogin-calls"
    real = node["bin"] / "zlogin.real"
    (node["bin"] / "zlogin").rename(real)
    (node["bin"] / "zlogin").write_text(f"#!/bin/sh\necho x >> '{calls}'\nexec '{real}' \"$@\"\n")
    (node["bin"] / "zlogin").chmod(0o755)
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        mark = session.mark_log(Z1)
        assert mark.zone == Z1
        assert mark.path == f"{node['root']}/{Z1}/root{log}"
        assert mark.offset == len("before\n")
        with log.open("a") as handle:
            handle.write("one\n")
        read = session.read_since(Z1, mark)
        assert read.data == b"one\n" and read.note is None
        follower = session.follow(Z1, read.mark)
        try:
            with log.open("a") as handle:
                handle.write("two\n")
            lines = list(_first(follower.lines(time.monotonic() + 10)))
        finally:
            follower.close()
        # rotation: a new file at the same path is read from its start, and said so
        os.rename(log, log.with_suffix(".0"))
        log.write_text("fresh\n")
        rotated = session.read_since(Z1, read.mark)
        reads_done = calls.exists()
        assert session.run(Z1, ["true"]).ok  # the counter does count a zone command
    assert lines == [b"two"]
    assert rotated.data == b"fresh\n" and rotated.note and "rotated" in rotated.note
    assert not reads_done  # no zlogin for the path (svcs -z), the reads or the follow
    assert calls.read_text() == "x\n"


def _first(lines: Any) -> Any:
    for line in lines:
        yield line
        return


@pytest.mark.sshd
def test_a_hostile_configured_log_path_is_only_a_path(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    name = f"canary-{os.getpid()}-{tmp_path.name}"
    canary = Path.home() / name  # where a command run by mistake would create it (its cwd)
    weird = node["zones"] / Z1 / f"a b;$(touch {name});touch {name}'x"
    weird.mkdir()
    (weird / "sitter.log").write_text("x\n")
    zones = {Z1: {"node": "cn0", "sitter_log": str(weird / "sitter.log")}}
    # the zones root too: a directory name that is shell code
    weird_root = tmp_path / f"zones $(touch {name}) `touch {name}`;touch {name}"
    write_zones_root(weird_root, node["zones"], [Z1])
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]], zones=zones,
                             node_entry={"zones_root": str(weird_root)})
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        mark = session.mark_log(Z1)
        with (weird / "sitter.log").open("a") as handle:
            handle.write("y\n")
        read = session.read_since(Z1, mark)
        with session.follow(Z1, mark.advanced(0)) as follower:
            first = next(iter(follower.lines(time.monotonic() + 10)))
    assert mark.offset == 2 and mark.path.startswith(str(weird_root))
    assert read.data == b"y\n" and first == b"x"
    assert not canary.exists()


@pytest.mark.unit
@pytest.mark.parametrize("name", ["cn0;reboot", "$(id)", "-oProxyCommand=x", "a b", "cn0\n"])
def test_hostile_node_names_are_refused(tmp_path: Path, name: str) -> None:
    path = write_inventory(tmp_path, {Z1: {"via": "zlogin", "node": name}}, known_hosts=None,
                           identity=tmp_path / "k", extra={"nodes": {name: {"host": "h"}}})
    with pytest.raises(BadInput, match="compute node name"):
        load_inventory(path)


@pytest.mark.sshd
def test_zone_unknown_to_the_node_fails_with_zlogins_message(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    other = "c0d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e03"
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]],
                             zones={other: {"node": "cn0"}})
    with RemoteSession(load_inventory(path), use_agent=False) as session:
        result = session.run(other, ["true"])
    assert result.status == 1
    assert b"No such zone configured" in result.stderr
    with pytest.raises(MigratorError, match="failed on " + other):
        result.require_ok()


@pytest.mark.sshd
def test_compute_node_unreachable_is_named(
    tmp_path: Path, client_key: Path, node: dict[str, Any], silent_port: int
) -> None:
    path = _zlogin_inventory(tmp_path, client_key, node, [node["server"]],
                             node_entry={"host": "127.0.0.24", "port": silent_port})
    inventory = load_inventory(path)
    with RemoteSession(inventory, use_agent=False) as session:
        with pytest.raises(ZoneUnreachable, match="compute node cn0"):
            session.run(Z1, ["true"])
        reports = check_inventory(session, inventory)
    assert {r.zone for r in reports} == {Z1, Z2}
    assert all(not r.reachable and r.node == "cn0" and r.via == "zlogin" for r in reports)
    assert all("compute node cn0" in r.problems[0] for r in reports)


@pytest.mark.sshd
def test_node_host_key_is_verified(
    tmp_path: Path, client_key: Path, node: dict[str, Any]
) -> None:
    path = _zlogin_inventory(tmp_path, client_key, node, [])  # known_hosts empty
    with (RemoteSession(load_inventory(path), use_agent=False) as session,
          pytest.raises(HostKeyUnknown, match="compute node cn0")):
        session.run(Z1, ["true"])


@pytest.mark.sshd
def test_jump_through_the_headnode_and_check_shows_the_route(
    tmp_path: Path, client_key: Path, node: dict[str, Any],
    sshd_factory: Callable[..., SshServer],
) -> None:
    headnode = sshd_factory("127.0.0.32", name="headnode", log_level="DEBUG1")
    server = node["server"]
    path = _zlogin_inventory(tmp_path, client_key, node, [server, headnode],
                             node_entry={"jump": f"root@{headnode.host}:{headnode.port}"})
    inventory = load_inventory(path)
    with RemoteSession(inventory, use_agent=False) as session:
        reports = check_inventory(session, inventory)
        result = session.run(Z1, "echo $ZONENAME")
    assert result.text.strip() == Z1
    assert f"target {server.host} port {server.port}" in headnode.log_file.read_text()
    by_zone = {r.zone: r for r in reports}
    assert by_zone[Z1].route == (f"root@{headnode.host}:{headnode.port} -> "
                                 f"root@{server.host}:{server.port} -> zlogin {Z1}")
    assert by_zone[Z1].log and str(node["root"]) in by_zone[Z1].log


@pytest.mark.parametrize("zones, problem", [
    ({Z1: {"via": "zlogin"}}, "needs `node:`"),
    ({Z1: {"via": "zlogin", "node": "cn9"}}, "node 'cn9' is not in `nodes:`"),
    ({Z1: {"via": "ssh"}}, "give its `host`"),
])
@pytest.mark.unit
def test_route_errors_name_the_zone(tmp_path: Path, zones: dict[str, Any],
                                    problem: str) -> None:
    path = write_inventory(tmp_path, zones, known_hosts=None, identity=tmp_path / "k",
                           extra={"nodes": {"cn0": {"host": "127.0.0.31"}}})
    with pytest.raises(BadInput, match=problem) as info:
        load_inventory(path)
    assert Z1 in info.value.message
