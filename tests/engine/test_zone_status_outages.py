"""Observed outages from ZooKeeper and the zones' status, on the real sandbox.

The sandbox's write client runs (it records the truth in ``DIR/client``), but
the migrator is given a copy of the inventory that does not name the client's
records (``outage_records``), so it does not use the client as its source: it
watches ZooKeeper and, during outage steps, reads the primary's ``manatee-adm
status`` over SSH. The window it reports for the sync's reprovision must then be
a real one (not inferred) and close to the client's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.engine.outagewatch import parse_iso
from migrator.outagerecords import read_outages
from migrator.sandbox.config import SandboxConfig
from tests.engine.sandbox_helpers import RUN_TIMEOUT, cli_env, killed_when, migrator_argv

pytestmark = pytest.mark.sandbox

# the observed window is sampled on sitter log events with a 2 s fallback, and the
# client writes every few hundred milliseconds (seen: within 0.2 s of each other)
TOLERANCE = 3.0

# The zones are the first to see a loss only in the gap between a peer's stop and its
# election node's expiry: the sandbox's default 2 s leaves one or two readings there,
# none at all when a loaded machine stretches an SSH round trip (seen in CI). A longer
# timeout, as production's, gives the readings room without changing what is judged.
SESSION_TIMEOUT = 5.0


def _hidden_inventory(config: SandboxConfig, where: Path) -> Path:
    """The sandbox's inventory without the client's records, its paths absolute."""
    doc = yaml.safe_load((config.directory / "inventory.yaml").read_text())
    del doc["outage_records"]
    doc["known_hosts"] = str(config.directory / doc["known_hosts"])
    doc["ssh"]["identity"] = str(config.directory / doc["ssh"]["identity"])
    where.mkdir()
    path = where / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _step_window(events: list[dict[str, Any]], step: str
                 ) -> tuple[dict[str, Any], datetime, datetime]:
    """The first observed window that began during ``step``, and the step's bounds."""
    (times,) = [e for e in events if e["event"] == "step-times"]
    record = next(s for s in times["steps"] if s["step"] == step)
    began, ended = parse_iso(record["started"]), parse_iso(record["finished"])
    observed = [e for e in events if e["event"] == "outage-observed"
                and e["end"] is not None and began <= parse_iso(e["start"]) <= ended]
    assert observed, f"no outage observed during {step}: {events}"
    return observed[0], began, ended


def _assert_near_the_client(config: SandboxConfig, window: dict[str, Any],
                            began: datetime, ended: datetime) -> None:
    truth = [r for r in read_outages(config.client_dir)
             if began <= parse_iso(str(r["start"])) <= ended]
    assert truth, "the write client saw no outage during the step"
    client = truth[0]
    start_gap = abs((parse_iso(window["start"]) - parse_iso(str(client["start"])))
                    .total_seconds())
    end_gap = abs((parse_iso(window["end"]) - parse_iso(str(client["end"]))).total_seconds())
    assert start_gap <= TOLERANCE and end_gap <= TOLERANCE, (window, client)


def test_the_sync_reprovision_window_comes_from_the_zones_not_inferred(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path,
) -> None:
    config = sandbox(nodes=3, with_client=True, session_timeout=SESSION_TIMEOUT)
    inventory = _hidden_inventory(config, tmp_path / "elsewhere")
    ran = subprocess.run(migrator_argv(inventory, "run", "--yes", "--json"),
                         capture_output=True, text=True, timeout=RUN_TIMEOUT,
                         env=cli_env(tmp_path / "audit"), stdin=subprocess.DEVNULL,
                         check=False)
    assert ran.returncode == 0, ran.stderr
    assert "Write outages observed (ZooKeeper and the zones' status)" in ran.stderr
    # the clock gives the outage the best observer saw beside each step's own length
    assert "(the step's own length); writes failed for" in ran.stderr
    assert "(the zones' status" in ran.stderr or "(ZooKeeper" in ran.stderr
    ended = [e for e in _events(ran.stdout) if e["event"] == "outage-ended"]
    assert ended and all(isinstance(e["observedSeconds"], float) for e in ended)
    # the estimates use the session timeout the sitters are configured with
    assert "ZooKeeper session timeout 5 s (from the sitters' config)" in ran.stderr
    events = _events(ran.stdout)
    window, began, ended = _step_window(events, "reprovision-sync")
    assert window["source"] == "zones" and window["inferred"] is False, window
    _assert_near_the_client(config, window, began, ended)
    (started,) = [e for e in events if e["event"] == "action-started"
                  and e["step"] == "reprovision-sync"]
    sync = config.zones[1].uuid
    assert started["zone"] == sync and started["command"].startswith(f"reprovision {sync} to ")
    # each reprovision's live line has an estimate: the inventory's for the first, then the
    # median of this run's own reprovisions
    beats = {e["step"]: e for e in events if e["event"] == "heartbeat"
             and e.get("phase") == "action"}
    assert beats["reprovision-async"]["estimateSource"] == "from the inventory"
    # each names its zone and what it does, as action-started does
    async_zone = config.zones[2].uuid
    assert beats["reprovision-async"]["zone"] == async_zone
    assert beats["reprovision-async"]["command"].startswith(f"reprovision {async_zone} to ")
    assert beats["reprovision-primary"]["estimateSource"] == (
        "learnt from this run's 2 reprovision(s)")
    learnt = beats["reprovision-primary"]["estimateSeconds"]
    assert isinstance(learnt, float) and 0 < learnt < 60


def _killed_then(config: SandboxConfig, client: Any, tmp_path: Path, step: str,
                 *args: str) -> list[dict[str, Any]]:
    """Kill a run (on the sandbox's own inventory) once ``step`` is done, then run
    `migrator ARGS --json` on a copy of the inventory outside the sandbox (so the
    client is not the outage source); it succeeds and names ZooKeeper and the zones'
    status as its source. Its events."""
    audit = tmp_path / "audit"
    with killed_when(client, config, audit, lambda s: s.get(step) == "done",
                     "run", "--yes") as (process, killed, _output):
        process.wait(timeout=RUN_TIMEOUT)
    assert killed.is_set(), f"the run ended before {step} was done"
    inventory = _hidden_inventory(config, tmp_path / "elsewhere")
    done = subprocess.run(migrator_argv(inventory, *args, "--json"), capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, env=cli_env(audit),
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Write outages observed (ZooKeeper and the zones' status)" in done.stderr
    return _events(done.stdout)


def test_a_resumed_run_observes_its_outages_from_the_zones(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """Resume uses the same sources as run. Both reprovisions the resume runs stop the
    primary's commits before ZooKeeper can tell: the v1 sync's session outlives it,
    and the primary's own session outlives its database. The primary's status (read
    in its zone about every second, which in the sandbox still answers while its
    sitter is down) shows each loss first, and the window ends when a primary
    streams to a sync again; ZooKeeper's view of the same window is not reported."""
    config = sandbox(nodes=3, with_client=True, session_timeout=SESSION_TIMEOUT)
    events = _killed_then(config, client_for(config), tmp_path, "reprovision-async",
                          "resume", "--yes")
    for step in ("reprovision-sync", "reprovision-primary"):
        window, began, ended = _step_window(events, step)
        assert window["source"] == "zones" and window["inferred"] is False, (step, window)
        _assert_near_the_client(config, window, began, ended)
    observed = [e for e in events if e["event"] == "outage-observed"]
    assert all(e["source"] == "zones" for e in observed), observed


def test_a_rollback_observes_its_outages_from_the_zones(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """Rollback reports outages from the same sources when the sandbox's client is not
    at hand: the v2 sync's rollback stops its primary's commits, which the primary's
    status shows before the sync's ZooKeeper session expires, and until the sync
    /state names streams again."""
    config = sandbox(nodes=3, with_client=True, session_timeout=SESSION_TIMEOUT)
    events = _killed_then(config, client_for(config), tmp_path, "reprovision-sync",
                          "rollback", "--yes")
    window, began, ended = _step_window(events, "roll-back-sync")
    assert window["source"] == "zones" and window["inferred"] is False, window
    _assert_near_the_client(config, window, began, ended)


def test_the_plan_estimates_with_the_sitters_session_timeout(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path,
) -> None:
    """`migrator plan` gives the figure the run will give: the session timeout the
    sitters are configured with, not an assumed one (the inventory has no estimates)."""
    config = sandbox(nodes=3, session_timeout=SESSION_TIMEOUT)
    inventory = _hidden_inventory(config, tmp_path / "elsewhere")
    doc = yaml.safe_load(inventory.read_text())
    doc.pop("estimates", None)
    inventory.write_text(yaml.safe_dump(doc))
    planned = subprocess.run(migrator_argv(inventory, "plan"), capture_output=True,
                             text=True, timeout=RUN_TIMEOUT, env=cli_env(tmp_path / "audit"),
                             stdin=subprocess.DEVNULL, check=False)
    assert planned.returncode == 0, planned.stderr
    text = planned.stdout + planned.stderr
    assert "ZooKeeper session timeout 5 s (from the sitters' config)" in text, text
    assert "ZooKeeper session timeout 60 s" not in text
