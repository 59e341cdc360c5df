"""The `migrator sandbox` command group as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _migrator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.sandbox
def test_up_status_down_with_the_inventory(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    try:
        up = _migrator("sandbox", "up", "--dir", str(directory), "--nodes", "2", "--json",
                       "--pg", "sim")
        assert up.returncode == 0, up.stderr
        created = json.loads(up.stdout)
        inventory = created["inventory"]
        assert len(created["zones"]) == 2

        status = _migrator("sandbox", "status", "--dir", str(directory), "--json")
        assert status.returncode == 0, status.stderr
        document = json.loads(status.stdout)
        assert [p["election_role"] for p in document["peers"]] == ["primary", "sync"]
        assert [p["version"] for p in document["peers"]] == ["v1", "v1"]
        assert document["peers"][0]["pg"]["writable"] is True
        assert document["state"] is None and document["client"]["outages"] == []
        # zones reached by zlogin (the default access) have no sshd port to show
        routes = [p["route"] for p in document["peers"]]
        assert all(r.startswith("zlogin via cn") for r in routes), routes
        assert [p["sshd"] for p in document["peers"]] == [None, None]
        text = _migrator("sandbox", "status", "--dir", str(directory))
        assert text.returncode == 0, text.stderr
        assert "ROUTE" in text.stdout and routes[0] in text.stdout

        # every other command works with the inventory alone
        shard = _migrator("status", "--inventory", inventory)
        assert shard.returncode == 0, shard.stderr
        assert "legacy" in shard.stdout and created["zones"][0] in shard.stdout

        again = _migrator("sandbox", "up", "--dir", str(directory), "--pg", "sim")
        assert again.returncode == 3 and "already holds a running sandbox" in again.stderr
    finally:
        first = _migrator("sandbox", "down", "--dir", str(directory))
    # ZooKeeper, two sitters, two compute nodes and the headnode (--access zlogin)
    assert first.returncode == 0 and first.stdout.startswith("Stopped 6 process(es)")
    second = _migrator("sandbox", "down", "--dir", str(directory))
    assert second.returncode == 0 and "Nothing was running" in second.stdout


@pytest.mark.unit
def test_zone_route_names_the_zones_sshd_or_its_compute_node() -> None:
    from migrator.sandbox.config import NodeConfig, SandboxConfig, ZoneConfig
    from migrator.sandbox.status import zone_route

    own = ZoneConfig("z1", "127.0.1.10", 5432, 2201, "v1")
    hosted = ZoneConfig("z2", "127.0.1.11", 5432, 0, "v1", node="n1")
    config = SandboxConfig(Path("/nonexistent"), 2181, [own, hosted],
                           nodes=[NodeConfig("n1", "127.0.1.20", 2202, "cn0")])
    assert zone_route(config, own) == "ssh 127.0.1.10:2201"
    assert zone_route(config, hosted) == "zlogin via cn0"


@pytest.mark.sandbox
def test_reprovision_seconds_sets_every_reprovisions_length(tmp_path: Path) -> None:
    """`sandbox up --reprovision-seconds S`: every reprovision (the sandbox's own command
    and the headnode's) takes S seconds, and the inventory's estimate follows."""
    import yaml

    directory = tmp_path / "sb"
    try:
        up = _migrator("sandbox", "up", "--dir", str(directory), "--nodes", "1", "--pg", "sim",
                       "--access", "ssh", "--reprovision-seconds", "0.5", "--json")
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["reprovisionSeconds"] == 0.5
        inventory = yaml.safe_load((directory / "inventory.yaml").read_text())
        assert inventory["estimates"]["reprovision"] == 1.5
        zone = json.loads(up.stdout)["zones"][0]
        done = _migrator("sandbox", "reprovision", "--dir", str(directory), zone, "--to", "v2",
                         "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["delay"] == 0.5
        bad = _migrator("sandbox", "up", "--dir", str(tmp_path / "bad"),
                        "--pg", "sim", "--reprovision-seconds", "900")
        assert bad.returncode == 2 and "--reprovision-seconds 900 is out of range" in bad.stderr
    finally:
        _migrator("sandbox", "down", "--dir", str(directory))


@pytest.mark.sandbox
def test_session_timeout_sets_the_sitters_and_the_default_reprovision(tmp_path: Path) -> None:
    """`sandbox up --session-timeout S`: the sitters' ZooKeeper sessions, their config
    (which the migrator reads for its estimates) and the default reprovision follow."""
    import yaml

    directory = tmp_path / "sb"
    try:
        up = _migrator("sandbox", "up", "--dir", str(directory), "--nodes", "1", "--pg", "sim",
                       "--access", "ssh", "--session-timeout", "3.5", "--json")
        assert up.returncode == 0, up.stderr
        shown = json.loads(up.stdout)
        assert shown["sessionTimeout"] == 3.5 and shown["reprovisionSeconds"] == 4.0
        inventory = yaml.safe_load((directory / "inventory.yaml").read_text())
        assert inventory["estimates"]["session_timeout"] == 3.5
        cfg = json.loads((directory / "zones" / shown["zones"][0] / "sitter.cfg").read_text())
        assert cfg["zkCfg"]["opts"]["sessionTimeout"] == 3500
        plan = _migrator("plan", "--inventory", str(directory / "inventory.yaml"))
        assert plan.returncode == 0, plan.stderr
        assert "ZooKeeper session timeout 3.5 s" in plan.stdout
        # the default reprovision lasts until the killed sitter's session has expired (its
        # node gone, watched), then half a second; ZooKeeper counts the timeout from the
        # sitter's last ping (a third of it before the kill at most), not from the kill
        zone = shown["zones"][0]
        done = _migrator("sandbox", "reprovision", "--dir", str(directory), zone,
                         "--to", "v2", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert 0.5 + 3.5 * 2 / 3 <= result["delay"] < 3.5 + 10.5, result
        assert result["election_node"].startswith(f"{cfg['ip']}:")
        for bad_value in ("0.2", "60"):
            bad = _migrator("sandbox", "up", "--dir", str(tmp_path / "bad"),
                            "--pg", "sim", "--session-timeout", bad_value)
            assert bad.returncode == 2, bad.stderr
            assert f"--session-timeout {bad_value} is out of range" in bad.stderr
        assert not (tmp_path / "bad").exists()
    finally:
        _migrator("sandbox", "down", "--dir", str(directory))


@pytest.mark.sandbox
def test_down_removes_the_sandboxs_audit_copies(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A rehearsal's journals are no operator's record: `sandbox down` removes the audit
    folder of the sandbox's ensemble, and only that one."""
    from migrator.engine.journal_store import audit_dir_of

    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))
    directory = tmp_path / "sb"
    other = tmp_path / "audit" / "10.0.0.1:2181"
    other.mkdir(parents=True)
    try:
        up = _migrator("sandbox", "up", "--dir", str(directory), "--nodes", "1", "--pg", "sim",
                       "--access", "ssh", "--json")
        assert up.returncode == 0, up.stderr
        audit = audit_dir_of(json.loads(up.stdout)["zookeeper"])
        (audit / "1.moray.sandbox.test").mkdir(parents=True)
        (audit / "1.moray.sandbox.test" / "journal.json").write_text("{}")
    finally:
        down = _migrator("sandbox", "down", "--dir", str(directory))
    assert down.returncode == 0 and "Removed the sandbox's audit copies" in down.stdout
    assert not audit.exists() and other.is_dir()


def _debug_records(directory: Path) -> bool | None:
    check = _migrator("inventory", "check", "--json", "--inventory",
                      str(directory / "inventory.yaml"))
    assert check.returncode == 0, check.stderr
    (zone,) = json.loads(check.stdout)["zones"]
    result: bool | None = zone["debug_records"]
    return result


@pytest.mark.sandbox
def test_sitter_log_level_per_version_and_both_reprovision_log_layouts(
    tmp_path: Path
) -> None:
    """`up --v2-sitter-log-level info`: v1 sitters at debug, v2 at info. `up
    --reprovision-log fresh` (or `reprovision --log`): the new sitter starts a new log
    and the old one is set aside; `append`: it appends. `inventory check` judges the
    sitter writing the log now, whatever else the log holds (issue 22 §3)."""
    from migrator.sandbox.logwatch import read_records

    directory = tmp_path / "sb"
    try:
        up = _migrator("sandbox", "up", "--dir", str(directory), "--nodes", "1", "--pg", "sim",
                       "--access", "ssh", "--reprovision-seconds", "0.5", "--json",
                       "--v2-sitter-log-level", "info", "--reprovision-log", "fresh")
        assert up.returncode == 0, up.stderr
        zone = json.loads(up.stdout)["zones"][0]
        log = directory / "zones" / zone / "sitter.log"
        assert _debug_records(directory) is True  # the v1 sitter, at debug

        def reprovision(to: str, *log_option: str) -> None:
            done = _migrator("sandbox", "reprovision", "--dir", str(directory), zone, "--to",
                             to, "--json", *log_option)
            assert done.returncode == 0, done.stderr

        reprovision("v2")  # fresh, as `up` said
        aside = read_records(log.with_name("sitter.log.0"))
        assert any(r["level"] == 20 for r in aside)
        assert read_records(log) and all(r["level"] > 20 for r in read_records(log))
        assert _debug_records(directory) is False
        reprovision("v1", "--log", "append")  # back at debug, appended to the v2 log
        assert not log.with_name("sitter.log.1").exists()
        assert _debug_records(directory) is True
        reprovision("v2", "--log", "append")
        # the log holds the v1 sitter's DEBUG records, but the v2 sitter writes none
        assert any(r["level"] == 20 for r in read_records(log))
        assert _debug_records(directory) is False
        bad = _migrator("sandbox", "reprovision", "--dir", str(directory), zone, "--to",
                        "v1", "--log", "copy")
        assert bad.returncode == 2 and "'copy' is not one of" in bad.stderr
    finally:
        _migrator("sandbox", "down", "--dir", str(directory))
