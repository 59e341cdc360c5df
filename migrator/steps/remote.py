"""Zone-side checks and actions: sitter log records, replication, versions, commands.

``ctx.remote`` is a ``migrator.remote.session.RemoteSession``; zones are named by
their original role (``original_sync``) or by zone id, resolved with
``ctx.zone``. At every step start a hook records the log offset of each zone
the step names (``ctx.marks["log:<zone>"]``), so ``log_record`` reads only what
was appended since — also after a resume, since marks are journalled.

Waiting: ``log_record`` follows the log live and returns at the first match.
``replication_synced`` re-reads ``manatee-adm status`` whenever the sync's log
moves, and at least every ``RECHECK`` seconds: catching up in postgres writes
nothing we could subscribe to over SSH, so that interval is the fallback.
"""

from __future__ import annotations

import functools
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from migrator.cluster.writability import Effect, ShardModel, Timing, while_down, zone_cycles
from migrator.errors import BadInput, MigratorError, Refused, StepFailed
from migrator.inventory.values import CommandTemplate, is_zone_id, validate_image
from migrator.record import field
from migrator.remote import localchild
from migrator.remote.bunyan import RecordMatch, format_record, level_number
from migrator.remote.commands import to_shell
from migrator.remote.errors import ConnectionDropped, ZoneUnreachable
from migrator.remote.loglevels import SitterEvidence
from migrator.remote.logs import LogMark
from migrator.remote.manatee_status import parse_status, replication_verdict
from migrator.remote.search import find_sitter_record
from migrator.remote.versions import at_least, reported_version
from migrator.remote.vmapi import ours
from migrator.stepkit.context import StepContext, read_shard
from migrator.stepkit.evidence import Evidence
from migrator.stepkit.hooks import on_step_start
from migrator.stepkit.registry import NoParams, Outcome, action, check
from migrator.stepkit.together import side_by_side
from migrator.steps.jobfollow import JobFollower

RECHECK = 1.0
ZONE_GROUPS = ("zones", "morays")


def _zone_ref(value: str) -> str:
    if not is_zone_id(value):
        raise ValueError(
            f"{value!r} is neither a role (original_primary, original_sync, original_async) "
            "nor a zone id"
        )
    return value


def _remote(ctx: StepContext) -> Any:
    if ctx.remote is None:
        raise BadInput(
            "This step needs to reach zones over SSH, but the run has no inventory.",
            "Pass --inventory FILE (see `migrator inventory format` for the format).",
        )
    return ctx.remote


def _mark_key(zone: str) -> str:
    return f"log:{zone}"


def _mark(ctx: StepContext, zone: str) -> Any:
    """The zone's log mark from the step start, recorded now if the step has none."""
    stored = ctx.marks.get(_mark_key(zone))
    if stored is not None:
        return LogMark.from_json(stored)
    mark = _remote(ctx).mark_log(zone)
    ctx.marks[_mark_key(zone)] = mark.to_json()
    return mark


@on_step_start
def mark_step_logs(ctx: Any, step: Any) -> None:
    """Record the sitter log offset of every manatee zone the step names."""
    if getattr(ctx, "remote", None) is None:
        return
    zones = [ctx.zone(ref) for ref in getattr(step, "zones", None) or []
             if ref not in ZONE_GROUPS]
    # every zone asked at once (a round trip each, at datacenter distance); recorded in
    # the step's order, and the first zone that could not be marked in that order raises
    marks = side_by_side([functools.partial(ctx.remote.mark_log, zone) for zone in zones],
                         "mark-logs")
    for zone, mark in zip(zones, marks, strict=True):
        if isinstance(mark, BaseException):
            raise mark
        ctx.marks[_mark_key(zone)] = mark.to_json()


# --- log_record -------------------------------------------------------------------------


def _level(value: str | int) -> str | int:
    level_number(value)
    return value


class LogRecordParams(NoParams):
    zone: str = field(check=_zone_ref)
    msg: str | None = None
    msg_prefix: str | None = None
    contains: str | None = None
    fields: dict[str, str | int | float | bool | None] = field(factory=dict)
    level: str | int | None = field(default=None, check=_level)

    def check_record(self) -> None:
        if not (self.msg or self.msg_prefix or self.contains or self.fields):
            raise ValueError("give at least one of msg, msg_prefix, contains or fields")


def _spec(ctx: StepContext, p: LogRecordParams) -> Any:
    # A field naming an original role (upstream: original_primary) means that zone.
    fields = {
        key: ctx.zone(value) if isinstance(value, str) and value.startswith("original_")
        else value
        for key, value in p.fields.items()
    }
    return RecordMatch(
        msg=p.msg, msg_prefix=p.msg_prefix, contains=p.contains, fields=fields,
        min_level=None if p.level is None else level_number(p.level),
    )


@check("log_record", LogRecordParams)
def log_record(ctx: StepContext, p: LogRecordParams, timeout: float) -> Outcome:
    """The zone's sitter log has a matching record since the step started.

    Only the records of the sitter writing the log now count, for the match and for
    its level (``remote.loglevels.SitterEvidence``): after a reprovision, a record
    the sitter before it left (before or since the step's start) neither matches nor
    says that the new one writes DEBUG records, whether the reprovision started a
    fresh log or appended to the old one.
    """
    zone = ctx.zone(p.zone)
    evidence = SitterEvidence.for_spec(_spec(ctx, p))
    mark = _mark(ctx, zone)
    found = find_sitter_record(_remote(ctx), mark, evidence, timeout)
    data = {"zone": zone, "bytes_read": found.bytes_read, "seconds": round(found.seconds, 3),
            "sitter_pid": evidence.sitter.pid}
    if found.record is None and evidence.hopeless:
        return Outcome(False, (
            f"{p.msg!r} is a DEBUG record and {zone}'s current sitter (pid "
            f"{evidence.sitter.pid}) writes no DEBUG records (it runs at info), so it will "
            "never be written and no INFO record stands in for it; run the sitter with -vvv "
            "(as Triton's SMF manifest does) or check by hand"), {**data, "log_level": "info"})
    instead = (f"{zone}'s sitter (pid {evidence.sitter.pid}) writes no DEBUG records, so "
               f"instead of {p.msg!r} this waited for {evidence.why}"
               if evidence.used_fallback else "")
    notes = f" ({'; '.join([*found.notes, *([instead] if instead else [])])})" if (
        found.notes or instead) else ""
    if found.record is None:
        waited = f" within {timeout:g} s" if timeout > 0 else ""
        return Outcome(
            False,
            f"{zone} logged no record where {evidence.describe()} since the step started"
            f"{waited}; read {found.bytes_read} bytes{notes}",
            data,
        )
    pretty = format_record(found.record)
    ctx.say(pretty)
    matched = evidence.fallback if evidence.used_fallback and evidence.fallback else (
        evidence.spec)
    return Outcome(True, f"{zone} logged: {matched.describe()}{notes}",
                   {**data, "record": pretty})


# --- replication_synced -----------------------------------------------------------------


class ReplicationParams(NoParams):
    primary: str = field(check=_zone_ref)
    sync: str = field(check=_zone_ref)
    # the zone to run manatee-adm in (default: the sync)
    on: str | None = field(default=None, check=_zone_ref)


def status_command(inventory: Any) -> str:
    """``env SHARD=.. ZK_IPS=.. <manatee_adm> status`` (env works for v1 and v2 manatee-adm)."""
    prefix = shlex.join(["env", f"SHARD={inventory.shard}", f"ZK_IPS={inventory.zookeeper}"])
    return f"{prefix} {inventory.commands.manatee_adm} status"


@check("replication_synced", ReplicationParams)
def replication_synced(ctx: StepContext, p: ReplicationParams, timeout: float) -> Outcome:
    """The primary streams synchronously to the expected sync, and it is caught up."""
    primary, sync = ctx.zone(p.primary), ctx.zone(p.sync)
    where = ctx.zone(p.on) if p.on else sync
    return status_until(ctx, where, lambda status: replication_verdict(status, primary, sync),
                        timeout)


def status_until(ctx: StepContext, where: str, judge: Callable[[Any], Any],
                 timeout: float) -> Outcome:
    """Read ``manatee-adm status`` in zone ``where`` until ``judge`` (a verdict from the
    parsed status) holds or ``timeout`` passes; looks again whenever the zone's log moves,
    else every ``RECHECK`` seconds."""
    remote = _remote(ctx)
    command = status_command(remote.inventory)
    deadline = time.monotonic() + max(timeout, 0.0)

    def look() -> Outcome:
        result = remote.run(where, command, reads_only=True)
        if not result.ok:
            said = result.stderr.decode("utf-8", "replace").strip()[-300:]
            return Outcome(False, f"`{command}` failed in {where} (exit status "
                                  f"{result.status}): {said}", {})
        verdict = judge(parse_status(result.text, ctx.shard))
        return Outcome(verdict.ok, verdict.reason, {"on": where})

    outcome = look()
    if outcome.ok or timeout <= 0:
        return outcome
    follower = _try_follow(remote, where)
    try:
        while time.monotonic() < deadline:
            step_end = min(deadline, time.monotonic() + RECHECK)
            if follower is not None:
                for _line in follower.lines(step_end):
                    break  # any activity in the sync's log: look again now
                if not follower.alive:
                    follower.close()
                    follower = _try_follow(remote, where)
            else:
                threading.Event().wait(max(0.0, step_end - time.monotonic()))
            outcome = look()
            if outcome.ok:
                return outcome
    finally:
        if follower is not None:
            follower.close()
    return outcome


def _try_follow(remote: Any, zone: str) -> Any:
    """A follower on the zone's log, or None when it cannot be followed (then: interval)."""
    try:
        return remote.follow(zone, remote.mark_log(zone))
    except MigratorError:
        return None


# --- zone_version -----------------------------------------------------------------------


class VersionParams(NoParams):
    zone: str | None = field(default=None, check=_zone_ref)
    zones: Literal["zones", "morays"] | None = None
    at_least: str = field(min_length=1)
    component: Literal["manatee", "moray"] | None = None

    def check_record(self) -> None:
        if (self.zone is None) == (self.zones is None):
            raise ValueError("give exactly one of `zone` or `zones` (zones | morays)")


def _version_of(ctx: StepContext, zone: str, component: str) -> str | None:
    result = _remote(ctx).run_template(zone, f"{component}_version")
    return reported_version(result.text) if result.ok else None


@check("zone_version", VersionParams, persistent=True)
def zone_version(ctx: StepContext, p: VersionParams, timeout: float) -> Outcome:
    """The zone(s) report a manatee (or Moray) version at least the one given."""
    remote = _remote(ctx)
    if p.zones is not None:
        table = remote.inventory.morays if p.zones == "morays" else remote.inventory.zones
        zones = list(table)
        component = p.component or ("moray" if p.zones == "morays" else "manatee")
        if not zones:
            return Outcome(True, f"the inventory lists no {p.zones}; nothing to check", {})
    else:
        zones = [ctx.zone(p.zone or "")]
        component = p.component or (
            "moray" if zones[0] in remote.inventory.morays else "manatee")
    seen: dict[str, str | None] = {}
    behind: list[str] = []
    for zone in zones:
        version = _version_of(ctx, zone, component)
        seen[zone] = version
        verdict = at_least(version, p.at_least) if version else None
        if verdict is not True:
            shown = version or "no version (the version command failed or printed nothing)"
            behind.append(f"{zone} reports {shown}"
                          + (" (not comparable)" if version and verdict is None else ""))
    if behind:
        return Outcome(False, f"{component} version below {p.at_least}: "
                              + "; ".join(behind), {"versions": seen})
    listed = ", ".join(f"{z} {v}" for z, v in seen.items())
    return Outcome(True, f"{component} at least {p.at_least}: {listed}", {"versions": seen})


# --- actions -------------------------------------------------------------------------------


class RunParams(NoParams):
    zone: str = field(check=_zone_ref)
    argv: list[str] | None = field(default=None, min_length=1)
    command: Literal["sitter_disable", "sitter_enable"] | None = None
    timeout: float | None = field(default=None, gt=0, le=86400)

    def check_record(self) -> None:
        if (self.argv is None) == (self.command is None):
            raise ValueError("give exactly one of `argv` (words, each quoted) or `command` "
                             "(sitter_disable | sitter_enable)")


def _command_text(ctx: StepContext, p: RunParams, zone: str) -> str:
    if p.argv is not None:
        return to_shell(p.argv)
    assert p.command is not None
    text = getattr(ctx.inventory.commands, p.command)
    return CommandTemplate(text).fill(zone=zone, shard=ctx.shard)


def _describe_run(ctx: StepContext, p: RunParams) -> str:
    zone = ctx.zone(p.zone)
    return f"run `{_command_text(ctx, p, zone)}` in {zone}"


def _run_evidence(ctx: StepContext, p: RunParams, intent: dict[str, Any]) -> Any:
    """A command in a zone leaves no trace to judge by; enabling or disabling the sitter
    sets a state, so running it again is harmless."""

    zone = ctx.zone(p.zone)
    return Evidence("run_command", zone=zone, begun="command" in intent,
                    command=str(intent.get("command") or _command_text(ctx, p, zone)),
                    idempotent=p.command is not None)


def _run_zone_commands(inventory: Any, p: RunParams) -> Sequence[str]:
    if p.argv is not None:
        return (to_shell(p.argv),)
    return (str(getattr(inventory.commands, str(p.command))),)


@action("run_command", RunParams, describe=_describe_run, resume=_run_evidence,
        zone_commands=_run_zone_commands)
def run_command(ctx: StepContext, p: RunParams) -> Outcome:
    """Run a command in a zone (every argument quoted); fail on a non-zero exit."""
    zone = ctx.zone(p.zone)
    _mark(ctx, zone)
    text = _command_text(ctx, p, zone)
    _record_intent(ctx, zone=zone, command=text)
    result = _remote(ctx).run(zone, text, timeout=p.timeout).require_ok()
    output = result.text.strip()
    return Outcome(True, f"ran `{text}` in {zone}" + (f": {output[-500:]}" if output else ""),
                   {"zone": zone, "status": result.status, "stdout": output[-4000:]})


def _record_intent(ctx: StepContext, **fields: Any) -> None:
    record = getattr(ctx, "record_intent", None)
    if record is not None:
        record(**fields)


def election_nodes(ctx: StepContext, zone: str) -> list[str]:
    """The election nodes the zone holds now (a restarted sitter holds a new one); none
    known in a context without ZooKeeper."""

    if ctx.zk is None:
        return []
    snap = read_shard(ctx)
    return [n.name for n in snap.topology.nodes if n.data.get("zoneId") == zone]


def _image_ref(value: str) -> str:
    try:
        return validate_image(value)
    except BadInput as exc:
        raise ValueError(exc.message) from None


class ReprovisionParams(NoParams):
    zone: str = field(check=_zone_ref)
    to: Literal["migrate_to", "roll_back_to"] = "migrate_to"
    # overrides the inventory's version
    image: str | None = field(default=None, check=_image_ref)
    timeout: float = field(default=3600.0, gt=0, le=86400)


def _missing_image(inventory: Any, p: ReprovisionParams) -> Sequence[str]:
    """The reprovision's target image, when neither the step nor the inventory gives it."""
    if p.image or getattr(inventory.versions, p.to):
        return ()
    return (f"the inventory gives no `versions.{p.to}` to reprovision to: add `versions: "
            f"{{{p.to}: IMAGE}}` (an image UUID or version; `migrator inventory discover "
            "--migrate-to` finds it)",)


def _image(ctx: StepContext, p: ReprovisionParams) -> str:
    image = p.image or getattr(ctx.inventory.versions, p.to)
    if not image:
        raise BadInput(
            f"The inventory gives no `versions.{p.to}` to reprovision to.",
            f"Add `versions: {{{p.to}: IMAGE}}` to the inventory (an image UUID or version).",
        )
    return str(image)


def _describe_reprovision(ctx: StepContext, p: ReprovisionParams) -> str:
    zone, image = ctx.zone(p.zone), _image(ctx, p)
    spec = ctx.inventory.commands.reprovision
    values = {"zone": zone, "image": image, "shard": ctx.shard}
    where = {"local": "on this machine", "headnode": "on the headnode",
             "zone": f"in {zone}"}[spec.run_on]
    return f"reprovision {zone} to {image}: run `{spec.template.fill(**values)}` {where}"


def child_of(intent: dict[str, Any], state_of: Callable[[dict[str, Any]], str]
             ) -> tuple[str, str]:
    """The state of a reprovision's child as its intent tells it, and how to name it.

    ``state_of`` judges a journalled local child (alive or gone, on this machine). A
    local child is released only once its pid is journalled (``localchild``'s gate):
    an intent with ``runOn: local`` and no pid means the run died before releasing
    it, and the child exited without running anything."""
    pid = intent.get("pid")
    if isinstance(pid, int):
        label = f"pid {pid} (process group {intent.get('pgid')}) on {intent.get('host')}"
        return (state_of(intent) if intent.get("runOn") == "local" else "unknown"), label
    if never_released(intent):
        return "gone", "never released: its pid was not journalled"
    return "unknown", ""


def never_released(intent: dict[str, Any]) -> bool:
    """A local reprovision whose child was never let run (``child_of``): it ran nothing."""
    return intent.get("runOn") == "local" and not isinstance(intent.get("pid"), int)


def _reprovision_evidence(ctx: StepContext, p: ReprovisionParams, intent: dict[str, Any]
                          ) -> Any:
    """What the zone, the election, this machine and the headnode say now (see
    ``migrator.engine.inflight``)."""

    zone = ctx.zone(p.zone)
    image = str(intent.get("image") or _image(ctx, p))
    remote = _remote(ctx)
    version: str | None = None
    reachable: bool | None
    try:
        version = _version_of(ctx, zone, "manatee")
        reachable = True
    except MigratorError:
        reachable = False
    nodes = election_nodes(ctx, zone)
    recorded = intent.get("electionNodes")
    before = set(recorded or [])
    child, label = child_of(intent, localchild.child_state)
    jobs, _why_not = remote.reprovision_jobs(zone)
    jobs_before = intent.get("jobsBefore")
    found = None if jobs is None else ours(
        jobs, jobs_before if isinstance(jobs_before, list) else None, intent.get("started"))
    # "no job since the intent" only counts against the uuids the intent recorded: a
    # time comparison alone could miss our job on a headnode whose clock is behind
    answered = jobs is not None and isinstance(jobs_before, list)
    job = "unknown" if jobs is not None else remote.reprovision_job(zone)
    return Evidence(
        "reprovision", zone=zone, target=image, begun=recorded is not None,
        from_version=intent.get("fromVersion"), version=version, reachable=reachable,
        child=child,  # type: ignore[arg-type]
        child_label=label,
        released=False if never_released(intent) or localchild.refused_at_gate(intent)
        else None,
        job=job,  # type: ignore[arg-type]
        vmapi_answered=answered, vmapi_job=found, intent_age=_age(intent.get("started")),
        in_election=bool(nodes),
        new_session=bool(set(nodes) - before) if nodes and recorded is not None else None,
    )


def _age(started: Any) -> float | None:
    """Seconds since an intent's ``started`` (ISO, the clock of the machine that wrote
    it), or None."""
    try:
        then = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
    except ValueError:
        return None
    age = (datetime.now(UTC) - then).total_seconds()
    return age if age >= 0 else None  # another machine's clock ahead of ours: unknown


def _reprovision_effect(model: ShardModel, p: ReprovisionParams,
                        zone_of: Callable[[str], str | None], timing: Timing) -> Effect:
    zone = zone_of(p.zone)
    if zone is None:
        return while_down(model, timing.session_timeout), model
    return zone_cycles(model, zone, p.to == "roll_back_to", timing)


def _reprovision_runs(where: str) -> Callable[[Any, ReprovisionParams], Sequence[str]]:
    """The reprovision command, when the inventory runs it ``where`` (zone or local)."""
    def commands(inventory: Any, _p: ReprovisionParams) -> Sequence[str]:
        spec = inventory.commands.reprovision
        return (spec.command,) if spec.run_on == where else ()

    return commands


@action("reprovision", ReprovisionParams, describe=_describe_reprovision,
        resume=_reprovision_evidence, always_confirmed=True, takes_zone_down=True,
        effect=_reprovision_effect, zone_commands=_reprovision_runs("zone"),
        local_commands=_reprovision_runs("local"), inventory_needs=_missing_image)
def reprovision(ctx: StepContext, p: ReprovisionParams) -> Outcome:
    """Reprovision a zone to the inventory's target (or rollback) image.

    Not idempotent: before anything happens the intent (zone, image, the version it
    runs, its election node, where the command runs, the uuids of the zone's
    reprovision jobs VMAPI lists) is journalled, and a local child's pid too before it
    is let run; a resume decides from that, VMAPI's jobs and the live zone whether it
    happened (``migrator.engine.inflight``). A reprovision job of the zone under way
    (VMAPI's ``commands.reprovision_jobs``, else ``commands.reprovision_status``)
    refuses a second one. While it runs, the job's execution is shown as it changes;
    a failure names the job and its error.
    """

    zone, image = ctx.zone(p.zone), _image(ctx, p)
    remote = _remote(ctx)
    current: str | None = None
    try:
        _mark(ctx, zone)
        current = _version_of(ctx, zone, "manatee")
    except (ZoneUnreachable, ConnectionDropped) as exc:
        # A zone that is down (e.g. a reprovision interrupted earlier) can still be
        # reprovisioned from the headnode; its new log is read from the start.
        ctx.say(f"  {zone} cannot be reached before reprovisioning ({exc.message})")
    if current == image:
        # The zone already runs exactly what we would install.
        return Outcome(True, f"{zone} already runs {image}; not reprovisioned",
                       {"zone": zone, "image": image, "skipped": True})
    jobs, why_not = remote.reprovision_jobs(zone)
    if jobs is None and remote.inventory.commands.reprovision_jobs \
            and remote.inventory.commands.reprovision.run_on == "headnode":
        # said, not hidden: the intent then holds no list of the jobs before it, and a
        # resume after an interruption cannot tell this run's job apart by its uuid
        ctx.say(f"  VMAPI's reprovision jobs of {zone} could not be listed ({why_not}); "
                "reprovisioning without them: a resume after an interruption would judge "
                "from the zone and `commands.reprovision_status` alone")
    under_way = [job for job in jobs or [] if job.under_way]
    if under_way:
        raise Refused(
            f"VMAPI lists a reprovision {under_way[0].describe()} of {zone}; a second one "
            "was not started.",
            "Wait for that job to end and look at the zone; then `migrator resume` goes on "
            "from what it finds.",
        )
    if jobs is None and remote.reprovision_job(zone) == "running":
        raise Refused(
            f"A reprovision job of {zone} is already running (commands.reprovision_status "
            "says so); a second one was not started.",
            "Wait for it to end and look at the zone; then `migrator resume` goes on from "
            "what it finds.",
        )
    spec = remote.inventory.commands.reprovision
    known = None if jobs is None else [job.uuid for job in jobs]
    _record_intent(ctx, zone=zone, image=image, fromVersion=current, runOn=spec.run_on,
                   electionNodes=election_nodes(ctx, zone),
                   **({} if known is None else {"jobsBefore": known}))
    follower = JobFollower(ctx, remote, zone, known)
    with follower:
        result = remote.reprovision(
            zone, image, timeout=p.timeout,
            on_started=lambda child: _record_intent(ctx, **child.to_json()))
    job = follower.last
    if not result.ok:
        job = follower.look() or job
        said = result.stderr.decode("utf-8", "replace").strip()[-500:]
        raise StepFailed(
            f"Reprovisioning {zone} to {image} failed (`{result.command}`, exit status "
            f"{result.status}){': ' + said if said else ''}"
            + (f"; the headnode's {job.describe()}" if job is not None else "") + ".",
            "Look at the zone and the reprovision output"
            + (f" (`sdc-vmapi /jobs/{job.uuid}` on the headnode)" if job is not None else "")
            + "; rerun `migrator resume` once fixed.",
        )
    return Outcome(True, f"reprovisioned {zone} to {image}",
                   {"zone": zone, "image": image, "from": current,
                    **({} if job is None else {"job": job.uuid}),
                    "stdout": result.text.strip()[-4000:]})
