"""The pre-flight gate on the real sandbox (ZooKeeper, zones over real sshd, sitters).

A run the gate refuses must change nothing at all: no reprovision, and no
ZooKeeper write, not even the lock node or the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.sshd import generate_keypair
from migrator.sandbox.zones import KNOWN_HOSTS
from tests.engine.sandbox_helpers import migrator

pytestmark = pytest.mark.sandbox


def _election(client: Any, shard: str) -> list[str]:
    return sorted(client.get_children(f"/manatee/{shard}/election"))


def _change_host_key(config: SandboxConfig, zone_index: int, tmp_path: Path) -> None:
    zone = config.zones[zone_index]
    other = tmp_path / "other_key"
    generate_keypair(other)
    key_type, key_b64 = Path(f"{other}.pub").read_text().split()[:2]
    known = config.directory / KNOWN_HOSTS
    prefix = f"[{zone.ip}]:{zone.ssh_port} "
    lines = [line for line in known.read_text().splitlines() if not line.startswith(prefix)]
    known.write_text("\n".join([*lines, f"{prefix}{key_type} {key_b64}"]) + "\n")


def test_changed_host_key_on_the_primary_refuses_run_and_plan_before_any_change(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=3)
    client = client_for(config)
    planned = migrator(config, tmp_path, "plan")
    assert planned.status == 0, planned.err
    assert "Pre-flight check:" in planned.out
    assert "REFUSED" not in planned.out
    before = _election(client, config.shard)

    _change_host_key(config, 0, tmp_path)  # the primary
    primary = config.zones[0].uuid
    planned = migrator(config, tmp_path, "plan")
    assert planned.status == 3, planned.err
    assert "REFUSED" in planned.out and "CHANGED" in planned.out
    assert "A run would be refused now" in planned.err
    for verb in ("run", "resume"):
        done = migrator(config, tmp_path, verb, "--yes")
        if verb == "resume":  # no journal: nothing to resume, still nothing written
            assert done.status == 2, done.err
            continue
        assert done.status == 3, done.err
        assert "Pre-flight check:" in done.err and "CHANGED" in done.err
        assert primary in done.err and "changed nothing" in done.err
    # nothing was written anywhere: no lock node, no journal, no reprovision
    assert client.exists("/manatee-migrator") is None
    assert _election(client, config.shard) == before
    assert client.exists(f"/manatee/{config.shard}/state") is None


def test_stopped_sitter_refuses_the_run_and_names_it(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    from migrator.sandbox.peers import stop_sitter

    config = sandbox(nodes=3)
    client = client_for(config)
    sync = config.zones[1]
    stop_sitter(config, sync)
    done = migrator(config, tmp_path, "run", "--yes")
    assert done.status == 3, done.err
    assert f"manatee zone {sync.uuid}: its sitter is not running" in done.err
    assert "disabled" in done.err
    assert client.exists("/manatee-migrator") is None
    planned = migrator(config, tmp_path, "plan", "--json")
    assert planned.status == 3
    import json

    document = json.loads(planned.out)
    assert document["preflight"]["ok"] is False
    refused = [r for r in document["preflight"]["rows"] if not r["ok"]]
    assert [r["subject"] for r in refused] == [sync.uuid]


def test_an_inventory_without_the_target_image_is_refused_before_any_change(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """The reprovisions need `versions.migrate_to`: `plan` and the pre-flight say so, and
    `run` changes nothing (no lock, no journal) instead of failing at the first
    reprovision with the journal created."""
    import json

    import yaml

    config = sandbox(nodes=3)
    client = client_for(config)
    path = config.directory / "inventory.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["versions"]["migrate_to"]
    path.write_text(yaml.safe_dump(doc))
    planned = migrator(config, tmp_path, "plan", "--json")
    assert planned.status == 3, planned.err
    refused = [r for r in json.loads(planned.out)["preflight"]["rows"] if not r["ok"]]
    assert [r["subject"] for r in refused] == ["inventory"]
    assert "no `versions.migrate_to`" in refused[0]["detail"]
    done = migrator(config, tmp_path, "run", "--yes")
    assert done.status == 3, done.err
    assert "no `versions.migrate_to`" in done.err and "changed nothing" in done.err
    assert client.exists("/manatee-migrator") is None
