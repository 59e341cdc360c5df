"""A real fork on real PostgreSQL (issue 24 §1): a standby promoted behind its sitter's
back (what a split brain does) takes a commit while the primary goes on taking the
write client's; the migrator, run for real, must stop naming the forked peers and
their positions, with the manual choices, and change nothing.

The fork is made by hand and waited for on the servers themselves (both sides past the
switch point, judged by ``migrator.cluster.positions``), so each test takes the branch
it names every time. The promoted standby's sitter keeps running: it reconfigures its
postgres only on a ZooKeeper change or a server exit, and neither happens, so the fork
stays until the migrator is asked to act on it. Every test brings its own real sandbox
up and always takes it down.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.cluster.positions import DataVerdict, Position, judge_primary, parse_position
from migrator.sandbox import pgdata, pgquery, procs
from migrator.sandbox.config import SandboxConfig, ZoneConfig, load_config
from migrator.sandbox.shard import zk_client
from migrator.sandbox.verify import verify
from tests.engine.sandbox_helpers import killed_when
from tests.sandbox.conftest import SandboxFactory, adm
from tests.waiting import until

WAIT = 30.0
FORK_ID = 777000001  # far above the write client's ids: the one commit only the fork has
FORKED = "no single peer holds everything (the peers have forked)"  # the verdict's words
# what an idle postgres runs that writes WAL on its own (process titles)
WAL_WRITERS = ("checkpointer", "background writer", "autovacuum")


@pytest.fixture(autouse=True)
def _audit_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATOR_AUDIT_DIR", str(tmp_path / "audit"))


def _migrator(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrator", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def _inventory(config: SandboxConfig) -> str:
    return str(config.directory / "inventory.yaml")


def _acknowledged(config: SandboxConfig, more_than: int) -> int:
    from migrator.sandbox.logwatch import wait_for_record

    seen = wait_for_record(config.directory / "client" / "stats.json",
                           lambda r: int(r.get("writes_ok", 0)) > more_than, WAIT)
    assert seen is not None, f"the client acknowledged no more than {more_than} writes"
    return int(seen["writes_ok"])


def _leaf_standby(config: SandboxConfig, primary: ZoneConfig) -> ZoneConfig:
    """A streaming standby the primary's commits do not wait on and no peer streams from:
    promoting the sync would stall the primary (a peer merely behind, not a fork), and
    a cascading standby's downstream follows it onto its new timeline (two forked
    peers). Waited for: after a reprovision the chain may still be reconnecting."""
    def leaf() -> ZoneConfig | None:
        status = pgquery.query_status(primary.ip, primary.pg_port)
        rows = (status or {}).get("repl", [])
        sync = {r["application_name"] for r in rows if r["sync_state"] == "sync"}
        streaming = {r["application_name"] for r in rows if r["state"] == "streaming"}
        standbys = [z for z in config.zones if z.uuid != primary.uuid]
        found: ZoneConfig | None = None
        for zone in standbys:
            below = pgquery.query_status(zone.ip, zone.pg_port)
            if below is None:
                return None
            streaming |= {r["application_name"] for r in below["repl"]
                          if r["state"] == "streaming"}
            if zone.pg_url not in sync and not below["repl"]:
                found = zone
        if not sync or streaming != {z.pg_url for z in standbys}:
            return None
        return found

    chosen = until(leaf, WAIT, f"every standby streaming, a sync under {primary.uuid} and "
                               "a standby at the end of the chain", every=0.2)
    assert chosen is not None
    return chosen


def _fork(zone: ZoneConfig) -> None:
    """Promote the zone's postgres as a split brain would (pg_promote: what `pg_ctl
    promote` asks for) and commit a row on it that the primary will never have."""
    with pgquery.connect(zone.ip, zone.pg_port, 5.0) as connection:
        promoted = connection.execute("SELECT pg_promote(true, 30)").fetchone()
        assert promoted is not None and promoted[0], f"{zone.uuid} was not promoted"
        connection.execute(f"INSERT INTO {pgquery.TABLE} (id) VALUES ({FORK_ID})")


def _positions(config: SandboxConfig, primary: ZoneConfig) -> list[Position]:
    """Each zone's position as the migrator reads it (the inventory's pg_position,
    `manatee-adm pg-position` in the zone over its sshd), the primary last: a standby
    read after it could be past what was read of a primary taking writes."""
    return [parse_position(z.uuid, adm(config, z, "pg-position"))
            for z in sorted(config.zones, key=lambda z: z.uuid == primary.uuid)]


def _wait_forked(config: SandboxConfig, primary: ZoneConfig) -> DataVerdict:
    """Until the primary has written past the fork's switch point: then neither side
    holds the other's commits."""
    def forked() -> DataVerdict | None:
        verdict = judge_primary(_positions(config, primary), primary.uuid)
        return verdict if verdict.forked else None

    verdict = until(forked, WAIT, "the primary past the forked standby's switch point",
                    every=0.2)
    assert verdict is not None
    return verdict


def _shard_znodes(config: SandboxConfig) -> dict[str, Any]:
    """/state and the migrator's journal (data and version), the election and the
    history: what a refusal must leave exactly as it was."""
    base = f"/manatee/{config.shard}"
    with zk_client(config) as client:
        found: dict[str, Any] = {}
        for name, path in (("state", f"{base}/state"),
                           ("journal", f"/manatee-migrator/{config.shard}/journal")):
            stat = client.exists(path)  # no /state on a v1 shard, no journal before a run
            found[name] = None if stat is None else (client.get(path)[0], stat.version)
        for part in ("election", "history"):
            found[part] = {name: client.get(f"{base}/{part}/{name}")[0]
                           for name in client.get_children(f"{base}/{part}")}
    return found


def _assert_names_the_fork(text: str, primary: ZoneConfig, forked: ZoneConfig) -> None:
    assert "Traceback" not in text, text[-3000:]
    assert FORKED in text, text[-3000:]
    # the peers and their positions, as Position prints them: zone, timeline, WAL location
    assert f"{primary.uuid[:8]} (primary, timeline 1 at " in text, text[-3000:]
    assert f"{forked.uuid[:8]} (primary, timeline 2 at " in text, text[-3000:]
    assert "Choices, all manual" in text, text[-3000:]
    assert f"save what only {forked.uuid[:8]}" in text, text[-3000:]


def _assert_fork_seen_by_verify(config: SandboxConfig, primary: ZoneConfig,
                                forked: ZoneConfig) -> None:
    """`sandbox verify` agrees the data forked: the promoted peer holds a row the
    primary lacks."""
    procs.kill_recorded(config.pid_file("client"))
    verified = verify(load_config(config.directory).directory, timeout=1.0)
    assert verified["lost"] == 0, verified
    assert forked.uuid in json.dumps(verified["forked"]), verified
    # nothing rebuilt the forked peer: its own commit is still there, and only there
    assert FORK_ID in pgquery.read_ids(forked.ip, forked.pg_port)
    assert FORK_ID not in pgquery.read_ids(primary.ip, primary.pg_port)


def _killed_after_the_backfill(config: SandboxConfig, audit: Path) -> None:
    """`migrator run --yes`, SIGKILLed once its journal says the backfill is done (/state
    written, the shard frozen): a run stopped half way, for `rollback` or `resume`."""
    with zk_client(config) as client, killed_when(
            client, config, audit, lambda s: s.get("backfill") == "done",
            "run", "--yes") as (process, killed, output):
        process.wait(timeout=300)
    assert killed.is_set(), f"the run ended before the backfill was done: {output.err[-2000:]}"


def _client_sessions(zone: ZoneConfig) -> int:
    with pgquery.connect(zone.ip, zone.pg_port, 5.0) as connection:
        row = connection.execute("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE application_name = 'rehearsal-client'").fetchone()
    return int(row[0])


@contextlib.contextmanager
def _no_background_wal(config: SandboxConfig, zone: ZoneConfig) -> Iterator[None]:
    """SIGSTOP the zone's postgres processes that write WAL on their own (checkpointer,
    background writer's standby snapshots, autovacuum): with no client writing, the
    server's WAL then stays where it is; SIGCONT after."""
    postmaster, _shmid = pgdata._postmaster_info(config.zone_dir(zone) / pgdata.DATA)
    assert postmaster is not None, f"no postgres running in {zone.uuid}"
    stopped: list[int] = []
    try:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                title = (proc / "cmdline").read_bytes().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if parent == postmaster and any(w in title for w in WAL_WRITERS):
                os.kill(int(proc.name), signal.SIGSTOP)
                stopped.append(int(proc.name))
        assert len(stopped) >= 2, f"found none of {WAL_WRITERS} under postmaster {postmaster}"
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_a_forked_standby_stops_rollback_and_resume_of_a_killed_run(
    sandbox: SandboxFactory, tmp_path: Path,
) -> None:
    """A run killed after the backfill (/state written, the shard frozen); a standby then
    forks. Both ways on, the rollback and the resume, are refused with exit 3, naming
    the forked peer, and leave /state, the election and the history as they were."""
    config = sandbox(nodes=3, pg="real", with_client=True)
    primary = config.zones[0]
    _killed_after_the_backfill(config, tmp_path / "audit")
    acknowledged = _acknowledged(config, 0)
    forked = _leaf_standby(config, primary)
    _fork(forked)
    _acknowledged(config, acknowledged)  # the primary commits on, past the switch point
    verdict = _wait_forked(config, primary)
    assert [p.zone for p in verdict.ahead] == [forked.uuid]

    _refused_naming_the_fork(config, "rollback", primary, forked,
                             f"This rollback would make {primary.uuid} the v1 primary")
    _refused_naming_the_fork(config, "resume", primary, forked,
                             f"This resume would go on with {primary.uuid} as the primary")
    _assert_fork_seen_by_verify(config, primary, forked)


def _refused_naming_the_fork(config: SandboxConfig, verb: str, primary: ZoneConfig,
                             forked: ZoneConfig, says: str) -> None:
    """`migrator VERB --yes` stops with exit 3, saying ``says``, naming the forked peer,
    and leaves the shard's znodes as they were."""
    before = _shard_znodes(config)
    done = _migrator(verb, "--inventory", _inventory(config), "--yes", timeout=600)
    text = done.stderr + done.stdout
    assert done.returncode == 3, text[-3000:]
    assert says in text, text[-3000:]
    _assert_names_the_fork(text, primary, forked)
    assert _shard_znodes(config) == before


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_a_run_on_a_shard_with_a_forked_standby_is_refused_before_it_changes_anything(
    sandbox: SandboxFactory,
) -> None:
    """The fork is there before the migration starts. A run that went on would rebuild
    the forked peer from the primary at its reprovision (its commit gone) and its final
    data check would then pass: it must stop before its first step instead."""
    config = sandbox(nodes=3, pg="real", with_client=True)
    primary = config.zones[0]
    acknowledged = _acknowledged(config, 0)
    forked = _leaf_standby(config, primary)
    _fork(forked)
    _acknowledged(config, acknowledged)
    _wait_forked(config, primary)

    _refused_naming_the_fork(config, "run", primary, forked,
                             f"This run would go on with {primary.uuid} as the primary")
    _assert_fork_seen_by_verify(config, primary, forked)


@pytest.mark.pgreal
@pytest.mark.sandbox
def test_a_primary_merely_behind_a_promoted_standby_is_refused_naming_the_one_with_most(
    sandbox: SandboxFactory, tmp_path: Path,
) -> None:
    """Not a fork: the standby is promoted exactly where the primary's WAL ends (the
    writes stopped, the primary's own background WAL held), then commits. Its data
    includes all of the primary's; the rollback and the resume refuse, naming it as the
    peer with the most data and offering to make it the primary again by hand."""
    config = sandbox(nodes=3, pg="real", with_client=True)
    primary = config.zones[0]
    _killed_after_the_backfill(config, tmp_path / "audit")
    _acknowledged(config, 0)
    procs.kill_recorded(config.pid_file("client"))
    until(lambda: not _client_sessions(primary), WAIT,
          "the write client's sessions ended on the primary (their last WAL written)")
    ahead = _leaf_standby(config, primary)
    with _no_background_wal(config, primary):
        def caught_up() -> bool:
            found = {p.zone: p for p in _positions(config, primary)}
            return found[ahead.uuid].lsn == found[primary.uuid].lsn
        until(caught_up, WAIT, f"{ahead.uuid} replayed all of the primary's WAL", every=0.2)
        _fork(ahead)
        verdict = judge_primary(_positions(config, primary), primary.uuid)
        assert not verdict.ok and not verdict.forked, verdict.reason
        assert verdict.most is not None and verdict.most.zone == ahead.uuid, verdict.reason
        assert [p.zone for p in verdict.ahead] == [ahead.uuid]

        before = _shard_znodes(config)
        for verb in ("rollback", "resume"):
            refused = _migrator(verb, "--inventory", _inventory(config), "--yes")
            text = refused.stderr + refused.stdout
            assert refused.returncode == 3, text[-3000:]
            assert "Traceback" not in text and FORKED not in text, text[-3000:]
            assert (f"the peer with the most data is {ahead.uuid[:8]} (primary, timeline 2 at "
                    in text), text[-3000:]
            assert f"{primary.uuid[:8]} (primary, timeline 1 at " in text, text[-3000:]
            assert f"make {ahead.uuid} (it holds the most data) the primary again by hand" \
                in text, text[-3000:]
            assert _shard_znodes(config) == before
    assert FORK_ID in pgquery.read_ids(ahead.ip, ahead.pg_port)
