"""A zone's reprovision jobs as VMAPI lists them: the evidence Triton keeps (pure).

`sapiadm reprovision` starts a VMAPI workflow job, which runs to its end whatever
happens to the CLI or its SSH session. ``commands.reprovision_jobs`` (by default
``sdc-vmapi "/jobs?task=reprovision&vm_uuid="{zone}`` on the headnode) lists a zone's
jobs; this module reads that answer into ``VmapiJob`` values and picks the one a
reprovision of ours started.

Decisions:

* Which job is ours: the intent journalled before the reprovision lists the uuids of
  the zone's reprovision jobs VMAPI knew then (``jobsBefore``); a job not among them
  was created after it. Comparing uuids, not times, keeps a skewed clock between the
  operator's machine and the headnode from mattering. A journal from before that
  field falls back to ``created_at`` not earlier than the intent's time.
* ``queued``, ``running`` and ``waiting`` are under way; ``succeeded`` is done; every
  other execution (``failed``, ``canceled``, ``retried`` or one this tool does not
  know) ended without success, and a resume asks before starting another.
* A job another task lists (the template may not filter) is left out; a job whose
  uuid is not a UUID, or an answer that is not a list of objects, is ``Unparseable``.
* The job's error is the last non-empty ``chain_results`` error, cut to 300
  characters (it is shown to the operator, made inert there).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from migrator.inventory.values import UUID_RE
from migrator.remote.headnode_answer import Unparseable, found_json

UNDER_WAY = frozenset({"queued", "running", "waiting"})
ERROR_CHARS = 300


@dataclass(frozen=True)
class VmapiJob:
    uuid: str
    execution: str
    created_at: str
    error: str | None = None

    @property
    def under_way(self) -> bool:
        return self.execution in UNDER_WAY

    @property
    def succeeded(self) -> bool:
        return self.execution == "succeeded"

    def describe(self) -> str:
        said = f"job {self.uuid} {self.execution} (created {self.created_at})"
        return said + (f": {self.error}" if self.error and not self.succeeded else "")


def _task_of(job: dict[str, Any]) -> str | None:
    params = job.get("params")
    for value in (job.get("task"), params.get("task") if isinstance(params, dict) else None):
        if isinstance(value, str):
            return value
    name = job.get("name")
    if isinstance(name, str) and "-" in name:
        return name.split("-", 1)[0]
    return None


def _error_of(job: dict[str, Any]) -> str | None:
    found = None
    for results in (job.get("chain_results"), job.get("onerror_results")):
        if isinstance(results, list):
            for result in results:
                error = result.get("error") if isinstance(result, dict) else None
                if error:
                    found = error if isinstance(error, str) else str(error)
    return None if found is None else found[:ERROR_CHARS]


def parse_jobs(text: str) -> list[VmapiJob]:
    """The reprovision jobs in a ListJobs answer, newest first."""
    body = found_json(text, "the zone's jobs")
    if not isinstance(body, list):
        raise Unparseable("a job list that is not a JSON array")
    jobs = []
    for item in body:
        if not isinstance(item, dict):
            raise Unparseable("a job that is not a JSON object")
        task = _task_of(item)
        if task is not None and task != "reprovision":
            continue
        uuid, execution = item.get("uuid"), item.get("execution")
        if not isinstance(uuid, str) or not UUID_RE.fullmatch(uuid):
            raise Unparseable(f"a job uuid {uuid!r} that is not a UUID")
        if not isinstance(execution, str) or not execution.isalpha() or len(execution) > 20:
            raise Unparseable(f"job {uuid}: an execution {execution!r} that is not a word")
        created = item.get("created_at")
        jobs.append(VmapiJob(uuid, execution, created if isinstance(created, str) else "",
                             _error_of(item)))
    return sorted(jobs, key=lambda job: job.created_at, reverse=True)


def ours(jobs: list[VmapiJob], before: Collection[str] | None, since: str | None
         ) -> VmapiJob | None:
    """The newest job created after the intent (see the module docstring), or None."""
    for job in jobs:  # newest first
        if before is not None:
            if job.uuid not in before:
                return job
        elif since is not None and job.created_at >= since:
            return job
    return None
