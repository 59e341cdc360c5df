"""`migrator inventory check` end to end (real CLI process, real sshd)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from migrator.sandbox.sshd import SshServer
from tests.remote.conftest import write_inventory


def _migrator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", *args], capture_output=True,
                          text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)


def _inventory(tmp_path: Path, sshd: SshServer, client_key: Path) -> Path:
    zones = tmp_path / "zones"
    (zones / "z1").mkdir(parents=True)
    (zones / "z1" / "package.json").write_text('{"version": "2.1.1"}')
    (zones / "z1" / "sitter.log").write_text("x\n" * 5)
    return write_inventory(
        tmp_path, {"z1": {"host": sshd.host, "port": sshd.port,
                          "sitter_log": str(zones / "z1" / "sitter.log")}},
        known_hosts=tmp_path / "known_hosts", identity=client_key,
        extra={"commands": {"manatee_version": f"cat {zones}/{{zone}}/package.json"}},
    )


@pytest.mark.sshd
def test_check_refuses_unknown_keys_then_accepts_them_on_request(
    tmp_path: Path, sshd: SshServer, client_key: Path
) -> None:
    path = _inventory(tmp_path, sshd, client_key)
    refused = _migrator("inventory", "check", "--inventory", str(path))
    assert refused.returncode == 3, refused.stderr
    assert "is not known" in refused.stderr and "--accept-new-host-keys" in refused.stderr
    assert "Traceback" not in refused.stderr

    accepted = _migrator("inventory", "check", "--inventory", str(path),
                         "--accept-new-host-keys")
    assert accepted.returncode == 0, accepted.stderr
    assert "Recorded the host key of z1" in accepted.stderr
    row = next(line for line in accepted.stdout.splitlines() if line.startswith("z1"))
    assert "yes" in row and "recorded" in row and "2.1.1" in row and "(10 bytes)" in row

    again = _migrator("inventory", "check", "--inventory", str(path), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)["zones"][0]
    assert report["host_key"] == "known" and report["ok"] and report["version"] == "2.1.1"


@pytest.mark.local
def test_check_reports_an_unreachable_zone(tmp_path: Path, client_key: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.25", 0))
        port = int(probe.getsockname()[1])
        path = write_inventory(tmp_path, {"z7": {"host": "127.0.0.25", "port": port}},
                               known_hosts=tmp_path / "known_hosts", identity=client_key)
        result = _migrator("inventory", "check", "--inventory", str(path))
    assert result.returncode == 1
    assert f"z7: Cannot reach z7 at root@127.0.0.25:{port}" in result.stderr
    assert "NO" in result.stdout


@pytest.mark.local
def test_commands_import_the_heavy_libraries_only_when_they_use_them() -> None:
    """paramiko, kazoo, rich, questionary and psycopg are imported inside the functions
    that use them (each costs 30 to 120 ms); `migrator --help` imports no command (only
    the errors, the Ctrl-C handler ``migrator.cancellation`` and the error printer's
    ``migrator.ui.inert``, beside the CLI)."""
    code = ("import sys, migrator.cli; bare = sorted(m for m in sys.modules "
            "if m.startswith('migrator.') and m.split('.')[1] not in "
            "('cli', 'errors', 'cancellation') and m not in ('migrator.ui', "
            "'migrator.ui.inert')); "
            "import migrator.cli.inventory, migrator.cli.plan, migrator.cli.planned; "
            "heavy = {'paramiko', 'rich', 'kazoo', 'questionary', 'psycopg'} & set(sys.modules); "
            "print(bare, sorted(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, check=True)
    assert done.stdout.strip() == "[] []"


@pytest.mark.local
def test_format_prints_the_documented_example() -> None:
    result = _migrator("inventory", "format")
    assert result.returncode == 0
    assert "zones:" in result.stdout and "sapiadm reprovision {zone} {image}" in result.stdout
