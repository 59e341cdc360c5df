"""VMAPI's ListJobs answer read into jobs, and which job a reprovision of ours started."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.remote.headnode_answer import Unparseable
from migrator.remote.vmapi import VmapiJob, ours, parse_jobs

pytestmark = pytest.mark.unit

VM = "4744e951-4c97-41ca-a0cb-920ba55e0d46"
OLD = "11111111-2222-4333-8444-555555555555"
NEW = "6ad3a288-31cf-44e0-8d18-9b3f2a031067"
HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: sandbox\r\n\r\n"


def answer(jobs: list[dict[str, object]], head: str = HEAD) -> str:
    return head + json.dumps(jobs) + "\n"


def vmapi_job(uuid: str, execution: str, created: str, **more: object) -> dict[str, object]:
    return {"uuid": uuid, "name": f"reprovision-{VM}", "execution": execution,
            "params": {"vm_uuid": VM, "task": "reprovision"}, "created_at": created,
            "chain_results": [], **more}


def test_jobs_are_read_newest_first_with_their_last_error() -> None:
    text = answer([
        vmapi_job(OLD, "succeeded", "2026-12-01T10:00:00.000Z"),
        vmapi_job(NEW, "failed", "2026-12-06T18:00:00.000Z", chain_results=[
            {"result": "OK", "error": "", "started_at": "x", "finished_at": "y"},
            {"result": "", "error": "image import failed", "started_at": "x",
             "finished_at": "y"}]),
    ])
    jobs = parse_jobs(text)
    assert [j.uuid for j in jobs] == [NEW, OLD]
    assert jobs[0] == VmapiJob(NEW, "failed", "2026-12-06T18:00:00.000Z",
                               "image import failed")
    assert jobs[0].describe() == (f"job {NEW} failed (created 2026-12-06T18:00:00.000Z): "
                                  "image import failed")
    assert jobs[1].succeeded and not jobs[1].under_way
    # a bare body (another wrapper, or `| json -H`) reads the same
    assert parse_jobs(json.dumps([vmapi_job(OLD, "running", "t")]))[0].under_way


def test_jobs_of_other_tasks_are_left_out_and_an_empty_list_is_no_job() -> None:
    start = {**vmapi_job(OLD, "running", "t"), "params": {"vm_uuid": VM, "task": "start"}}
    named = {"uuid": NEW, "name": f"stop-{VM}", "execution": "running", "created_at": "t"}
    assert parse_jobs(answer([start, named])) == []
    assert parse_jobs(answer([])) == []


@pytest.mark.parametrize(("text", "words"), [
    ("HTTP/1.1 404 Not Found\r\n\r\n{\"code\":\"ResourceNotFound\",\"message\":\"no\"}",
     "HTTP 404"),
    (answer([]).replace("[]", "{}"), "not a JSON array"),
    (HEAD + "[1]", "not a JSON object"),
    (answer([vmapi_job("../../etc", "running", "t")]), "is not a UUID"),
    (answer([vmapi_job(NEW, "running; rm -rf /", "t")]), "not a word"),
    (HEAD + "[" * 100000, "not JSON"),
])
def test_an_answer_that_is_not_a_job_list_is_unparseable(text: str, words: str) -> None:
    with pytest.raises(Unparseable, match=words.replace("(", r"\(")):
        parse_jobs(text)


def test_ours_is_the_newest_job_the_intent_did_not_know() -> None:
    jobs = [VmapiJob(NEW, "running", "2026-12-06T18:00:00.000Z"),
            VmapiJob(OLD, "failed", "2026-12-01T10:00:00.000Z")]
    assert ours(jobs, [OLD], None) == jobs[0]
    assert ours(jobs, [NEW, OLD], None) is None  # both known: nothing began since
    assert ours(jobs[1:], [OLD], "2099-01-01T00:00:00.000Z") is None  # uuids decide
    # a journal from before `jobsBefore`: the intent's time decides
    assert ours(jobs, None, "2026-12-06T17:59:00.000Z") == jobs[0]
    assert ours(jobs, None, "2026-12-06T18:00:01.000Z") is None
    assert ours(jobs, None, None) is None


@given(st.lists(st.sampled_from([OLD, NEW]), unique=True),
       st.lists(st.sampled_from(["queued", "running", "succeeded", "failed"]), min_size=2,
                max_size=2))
def test_a_job_the_intent_knew_is_never_taken_for_ours(known: list[str],
                                                       executions: list[str]) -> None:
    jobs = [VmapiJob(NEW, executions[0], "2026-12-06T18:00:00.000Z"),
            VmapiJob(OLD, executions[1], "2026-12-01T10:00:00.000Z")]
    found = ours(jobs, known, None)
    assert found is None or found.uuid not in known
    assert (found is None) == (set(known) == {OLD, NEW})
