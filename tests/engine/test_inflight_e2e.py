"""Actions in flight on the real sandbox: kill -9 and Ctrl-C inside a reprovision run as
a local child, one run on a "headnode" over SSH, and a command in a zone; resume at once
and later. Each zone's sitter must start exactly as often as an uninterrupted run makes
it start (once at `sandbox up`, once per reprovision), so no zone is reprovisioned twice.

Each case migrates its own three-node sandbox (about 20 s): the matrix is kept to the
moments that lead to different evidence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.remote.localchild import wait_gone
from migrator.sandbox.config import SandboxConfig
from tests.engine.sandbox_helpers import (
    RUN_TIMEOUT,
    cli_env,
    count_our_writes,
    journal_path,
    last_migration_run,
    migrator,
    migrator_argv,
)
from tests.waiting import until

pytestmark = pytest.mark.sandbox

STEP = "reprovision-async"


def sitter_starts(config: SandboxConfig) -> dict[str, int]:
    """How often each zone's sitter started, from its log."""
    counts = {}
    for zone in config.zones:
        log = config.zone_dir(zone) / "sitter.log"
        counts[zone.uuid] = sum(1 for line in log.read_text().splitlines()
                                if json.loads(line).get("msg") == "manatee-sitter starting")
    return counts


def journal_doc(client: Any, config: SandboxConfig) -> dict[str, Any]:
    data, _ = client.get(journal_path(config))
    doc: dict[str, Any] = json.loads(data)
    return doc


def step_record(doc: dict[str, Any] | None, step: str) -> dict[str, Any]:
    if not doc:
        return {}
    run = last_migration_run(doc)
    record: dict[str, Any] = run["steps"].get(step, {}) if run else {}
    return record


@contextmanager
def signalled_when(client: Any, config: SandboxConfig, audit: Path, inventory: Path,
                   condition: Callable[[dict[str, Any]], bool], signals: list[int],
                   *args: str) -> Iterator[tuple[subprocess.Popen[str], threading.Event]]:
    """Start `migrator ARGS` in a session of its own (as a terminal's foreground job) and,
    the moment its journal meets ``condition``, send ``signals`` to its process group one
    after the other (SIGINT twice = Ctrl-C twice)."""
    from kazoo.recipe.watchers import DataWatch

    process = subprocess.Popen(migrator_argv(inventory, *args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                               env=cli_env(audit), start_new_session=True)
    sent = threading.Event()
    done = threading.Event()

    def on_change(data: bytes | None, _stat: Any) -> bool:
        if done.is_set() or sent.is_set():
            return False
        if data and condition(json.loads(data)) and process.poll() is None:
            # said before it is done: the test's thread wakes from its wait the moment
            # the process dies, maybe before this thread runs another line
            sent.set()
            for index, sig in enumerate(signals):
                if index:
                    threading.Event().wait(0.5)  # a person's second Ctrl-C
                os.killpg(process.pid, sig)
            return False
        return True

    client.ensure_path(f"/manatee-migrator/{config.shard}")
    DataWatch(client, journal_path(config), on_change)
    try:
        yield process, sent
    finally:
        done.set()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def child_running(doc: dict[str, Any]) -> bool:
    """The reprovision child of STEP has been journalled (and so let run)."""
    intent = step_record(doc, STEP).get("intent") or {}
    return step_record(doc, STEP).get("status") == "acting" and "pid" in intent


def headnode_inventory(config: SandboxConfig, status: bool) -> Path:
    """The sandbox's inventory with the reprovision run on a "headnode" over SSH (the
    primary zone's sshd stands in for it), optionally with a job status template.

    With the template, the job lasts 15 s (the default is the session timeout plus 2 s),
    so that it is still running when the resume looks however loaded the machine: the
    tests assert that the resume saw the job and waited for it."""
    path = config.directory / "inventory.yaml"
    doc = yaml.safe_load(path.read_text())
    first = next(iter(doc["zones"].values()))
    doc["headnode"] = {"host": first["host"], "port": first["port"]}
    words = [sys.executable, "-m", "migrator", "sandbox"]
    prefix = " ".join(words)
    doc["commands"]["reprovision"] = {
        "run_on": "headnode",
        "command": f"{prefix} reprovision --dir {config.directory} {{zone}} --to {{image}}",
    }
    if status:
        doc["commands"]["reprovision"]["command"] += " --delay 15"
        doc["commands"]["reprovision_status"] = (
            f"{prefix} reprovision-status --dir {config.directory} {{zone}}")
    out = config.directory / "inventory-headnode.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def _finish(_config: SandboxConfig, audit: Path,
            inventory: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            migrator_argv(inventory, "resume", "--yes"),
            capture_output=True, text=True, timeout=RUN_TIMEOUT, env=cli_env(audit),
            stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:  # say where it waited, not only that it did
        said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) \
            else str(exc.stderr or "")
        pytest.fail(f"`migrator resume` did not end within {RUN_TIMEOUT:g} s; it said:\n"
                    f"{said[-6000:]}")


def _assert_migrated_once(client: Any, config: SandboxConfig, before: dict[str, int]) -> None:
    # each zone reprovisioned exactly once: one more sitter start than at `sandbox up`
    assert sitter_starts(config) == {zone: count + 1 for zone, count in before.items()}
    assert count_our_writes(client, config.shard) == {"backfill": 1, "unfreeze": 1}


def intent_written(doc: dict[str, Any]) -> bool:
    record = step_record(doc, STEP)
    return record.get("status") == "acting" and bool(
        (record.get("intent") or {}).get("electionNodes"))


def reprovisioning(config: SandboxConfig, journalled: Callable[[dict[str, Any]], bool]
                   = child_running) -> Callable[[dict[str, Any]], bool]:
    """The reprovision of the async is under way: journalled and let run (the sandbox's
    marker of a running reprovision appears within a second or so of the release)."""
    marker = config.pid_file(f"reprovision-{config.zones[2].uuid}")

    def under_way(doc: dict[str, Any]) -> bool:
        if not journalled(doc):
            return False
        # the released child starts a Python process that writes the marker: seconds on a
        # loaded machine; the marker has no event to watch for
        return bool(until(marker.exists, 60, "the sandbox reprovision starting"))

    return under_way


@pytest.mark.parametrize("moment", ["at-once", "later"])
def test_kill_9_during_a_local_reprovision_then_resume(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path, moment: str,
) -> None:
    """at-once: resumed while the orphaned child still reprovisions (the resume waits for
    it); later: resumed after it ended. (Killed between journalling the child's pid and
    letting it run: see tests/remote/test_localchild.py.) At once, every reprovision
    lasts 12 s, so the child still runs when the resume looks however loaded the
    machine (with the default 4 s a loaded CI machine saw it end first)."""
    config = sandbox(nodes=3, reprovision_seconds=12.0 if moment == "at-once" else None)
    client = client_for(config)
    inventory = config.directory / "inventory.yaml"
    before = sitter_starts(config)
    zone = config.zones[2].uuid
    with signalled_when(client, config, tmp_path, inventory, reprovisioning(config),
                        [signal.SIGKILL], "run", "--yes") as (process, sent):
        process.wait(timeout=RUN_TIMEOUT)
    assert sent.is_set() and process.returncode == -9
    intent = step_record(journal_doc(client, config), STEP)["intent"]
    assert intent["action"] == "reprovision" and intent["runOn"] == "local"
    assert intent["zone"] == zone and intent["image"]
    assert intent["pgid"] == intent["pid"] and intent["electionNodes"]
    if moment == "later":
        # the child was not killed with the migrator: it finishes the reprovision alone
        assert wait_gone(intent["pid"], 60)
        assert sitter_starts(config)[zone] == before[zone] + 1
    result = _finish(config, tmp_path, inventory)
    assert result.returncode == 0, result.stderr[-3000:]
    if moment == "later":
        # its done-checks hold now (v2, a new election node): stamped without acting
        assert "already done: manatee at least" in result.stderr
    else:
        assert f"pid {intent['pid']}" in result.stderr and "still running" in result.stderr
        assert "done in an earlier run" in result.stderr
    _assert_migrated_once(client, config, before)


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c-once", "ctrl-c-twice"])
def test_ctrl_c_during_a_local_reprovision(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path, presses: int,
) -> None:
    config = sandbox(nodes=3)
    client = client_for(config)
    inventory = config.directory / "inventory.yaml"
    before = sitter_starts(config)
    with signalled_when(client, config, tmp_path, inventory, reprovisioning(config),
                        [signal.SIGINT] * presses, "run", "--yes") as (process, sent):
        _out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert sent.is_set() and process.returncode == 130, err[-3000:]
    resume = f"migrator resume --inventory {inventory}"
    assert "is left to finish" in err and resume in err
    record = step_record(journal_doc(client, config), STEP)
    zone = config.zones[2].uuid
    if presses == 1:
        # the reprovision ran to its end; the run stopped before verifying it
        assert "The action finished; stopping before its verification" in err
        assert record["status"] == "verifying"
        assert sitter_starts(config)[zone] == before[zone] + 1
    else:
        # stopped waiting at once; says what state the zone is in; the child goes on
        assert record["status"] == "acting"
        assert "Stopped waiting for" in err and f"{zone}: runs" in err
        assert f"pid {record['intent']['pid']}" in err
    result = _finish(config, tmp_path, inventory)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_migrated_once(client, config, before)


@pytest.mark.parametrize(("status", "signals"), [
    (False, [signal.SIGKILL]), (True, [signal.SIGKILL]), (True, [signal.SIGINT] * 2)],
    ids=["kill-9-no-status", "kill-9-job-status", "ctrl-c-twice-job-status"])
def test_interrupted_headnode_reprovision_then_resume(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path, status: bool, signals: list[int],
) -> None:
    """The reprovision runs over SSH on another machine, and killing the migrator does not
    stop it. With `commands.reprovision_status` the resume sees the job running and waits
    for it. Without, right after the kill nothing tells (the zone still runs the old
    version and its old election node has not expired yet): `resume --yes` refuses, and
    once the job is over a resume finds the zone reprovisioned. (On a loaded machine the
    old election node may have expired by the time the first resume looks: then the zone
    is out of the election and that resume waits for it, which is right too.)"""
    config = sandbox(nodes=3)
    client = client_for(config)
    inventory = headnode_inventory(config, status)
    before = sitter_starts(config)
    marker = config.pid_file(f"reprovision-{config.zones[2].uuid}")
    with signalled_when(client, config, tmp_path, inventory,
                        reprovisioning(config, intent_written), signals,
                        "run", "--yes") as (process, sent):
        _out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert sent.is_set()
    if signals[0] == signal.SIGINT:
        assert process.returncode == 130, err[-3000:]
        assert "Stopped waiting for" in err and "To continue: migrator resume" in err
    else:
        assert process.returncode == -9
    if not status:
        first = _finish(config, tmp_path, inventory)
        if first.returncode == 0:
            # the old node expired before the resume looked (it waited for the zone), or
            # on a loaded machine the whole reprovision ended first (found done)
            assert ("is out of the election: a reprovision may still be" in first.stderr
                    or "its sitter rejoined the election after the reprovision was started"
                    in first.stderr or "already done: manatee at least" in first.stderr
                    ), first.stderr[-3000:]
            _assert_migrated_once(client, config, before)
            return
        assert first.returncode == 3, first.stderr[-3000:]
        assert "could start a second one; nothing was done" in first.stderr
        assert "Look at: the reprovision job of" in first.stderr
        for _ in range(600):  # bounded (60 s): the headnode's job ends on its own
            if not marker.exists():
                break
            threading.Event().wait(0.1)
    result = _finish(config, tmp_path, inventory)
    assert result.returncode == 0, result.stderr[-3000:]
    if status:
        assert "the headnode reports a reprovision job" in result.stderr
        assert "done in an earlier run" in result.stderr
    _assert_migrated_once(client, config, before)


ZONE_COMMAND_PLAYBOOK = """\
name: restart-async
title: Restart the async's sitter
description: One command in a zone, for the in-flight tests.
peers: 3
steps:
  - id: restart
    title: Restart the sitter of the async
    explain: Disable, wait, enable.
    zones: [original_async]
    action:
      name: run_command
      params:
        zone: original_async
        argv: [sh, -c, "sitter-ctl disable && sleep 3 && sitter-ctl enable"]
    verify:
      - check: election_rejoined
        params: {zone: original_async}
    done_when: []
    timeout: 60
"""


def _command_acting(doc: dict[str, Any]) -> bool:
    """The zone command of the "restart" step has been journalled."""
    return bool(step_record(doc, "restart").get("intent", {}).get("command"))


@contextmanager
def zone_command_signalled(
    client: Any, config: SandboxConfig, tmp_path: Path, sig: int,
) -> Iterator[tuple[subprocess.Popen[str], threading.Event, Path, Path, dict[str, int]]]:
    """`migrator run` of ZONE_COMMAND_PLAYBOOK, sent ``sig`` once its zone command is
    journalled; yields the process, the sent event, the inventory, the playbook file and
    the sitter starts from before the run."""
    inventory = config.directory / "inventory.yaml"
    playbook = tmp_path / "restart.yaml"
    playbook.write_text(ZONE_COMMAND_PLAYBOOK)
    before = sitter_starts(config)
    with signalled_when(client, config, tmp_path, inventory, _command_acting, [sig],
                        "run", "--yes", "--playbook", str(playbook)) as (process, sent):
        yield process, sent, inventory, playbook, before


def test_kill_9_during_a_zone_command_is_not_repeated_blindly(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=3)
    client = client_for(config)
    with zone_command_signalled(client, config, tmp_path, signal.SIGKILL) as (
            process, sent, _inventory, playbook, before):
        process.wait(timeout=RUN_TIMEOUT)
    assert sent.is_set() and process.returncode == -9
    refused = migrator(config, tmp_path, "resume", "--yes", "--playbook", str(playbook))
    assert refused.status == 3, refused.err
    assert "could start a second one; nothing was done" in refused.err
    assert "Look at:" in refused.err and "sitter-ctl disable" in refused.err
    assert step_record(journal_doc(client, config), "restart")["status"] == "acting"
    # whatever became of the command the killed run started (sshd may end it with the
    # channel), the resume ran nothing: at most that one restart, and asked again it
    # still refuses rather than guess
    threading.Event().wait(4)
    zone = config.zones[2]
    assert sitter_starts(config)[zone.uuid] <= before[zone.uuid] + 1
    again = migrator(config, tmp_path, "resume", "--yes", "--playbook", str(playbook))
    assert again.status == 3 and "nothing was done" in again.err


def test_ctrl_c_once_during_a_zone_command_lets_it_finish(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    config = sandbox(nodes=3)
    client = client_for(config)
    with zone_command_signalled(client, config, tmp_path, signal.SIGINT) as (
            process, sent, inventory, playbook, before):
        _out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert sent.is_set() and process.returncode == 130, err[-3000:]
    assert "is left to finish" in err and "The action finished" in err
    assert f"To continue: migrator resume --inventory {inventory}" in err
    assert step_record(journal_doc(client, config), "restart")["status"] == "verifying"
    zone = config.zones[2].uuid
    assert sitter_starts(config)[zone] == before[zone] + 1  # the command ran to its end
    result = migrator(config, tmp_path, "resume", "--yes", "--playbook", str(playbook))
    assert result.status == 0, result.err[-3000:]
    assert sitter_starts(config)[zone] == before[zone] + 1  # verified, not run again
