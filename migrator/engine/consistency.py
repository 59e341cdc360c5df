"""Does the journal agree with the cluster? Never guess when it does not."""

from __future__ import annotations

from collections.abc import Mapping

from migrator.cluster.shard import ShardSnapshot
from migrator.engine.journal import Journal
from migrator.errors import Refused
from migrator.stepkit.registry import Outcome
from migrator.stepkit.schema import Playbook


class JournalDisagrees(Refused):
    """The journal implies a cluster that is not the one we see."""


def conflicts(
    journal: Journal, snapshot: ShardSnapshot, playbook: Playbook,
    observed: Mapping[str, Outcome | None], kind: str = "migration",
) -> list[str]:
    found: list[str] = []
    known = {p.peer_id for p in journal.original.peers}
    if snapshot.state is not None:
        for role, peer in snapshot.state.peers_with_roles():
            if peer.id not in known:
                found.append(
                    f"/state names {peer.zone_id} ({peer.id}) as {role}, but that zone is not "
                    "in the topology the journal captured"
                )
    run = journal.run(kind)
    if run is None:
        return found
    ids = [s.id for s in playbook.steps]
    # only steps whose done-check the cluster can show: not ones the operator vouched for
    # (done_when: [], or an operator confirmation standing in for a check)
    done = [
        i for i in ids
        if run.step(i).status == "done" and playbook.step(i).done_checks
        and not run.step(i).outputs.get("confirmed")
    ]
    if done:
        last = done[-1]
        position = ids.index(last)
        later = ids[position + 1:]
        seen = observed.get(last)
        if seen is not None and not seen.ok and not any(
            (o := observed.get(i)) is not None and o.ok for i in later
        ):
            found.append(
                f"the journal records step {last} as done, but its done-check fails now "
                f"({seen.detail}) and no later step's holds"
            )
    return found


def require_agreement(
    journal: Journal, snapshot: ShardSnapshot, playbook: Playbook,
    observed: Mapping[str, Outcome | None], kind: str = "migration",
    rollback_command: str = "migrator rollback --inventory INVENTORY",
) -> None:
    found = conflicts(journal, snapshot, playbook, observed, kind)
    if found:
        raise JournalDisagrees(
            f"The migration journal of shard {snapshot.shard} disagrees with the cluster: "
            + "; ".join(found) + ". Nothing was done.",
            "Someone or something (a ZooKeeper session expiry, a sitter restarted by hand) "
            "changed the shard outside this run. Look with `migrator status` and `migrator "
            "history` and decide what happened; then repair by hand, or roll back with "
            f"`{rollback_command}` (`migrator plan --rollback` shows what it would do). The "
            "engine will not guess.",
        )
