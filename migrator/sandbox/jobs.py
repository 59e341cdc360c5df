"""The sandbox headnode's VMAPI jobs: a reprovision runs as a job that outlives its CLI.

In Triton, `sapiadm reprovision` asks VMAPI for a workflow job and waits for it; the
job runs to its end whatever happens to the CLI or its SSH session, and VMAPI lists a
VM's jobs (``GET /jobs?vm_uuid=...&task=reprovision``). The sandbox does the same:

- ``start_reprovision_job`` (what the sandbox's ``sapiadm reprovision`` calls) writes
  the job's record, ``queued``, then starts ``python -m migrator.sandbox.jobs DIR JOB``
  detached (its own session; ``DIR/pids/job-<uuid>.pid``), so killing the CLI, its SSH
  channel or the operator's migrator leaves the job running;
- the job marks itself ``running``, reprovisions the zone (``peers.reprovision``) and
  ends ``succeeded`` or ``failed``, each stage a ``chain_results`` entry as VMAPI's
  workflow records them;
- the records live as files under ``DIR/headnode/records`` (``jobs/<uuid>.json``, every
  VM's list ``vm-jobs/<vm>.json``, newest first, and ``jobs.json``), which the headnode's
  ``sdc-vmapi`` answers from, in VMAPI's shape (uuid, name, execution, params,
  created_at, chain_results).

Decisions: one job at a time per zone (a second `sapiadm reprovision` of a zone with a
queued or running job is refused, as the headnode refuses a second job on a VM); a job
whose process died without ending it (`sandbox down`, SIGKILL) is read as ``failed``
("the job's process died"), since nothing will ever finish it. Fault injection for
tests: a zone UUID listed in ``DIR/headnode/reprovision-fails`` (one per line) gets
jobs that fail at their first stage, leaving the zone untouched. In a fleet sandbox DIR
is the fleet's top directory (the headnode's); the job reprovisions the zone in its
shard's directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrator.errors import MigratorError, Refused
from migrator.isotime import iso_now_ms
from migrator.sandbox import procs
from migrator.sandbox.config import (
    IMAGES,
    SandboxConfig,
    load_config,
    member_directory_of_zone,
)
from migrator.sandbox.peers import reprovision

TASK = "reprovision"
FAULTS_FILE = "reprovision-fails"
PENDING = ("queued", "running")
JOB_TIMEOUT = 3600  # seconds: VMAPI's `timeout` field, what the workflow allows a job


def records_dir(directory: Path) -> Path:
    return directory / "headnode" / "records"


def job_pid_file(directory: Path, job_uuid: str) -> Path:
    return directory / "pids" / f"job-{job_uuid}.pid"


def _put(path: Path, body: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body) + "\n")
    os.replace(tmp, path)  # a reader sees the old record or the new, never half


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer of the job records at a time (jobs of several zones may run)."""
    lock = records_dir(directory) / "jobs.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def all_jobs(directory: Path) -> list[dict[str, Any]]:
    """Every job record, newest first, each as VMAPI would show it now."""
    found = []
    for path in (records_dir(directory) / "jobs").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(_as_seen(directory, json.loads(path.read_text())))
    return sorted(found, key=lambda job: str(job.get("created_at")), reverse=True)


def _as_seen(directory: Path, job: dict[str, Any]) -> dict[str, Any]:
    """A job still ``queued``/``running`` whose process is gone will never end: failed."""
    if job.get("execution") == "running" \
            and procs.recorded_pid(job_pid_file(directory, str(job["uuid"]))) is None:
        return {**job, "execution": "failed",
                "chain_results": [*job.get("chain_results", []),
                                  {"result": "", "error": "the job's process died",
                                   "started_at": None, "finished_at": None}]}
    return job


def pending_jobs(directory: Path, zone: str) -> list[dict[str, Any]]:
    return [job for job in all_jobs(directory)
            if job["params"]["vm_uuid"] == zone and job["execution"] in PENDING]


def _publish(directory: Path) -> None:
    """Rewrite the lists ``sdc-vmapi`` answers from (call with the lock held)."""
    jobs = all_jobs(directory)
    records = records_dir(directory)
    _put(records / "jobs.json", jobs)
    by_vm: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        by_vm.setdefault(str(job["params"]["vm_uuid"]), []).append(job)
    for vm, listed in by_vm.items():
        _put(records / "vm-jobs" / f"{vm}.json", listed)


def _save(directory: Path, job: dict[str, Any]) -> None:
    with _locked(directory):
        _put(records_dir(directory) / "jobs" / f"{job['uuid']}.json", job)
        _publish(directory)


def _load(directory: Path, job_uuid: str) -> dict[str, Any]:
    loaded = json.loads((records_dir(directory) / "jobs" / f"{job_uuid}.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def start_reprovision_job(config: SandboxConfig, zone: str, version: str) -> dict[str, Any]:
    """Record a queued reprovision job of ``zone`` and start it detached; the job."""
    directory = config.directory
    with _locked(directory):
        running = pending_jobs(directory, zone)
        if running:
            raise Refused(
                f"VM {zone} already has a job {running[0]['execution']} "
                f"({running[0]['uuid']}); a second reprovision was not started.",
                "Wait for that job to end (`sdc-vmapi /jobs/<uuid>`).",
            )
        now = iso_now_ms()
        job_uuid = str(uuidlib.uuid4())
        job: dict[str, Any] = {"uuid": job_uuid, "name": f"{TASK}-{zone}", "task": TASK,
               "vm_uuid": zone, "execution": "queued",
               "params": {"vm_uuid": zone, "image_uuid": IMAGES[version], "task": TASK},
               "created_at": now, "exec_after": now, "timeout": JOB_TIMEOUT,
               "chain_results": []}
        _put(records_dir(directory) / "jobs" / f"{job['uuid']}.json", job)
        _publish(directory)
    procs.spawn(procs.python_argv("migrator.sandbox.jobs", str(directory), job_uuid, version),
                job_pid_file(directory, job_uuid),
                directory / "headnode" / "jobs.log", directory)
    return job


def wait_for_job(directory: Path, job: dict[str, Any]) -> dict[str, Any]:
    """Until the job's process (our child) exits; the job as it ended."""
    pid = procs.recorded_pid(job_pid_file(directory, job["uuid"]))
    if pid is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return _as_seen(directory, _load(directory, job["uuid"]))


def _stage(job: dict[str, Any], result: str, error: str, started: str) -> None:
    job["chain_results"].append({"result": result, "error": error, "started_at": started,
                                 "finished_at": iso_now_ms()})


def _faulty(directory: Path, zone: str) -> bool:
    try:
        listed = (directory / "headnode" / FAULTS_FILE).read_text().split()
    except OSError:
        return False
    return zone in listed


def run_job(directory: Path, job_uuid: str, version: str) -> int:
    """The job's own process: running, the reprovision, then succeeded or failed."""
    job = _load(directory, job_uuid)
    zone = str(job["params"]["vm_uuid"])
    # the starter records our pid only once its spawn returns: record it ourselves
    # before saying "running", or a reader would see a running job with no live
    # process and call it failed
    procs.write_pid_file(job_pid_file(directory, job_uuid), os.getpid())
    job["execution"] = "running"
    _save(directory, job)
    started = iso_now_ms()
    if _faulty(directory, zone):
        _stage(job, "", "image import failed (sandbox fault injected: "
                        f"headnode/{FAULTS_FILE})", started)
        job["execution"] = "failed"
        _save(directory, job)
        return 1
    try:
        # in a fleet sandbox the jobs are the headnode's (the top directory's) and the
        # zone is its shard's
        home = member_directory_of_zone(directory).get(zone, directory)
        done = reprovision(home, zone, version)
    except (MigratorError, OSError) as exc:
        message = exc.paragraph() if isinstance(exc, MigratorError) else str(exc)
        _stage(job, "", message, started)
        job["execution"] = "failed"
        _save(directory, job)
        return 1
    _stage(job, f"reprovisioned to {job['params']['image_uuid']}, zone started "
                f"(down {done['delay']:g} s)", "", started)
    job["execution"] = "succeeded"
    _save(directory, job)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write("usage: python -m migrator.sandbox.jobs DIR JOB_UUID VERSION\n")
        sys.exit(2)
    directory = Path(args[0])
    load_config(directory)  # a sandbox directory, or a clear error
    try:
        status = run_job(directory, args[1], args[2])
    finally:
        pid_file = job_pid_file(directory, args[1])
        if procs.recorded_pid(pid_file) == os.getpid():
            pid_file.unlink(missing_ok=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
