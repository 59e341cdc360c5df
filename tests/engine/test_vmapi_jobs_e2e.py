"""Reprovisions as VMAPI jobs on the sandbox's headnode (the default zlogin route).

`sapiadm reprovision` starts a job that outlives the CLI and the migrator; VMAPI lists
it. A `migrator run` killed with SIGKILL while a job runs, then resumed at once (the
resume sees the job under way and waits for it) or after the job ended (it finds the
zone reprovisioned), migrates the shard with every zone's sitter started exactly as
often as in an uninterrupted run and, on real PostgreSQL, no acknowledged write lost.
A job that fails ends the step naming the job and its error.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox import procs
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.jobs import FAULTS_FILE, all_jobs, pending_jobs
from migrator.sandbox.verify import verify
from tests.engine.sandbox_helpers import RUN_TIMEOUT, cli_env, migrator_argv
from tests.engine.test_inflight_e2e import (
    _assert_migrated_once,
    _finish,
    journal_doc,
    signalled_when,
    sitter_starts,
    step_record,
)
from tests.waiting import until

pytestmark = pytest.mark.sandbox

# the zone each step reprovisions (the sandbox's zones in election order)
ZONE_OF = {"reprovision-async": 2, "reprovision-sync": 1, "reprovision-primary": 0}
# long enough that a resume started at once still finds the job under way on a loaded
# machine (the default is the session timeout plus two seconds)
AT_ONCE_REPROVISION = 12.0


def _intent_written(_config: SandboxConfig, step: str) -> Callable[[dict[str, Any]], bool]:
    """The step's intent is journalled with VMAPI's jobs before it: `sapiadm` may or may
    not have been started, and its job may or may not exist yet."""

    def written(doc: dict[str, Any]) -> bool:
        record = step_record(doc, step)
        return record.get("status") == "acting" and "jobsBefore" in (record.get("intent")
                                                                      or {})

    return written


def _job_running(config: SandboxConfig, step: str) -> Callable[[dict[str, Any]], bool]:
    """The step's intent is journalled with VMAPI's jobs before it, and the job it
    started is running on the headnode."""
    zone = config.zones[ZONE_OF[step]].uuid

    def running(doc: dict[str, Any]) -> bool:
        record = step_record(doc, step)
        if record.get("status") != "acting" or "jobsBefore" not in (record.get("intent")
                                                                     or {}):
            return False
        # sapiadm starts the job a moment after the intent: the records have no event
        return bool(until(lambda: [j for j in pending_jobs(config.directory, zone)
                                   if j["execution"] == "running"],
                          60, f"the headnode's reprovision job of {zone} running"))

    return running


@pytest.mark.parametrize(("step", "when", "moment", "pg"), [
    ("reprovision-async", "job-running", "at-once", "sim"),
    ("reprovision-async", "intent", "at-once", "sim"),
    ("reprovision-sync", "job-running", "later", "sim"),
    ("reprovision-sync", "intent", "at-once", "sim"),
    pytest.param("reprovision-primary", "job-running", "at-once", "real",
                 marks=pytest.mark.pgreal),
    pytest.param("reprovision-primary", "job-running", "later", "real",
                 marks=pytest.mark.pgreal),
    ("reprovision-primary", "intent", "at-once", "sim"),
])
def test_kill_9_during_a_headnode_reprovision_then_resume(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path, step: str, when: str, moment: str, pg: str,
) -> None:
    """Killed once the job runs, or the moment the intent is journalled (the job may not
    exist yet: the resume waits until it has had time to appear, then waits for it or
    starts the reprovision); resumed at once, or after the job ended."""
    seen_running = when == "job-running" and moment == "at-once"
    config = sandbox(nodes=3, access="zlogin", pg=pg, with_client=pg == "real",
                     reprovision_seconds=AT_ONCE_REPROVISION if seen_running else None)
    client = client_for(config)
    inventory = config.directory / "inventory.yaml"
    zone = config.zones[ZONE_OF[step]].uuid
    before = sitter_starts(config)
    condition = (_job_running if when == "job-running" else _intent_written)(config, step)
    with signalled_when(client, config, tmp_path, inventory, condition,
                        [signal.SIGKILL], "run", "--yes") as (process, sent):
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert sent.is_set() and process.returncode == -9, (process.returncode, out[-2000:],
                                                        err[-3000:])
    intent = step_record(journal_doc(client, config), step)["intent"]
    assert intent["runOn"] == "headnode" and intent["zone"] == zone
    if when == "intent":
        result = _finish(config, tmp_path, inventory)
        assert result.returncode == 0, result.stderr[-3000:]
        # one job of the zone in the end, whichever way the race went
        jobs = [j for j in all_jobs(config.directory) if j["params"]["vm_uuid"] == zone]
        assert [j["execution"] for j in jobs] == ["succeeded"], jobs
        _assert_migrated_once(client, config, before)
        return
    (job,) = [j for j in all_jobs(config.directory) if j["params"]["vm_uuid"] == zone]
    assert job["uuid"] not in intent["jobsBefore"]
    if moment == "later":
        # the job outlived the migrator and its SSH session: it ends on its own
        until(lambda: [j for j in all_jobs(config.directory)
                       if j["uuid"] == job["uuid"] and j["execution"] == "succeeded"],
              90, "the headnode's job ending")
    result = _finish(config, tmp_path, inventory)
    assert result.returncode == 0, result.stderr[-3000:]
    if moment == "at-once":
        assert f"job {job['uuid']} running" in result.stderr, result.stderr[-3000:]
        assert "is under way" in result.stderr
        assert "done in an earlier run" in result.stderr
    _assert_migrated_once(client, config, before)
    if pg == "real":
        procs.kill_recorded(config.pid_file("client"))
        counted = verify(config.directory)
        assert counted["acknowledged"] > 0 and counted["lost"] == 0, counted
        assert counted["forked"] == [], counted


def test_a_failed_job_ends_the_step_naming_it_and_is_never_redone_unasked(
    sandbox: Callable[..., SandboxConfig], client_for: Callable[[SandboxConfig], Any],
    tmp_path: Path,
) -> None:
    """The job fails: the run stops naming the job and its error. A job that ended
    without success may have left the zone anywhere, so `resume --yes` refuses (exit 3)
    and the operator, asked in a terminal, confirms a new one."""
    config = sandbox(nodes=3, access="zlogin")
    client = client_for(config)
    inventory = config.directory / "inventory.yaml"
    before = sitter_starts(config)
    faults = config.directory / "headnode" / FAULTS_FILE
    async_zone = config.zones[2].uuid
    faults.write_text(async_zone + "\n")
    failed = _run(inventory, tmp_path, "run", "--yes")
    assert failed.returncode != 0
    (job,) = all_jobs(config.directory)
    assert job["execution"] == "failed"
    said = " ".join(failed.stderr.split())
    assert f"job {job['uuid']} failed" in said, failed.stderr[-3000:]
    assert "image import failed" in said and f"sdc-vmapi /jobs/{job['uuid']}" in said
    faults.unlink()
    refused = _finish(config, tmp_path, inventory)
    assert refused.returncode == 3, refused.stderr[-3000:]
    said = " ".join(refused.stderr.split())
    assert f"job {job['uuid']} failed" in said and "ended without success" in said
    assert "nothing was done" in said
    asked, shown = _resume_in_a_terminal(config, inventory, tmp_path)
    assert "run the action again (it may have happened already)?" in asked
    # each reprovision's live line follows its job on the headnode
    new_jobs = [j["uuid"] for j in all_jobs(config.directory) if j["execution"] == "succeeded"]
    assert len(new_jobs) == 3
    assert any(f"VMAPI job {uuid} running" in shown for uuid in new_jobs), shown[-3000:]
    # one new job, and each zone reprovisioned once: the failed job left the zone as it was
    jobs = [j for j in all_jobs(config.directory) if j["params"]["vm_uuid"] == async_zone]
    assert [j["execution"] for j in jobs] == ["succeeded", "failed"]
    _assert_migrated_once(client, config, before)


def _resume_in_a_terminal(config: SandboxConfig, inventory: Path, audit: Path
                          ) -> tuple[str, str]:
    """`migrator resume` in a real terminal, every question answered yes (the shard name
    typed where asked); the questions it asked, and all it showed."""
    import io

    import pexpect

    argv = migrator_argv(inventory, "resume")
    child = pexpect.spawn(argv[0], argv[1:], env=cli_env(audit), encoding="utf-8",
                          timeout=RUN_TIMEOUT, dimensions=(50, 200))
    shown = io.StringIO()
    child.logfile_read = shown
    questions = []
    try:
        for _ in range(40):  # bounded: a three-node run asks a dozen questions
            found = child.expect([r"\(y/N\)", "Type the shard name", pexpect.EOF])
            questions.append(child.before.strip().splitlines()[-1:] if child.before else [])
            if found == 2:
                break
            child.send("y" if found == 0 else config.shard + "\r")
        else:
            pytest.fail("the resume asked more than 40 questions")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    return "\n".join(line for asked in questions for line in asked), shown.getvalue()


def _run(inventory: Path, audit: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(migrator_argv(inventory, *args), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env=cli_env(audit), stdin=subprocess.DEVNULL,
                          check=False)


def test_a_headnode_that_cannot_list_the_jobs_is_said_and_the_run_goes_on(
    sandbox: Callable[..., SandboxConfig], tmp_path: Path,
) -> None:
    """VMAPI's jobs cannot be listed (the command fails): each reprovision says so, with
    why, before it starts (its intent then holds no `jobsBefore`), and the run goes on."""
    import yaml

    config = sandbox(nodes=3, access="zlogin")
    document = yaml.safe_load((config.directory / "inventory.yaml").read_text())
    document.setdefault("commands", {})["reprovision_jobs"] = "false {zone}"
    inventory = config.directory / "inventory-no-vmapi.yaml"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    done = _run(inventory, tmp_path, "run", "--yes")
    assert done.returncode == 0, done.stderr[-3000:]
    said = " ".join((done.stdout + done.stderr).split())
    for zone in (z.uuid for z in config.zones):
        assert (f"VMAPI's reprovision jobs of {zone} could not be listed "
                f"(`false {zone}` on the headnode failed (exit status 1))") in said, said[-3000:]
    assert "a resume after an interruption would judge from the zone" in said
    assert [j["execution"] for j in all_jobs(config.directory)] == ["succeeded"] * 3
