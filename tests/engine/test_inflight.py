"""The pure decision on an action left in flight: evidence in, verdict out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.engine.inflight import decide, describe_evidence
from migrator.remote.vmapi import VmapiJob
from migrator.stepkit.evidence import Evidence

pytestmark = pytest.mark.unit

ZONE = "d0c715ab-1d55-43cd-88f2-f6bfe3960683"
BASE = Evidence("reprovision", zone=ZONE, target="2.1.1", from_version="1.0.0",
                version="1.0.0", reachable=True, child="unknown", child_label="",
                job="unknown", in_election=True, new_session=False)
CHILD = "pid 4242 (process group 4242) on ops1"
NEVER = "never released: its pid was not journalled"
JOB = "6ad3a288-31cf-44e0-8d18-9b3f2a031067"


def job(execution: str, error: str | None = None) -> VmapiJob:
    return VmapiJob(JOB, execution, "2026-12-06T18:00:00.000Z", error)


@pytest.mark.parametrize(("changes", "verdict", "words"), [
    # a reprovision still running: wait for it, whatever else is seen
    ({"child": "alive", "child_label": CHILD, "in_election": False}, "wait", "still running"),
    ({"child": "alive", "child_label": CHILD, "version": "2.1.1", "new_session": True},
     "wait", "pid 4242"),
    ({"job": "running"}, "wait", "headnode reports"),
    # done: at the target and back under a new session; or it was there before
    ({"version": "2.1.1", "new_session": True, "child": "gone", "child_label": CHILD},
     "done", "rejoined the election after"),
    ({"version": "2.1.1", "from_version": "2.1.1"}, "done", "already ran 2.1.1"),
    # at the target but the sitter not back yet: wait
    ({"version": "2.1.1", "in_election": False, "new_session": None}, "wait", "not rejoined"),
    # the zone is down or unreachable and nothing says the job ended: wait
    ({"in_election": False, "new_session": None}, "wait", "out of the election"),
    ({"reachable": False, "version": None}, "wait", "cannot be reached"),
    # ... but a local child that ended leaves nobody at work on it: ask
    ({"in_election": False, "new_session": None, "child": "gone", "child_label": CHILD},
     "ask", "stopped part-way"),
    # untouched zone and the child gone (or killed before it was let run): never happened
    ({"child": "gone", "child_label": CHILD}, "redo", "never happened"),
    # a local child never let run ran nothing, even with the zone's sitter down (a
    # rollback disables every sitter before it reprovisions)
    ({"in_election": False, "new_session": None, "child": "gone", "child_label": NEVER,
      "released": False}, "redo", "having run nothing"),
    ({"reachable": False, "version": None, "child": "gone", "child_label": NEVER,
      "released": False}, "redo", "never began"),
    ({"job": "idle"}, "redo", "no reprovision job running"),
    # no evidence either way: ask
    ({}, "ask", "nothing shows"),
    ({"new_session": True}, "ask", "nothing shows"),
    ({"version": None}, "ask", "did not say its version"),
    # killed after `acting` was journalled but before the action wrote its intent
    ({"begun": False, "new_session": None}, "redo", "before the action began"),
    # VMAPI's job created after the intent is Triton's own record: it outranks the zone
    ({"vmapi_answered": True, "vmapi_job": job("queued"), "in_election": False},
     "wait", f"job {JOB} queued"),
    ({"vmapi_answered": True, "vmapi_job": job("running"), "version": "2.1.1",
      "new_session": True}, "wait", f"job {JOB} running"),
    ({"vmapi_answered": True, "vmapi_job": job("succeeded"), "new_session": None,
      "in_election": False}, "done", f"job {JOB} succeeded"),
    ({"vmapi_answered": True, "vmapi_job": job("failed", "image import failed")},
     "ask", "failed (created 2026-12-06T18:00:00.000Z): image import failed"),
    ({"vmapi_answered": True, "vmapi_job": job("canceled"), "in_election": False},
     "ask", "ended without success"),
    # VMAPI answers and lists none since the intent: the reprovision never began, even
    # with the zone down (its sitter stopped by hand, say) ...
    ({"vmapi_answered": True}, "redo", "never began"),
    ({"vmapi_answered": True, "intent_age": 45.0}, "redo", "never began"),
    ({"vmapi_answered": True, "in_election": False, "new_session": None}, "redo",
     "never began"),
    # ... once the command the last run started has had time to create its job
    ({"vmapi_answered": True, "intent_age": 3.0}, "wait", "may still be creating it"),
    # ... unless the zone is at the target under a new session (someone else did it)
    ({"vmapi_answered": True, "version": "2.1.1", "new_session": True}, "done",
     "rejoined the election after"),
])
def test_reprovision_verdicts(changes: dict[str, object], verdict: str, words: str) -> None:
    decision = decide(replace(BASE, **changes))  # type: ignore[arg-type]
    assert decision.verdict == verdict, decision.reason
    assert words in decision.reason
    if verdict == "ask":
        assert decision.look_at, "an ask must say what to look at"


def test_commands_are_asked_unless_they_set_a_state() -> None:
    cmd = Evidence("run_command", zone=ZONE, command="manatee-adm rebuild -y")
    assert decide(replace(cmd, begun=False)).verdict == "redo"
    asked = decide(cmd)
    assert asked.verdict == "ask" and "manatee-adm rebuild -y" in asked.reason
    assert any("sitter log" in x for x in asked.look_at)
    assert decide(replace(cmd, idempotent=True, command="sitter-ctl enable")).verdict == "redo"


def test_the_interrupted_state_is_described_in_one_sentence() -> None:
    text = describe_evidence(replace(BASE, child="alive", child_label=CHILD,
                                     in_election=False, new_session=None))
    assert text == (f"{ZONE}: runs 1.0.0 (target 2.1.1), is out of the election (its sitter "
                    f"is down), the reprovision ({CHILD}) is still running.")


evidence = st.builds(
    Evidence, st.just("reprovision"), begun=st.booleans(), zone=st.just(ZONE),
    target=st.just("2.1.1"),
    from_version=st.sampled_from([None, "1.0.0", "2.1.1"]),
    version=st.sampled_from([None, "1.0.0", "2.1.1"]),
    reachable=st.sampled_from([None, True, False]),
    child=st.sampled_from(["alive", "gone", "unknown"]), child_label=st.just(CHILD),
    released=st.sampled_from([None, False]),
    job=st.sampled_from(["running", "idle", "unknown"]),
    vmapi_answered=st.booleans(),
    vmapi_job=st.sampled_from([None, *(job(x) for x in ("queued", "running", "waiting",
                                                         "succeeded", "failed", "canceled",
                                                         "retried"))]),
    in_election=st.sampled_from([None, True, False]),
    new_session=st.sampled_from([None, True, False]),
    intent_age=st.sampled_from([None, 3.0, 45.0]),
)


@given(evidence)
def test_never_a_second_reprovision_while_one_runs_nor_done_off_target(e: Evidence) -> None:
    decision = decide(e)
    vmapi = e.vmapi_job
    if e.child == "alive" or e.job == "running" or (vmapi is not None and vmapi.under_way):
        assert decision.verdict == "wait"
    if decision.verdict == "done":
        assert e.version == e.target or (vmapi is not None and vmapi.succeeded)
    if vmapi is not None and not vmapi.under_way and not vmapi.succeeded and e.begun:
        # a job that ended without success is never redone unasked (waited for while
        # something else says a reprovision is at work)
        assert decision.verdict in ("ask", "wait")
    if decision.verdict == "redo" and e.begun:
        # only with positive evidence that nothing happened: VMAPI lists no job since the
        # intent, or the zone is untouched and nobody is at work on it
        if vmapi is None and e.vmapi_answered:
            assert e.intent_age is None or e.intent_age >= 30  # the job had time to appear
            return
        if e.child == "gone" and e.released is False:
            return  # a local child never let run: it ran nothing
        assert e.version not in (None, e.target) and e.in_election and e.new_session is False
        assert e.child == "gone" or e.job == "idle"


def test_a_local_child_never_journalled_was_never_released() -> None:
    """The local child's gate: no pid in the intent means it never ran, so an untouched
    zone is simply reprovisioned again (the run died between the intent and the pid)."""
    from migrator.steps.remote import child_of, never_released

    def alive(_intent: dict[str, object]) -> str:
        return "alive"

    local = {"runOn": "local", "zone": ZONE, "image": "2.1.1", "electionNodes": []}
    child, label = child_of(local, alive)
    assert (child, label) == ("gone", NEVER) and never_released(local)
    assert decide(replace(BASE, child="gone", child_label=label)).verdict == "redo"
    # with its sitter down too (a rollback's reprovision): it still ran nothing
    down = replace(BASE, child="gone", child_label=label, released=False, in_election=False,
                   new_session=None)
    assert decide(down).verdict == "redo"
    assert decide(replace(down, released=None)).verdict == "ask"  # released: it may have run
    started = {**local, "pid": 4242, "pgid": 4242, "host": "ops1"}
    assert child_of(started, alive) == ("alive", CHILD) and not never_released(started)
    # a headnode's reprovision has no local child to judge
    assert child_of({"runOn": "headnode"}, alive) == ("unknown", "")
    assert child_of({"runOn": "headnode", "pid": 4242, "pgid": 4242, "host": "ops1"},
                    alive) == ("unknown", CHILD)
