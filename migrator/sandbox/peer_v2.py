"""The v2 peer: manatee-state-machine's lib/manatee-peer.js, re-expressed.

The algorithm (evalClusterState and friends) and the records it logs follow
upstream so that the runbook's signals match (see manatee-observed.md); the
ZooKeeper side is ``PeerZk`` and postgres is ``SimPostgres``.

Where the sandbox differs from upstream, on purpose:
  - ``deposed_mode``: "deposed" (current manatee) puts the old primary in
    ``deposed`` at a takeover, and it comes back as ``deposed``; "async" (what the
    runbook's 2014 output shows) leaves it out of ``deposed`` (the key is omitted
    when empty), so on return the new primary appends it to ``async``.
  - one node: a sandbox of one zone runs its sitter as a singleton (manatee's
    ``oneNodeWriteMode`` sitter configuration). As upstream, every /state read is
    validated (``validate_zk_state``): a ``sync`` of null outside one-node-write
    mode is a fatal error, and so is a singleton finding a normal-mode state. A
    fatal error writes a bunyan FATAL record with upstream's message and the
    sitter process exits (upstream's peer emits ``error`` and nothing handles
    it); the zone's supervisor restarts it as SMF would (``supervisor.py``).
  - postgres reconfiguration is synchronous (the simulator answers at once), so the
    "already transitioning" and pg retry paths do not arise.
  - promotions (the ``promote`` object) and the transition out of one-node-write
    mode are not simulated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from migrator.isotime import iso_now_ms
from migrator.sandbox.bunyan import FATAL, BunyanLog, error_field, inspect
from migrator.sandbox.pgapi import Postgres
from migrator.sandbox.pgsim import PgConfig, parse_lsn
from migrator.sandbox.zkpeer import ActiveNode, PeerZk, unique_actives

PRIMARY, SYNC, ASYNC, UNASSIGNED, DEPOSED, UNKNOWN = (
    "primary", "sync", "async", "unassigned", "deposed", "unknown"
)
BACKOFF_SECONDS = 1.0
KNOWN_BACKOFF_ERRORS = ("PeerNotCaughtUpError", "PostgresOfflineError", "ClusterFrozenError")

Schedule = Callable[[float, Callable[[], None]], None]


class InvalidState:
    """A /state that could not be parsed as JSON at all (the reason says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


_HOST_FIELDS = ("id", "ip", "pgUrl", "zoneId")


def _host_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, dict):
        return f'property "{name}": must be an object'
    for key in _HOST_FIELDS:
        if not isinstance(value.get(key), str):
            return f'property "{name}.{key}": is missing and it is required (a string)'
    return None


def validate_zk_state(state: Any) -> str | None:
    """Upstream's validateZkState, re-expressed: the problem, or None when valid.

    Required: an object with a number ``generation``, a host ``primary`` (id, ip,
    pgUrl and zoneId strings), an ``async`` list of hosts and a string
    ``initWal`` that is a WAL position; ``sync`` is a host or null, ``deposed``
    (inserted when absent) a list of hosts, ``freeze`` null, a boolean or an
    object, ``oneNodeWriteMode`` a boolean; and ``sync`` may be null only in
    one-node-write mode.
    """
    if isinstance(state, InvalidState):
        return f"cluster state is not JSON ({state.reason})"
    if not isinstance(state, dict):
        return "cluster state must be an object"
    generation = state.get("generation")
    if isinstance(generation, bool) or not isinstance(generation, int | float):
        return 'property "generation": is missing and it is required (a number)'
    problem = _host_problem("primary", state.get("primary"))
    if problem:
        return problem
    if state.get("sync") is not None:
        problem = _host_problem("sync", state["sync"])
        if problem:
            return problem
    for key, required in (("async", True), ("deposed", False)):
        value = state.get(key)
        if value is None and not required and key not in state:
            continue
        if not isinstance(value, list):
            return f'property "{key}": must be an array'
        for index, item in enumerate(value):
            problem = _host_problem(f"{key}[{index}]", item)
            if problem:
                return problem
    if not isinstance(state.get("initWal"), str):
        return 'property "initWal": is missing and it is required (a string)'
    if "freeze" in state and not isinstance(state["freeze"], bool | dict | None):
        return 'property "freeze": must be null, a boolean or an object'
    if "oneNodeWriteMode" in state and not isinstance(state["oneNodeWriteMode"], bool):
        return 'property "oneNodeWriteMode": must be a boolean'
    if "sync" in state and state["sync"] is None and not state.get("oneNodeWriteMode"):
        return '"sync" may not be null outside of one-node-write mode'
    try:
        parse_lsn(state["initWal"])
    except ValueError:
        return f'invalid xlog location: "{state["initWal"]}"'
    return None


class _TakeoverError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class V2Peer:
    def __init__(
        self,
        log: BunyanLog,
        zk: PeerZk,
        pg: Postgres,
        ident: dict[str, Any],
        schedule: Schedule,
        *,
        singleton: bool = False,
        deposed_mode: str = "deposed",
    ) -> None:
        self.log = log.child(component="cluster")
        self.zk = zk
        self.pg = pg
        self.ident = dict(ident)
        self.id = str(ident["id"])
        self.schedule = schedule
        self.singleton = singleton
        self.deposed_mode = deposed_mode
        self.role = UNKNOWN
        self.gen = -1
        self.updating = False
        self.zkstate: dict[str, Any] | None = None
        self.zkpeers: list[dict[str, Any]] | None = None
        self.pg_online: bool | None = None
        self.pg_setup: bool | None = None
        self.pg_applied: dict[str, Any] | None = None
        self.pg_upstream: dict[str, Any] | None = None
        self.dead = False
        self.fatal_message: str | None = None

    # ---- start-up and events -----------------------------------------------------
    def start(self) -> None:
        self.zk.join(self.id, {k: v for k, v in self.ident.items() if k != "id"})
        self.zk.watch(with_state=True)
        # postgres was set up before the reprovision: manatee's migration case
        self._event("pg", "init", [{"online": False, "setup": True}], self._on_pg_init)

    def on_zk_init(self, state: Any, active: list[ActiveNode]) -> None:
        args = [{"clusterState": state, "active": [n.peer for n in unique_actives(active)]}]
        self._event("zk", "init", args, lambda: self._on_zk_init(state, active))

    def on_active_change(self, active: list[ActiveNode]) -> None:
        peers = [n.peer for n in unique_actives(active)]
        if self.zkpeers is not None and [p["id"] for p in peers] == [
            p["id"] for p in self.zkpeers
        ]:
            return  # zookeeperMgr debounces lists with the same ids
        self._event("zk", "activeChange", [peers], lambda: self._on_active(peers))

    def on_state_change(self, state: Any) -> None:
        if state is None or state == self.zkstate:
            return
        self._event("zk", "clusterStateChange", [state], lambda: self._on_state(state))

    def _event(self, source: str, name: str, args: list[Any], handler: Callable[[], None]) -> None:
        if self.dead:
            return
        self.log.info("incoming event", {"source": source, "event": name, "args": args})
        if self.role == DEPOSED:
            self.log.info("dropping event (already deposed)")
            return
        handler()

    def _on_pg_init(self) -> None:
        self.pg_online = False
        self.pg_setup = True
        if self.zkpeers is not None:
            self.eval_cluster_state()

    def _on_zk_init(self, state: Any, active: list[ActiveNode]) -> None:
        if state is not None and not self._validate(state):
            return
        self.zkstate = state
        self.zkpeers = [n.peer for n in unique_actives(active)]
        if self.pg_online is not None:
            self.eval_cluster_state()

    def _on_active(self, peers: list[dict[str, Any]]) -> None:
        self.zkpeers = peers
        self.eval_cluster_state()

    def _on_state(self, state: Any) -> None:
        if not self._validate(state):
            return
        self.zkstate = state
        self.eval_cluster_state()

    def _validate(self, state: Any) -> bool:
        problem = validate_zk_state(state)
        if problem is None:
            return True
        shown = state.reason if isinstance(state, InvalidState) else state
        self.log.error("fatal validation error", {"source": "zk", "state": shown,
                                                 "err": error_field("VError", problem,
                                                                    "validateZkState")})
        self._fatal(problem)
        return False

    def _fatal(self, message: str) -> None:
        # bunyan's log.fatal(err): the record's msg is the error's message
        text = f"fatal error: {message}"
        self.log.record(FATAL, text, {"err": error_field("VError", text, "ManateePeer.fatal")})
        self.dead = True
        self.fatal_message = text

    # ---- helpers -----------------------------------------------------------------
    def peer_is_present(self, other: dict[str, Any] | None) -> bool:
        if other is None:
            return False
        return any(p["id"] == other["id"] for p in self.zkpeers or [])

    def _asyncs(self) -> list[dict[str, Any]]:
        return list((self.zkstate or {}).get("async") or [])

    def _deposed(self) -> list[dict[str, Any]]:
        return list((self.zkstate or {}).get("deposed") or [])

    def which_async(self) -> int:
        for index, peer in enumerate(self._asyncs()):
            if peer["id"] == self.id:
                return index
        return -1

    def upstream(self, which: int) -> dict[str, Any]:
        assert self.zkstate is not None
        return dict(self.zkstate["sync"]) if which == 0 else dict(self._asyncs()[which - 1])

    def _is_one_node(self) -> bool:
        return bool((self.zkstate or {}).get("oneNodeWriteMode"))

    # ---- roles -------------------------------------------------------------------
    def assume_primary(self) -> None:
        self.log.info("assuming role", {"role": PRIMARY})
        self.role = PRIMARY
        self.pg_upstream = None
        self.eval_cluster_state()
        self.pg_apply_config()

    def assume_sync(self) -> None:
        assert self.zkstate is not None
        self.log.info("assuming role", {"role": SYNC})
        self.role = SYNC
        self.pg_upstream = dict(self.zkstate["primary"])
        self.eval_cluster_state()
        self.pg_apply_config()

    def assume_async(self, which: int) -> None:
        self.log.info("assuming role", {"role": ASYNC, "which": which})
        self.role = ASYNC
        self.pg_upstream = self.upstream(which)
        self.pg_apply_config()

    def assume_unassigned(self) -> None:
        self.log.info("assuming role", {"role": UNASSIGNED})
        self.role = UNASSIGNED
        self.pg_upstream = None
        self.pg_apply_config()

    def assume_deposed(self) -> None:
        self.log.info("assuming role", {"role": DEPOSED})
        self.role = DEPOSED
        self.pg_upstream = None
        self.pg_apply_config()

    # ---- the decision ------------------------------------------------------------
    def eval_cluster_state(self) -> None:
        if self.dead:
            return
        if self.updating:
            self.log.debug("deferring state check (writing cluster state)")
            return
        zkstate = self.zkstate
        peers = self.zkpeers or []
        if zkstate is None:
            self.log.debug("cluster not yet setup")
            if (
                not self.pg_setup
                and peers
                and peers[0]["id"] == self.id
                and (self.singleton or len(peers) > 1)
            ):
                self.start_initial_setup()
            elif self.role != UNASSIGNED:
                self.assume_unassigned()
            return
        if self.singleton and not zkstate.get("oneNodeWriteMode"):
            self._fatal("configured for one-node-write mode, but found cluster in normal mode")
            return
        if self.gen != zkstate["generation"]:
            self.gen = int(zkstate["generation"])
            if self.role == PRIMARY:
                if zkstate["primary"]["id"] != self.id:
                    self.assume_deposed()
            else:
                self.eval_init_cluster_state()
            return
        if self.role == UNASSIGNED:
            which = self.which_async()
            if which != -1:
                self.assume_async(which)
            return
        if self.role == ASYNC:
            which = self.which_async()
            if which == -1:
                self.assume_unassigned()
            elif self.pg_upstream is None or self.upstream(which)["id"] != self.pg_upstream["id"]:
                self.assume_async(which)
            return
        if self.role == SYNC:
            if not self.peer_is_present(zkstate["primary"]):
                self.start_takeover("primary gone", str(zkstate["initWal"]))
            return
        if self.role != PRIMARY or self._is_one_node():
            return
        if not self.peer_is_present(zkstate.get("sync")) and self.start_takeover("sync gone"):
            return
        self._update_asyncs_if_needed(zkstate, peers)

    def _update_asyncs_if_needed(
        self, zkstate: dict[str, Any], peers: list[dict[str, Any]]
    ) -> None:
        present = {zkstate["primary"]["id"]}
        if zkstate.get("sync") is not None:
            present.add(zkstate["sync"]["id"])
        new_asyncs: list[dict[str, Any]] = []
        changes = 0
        for peer in self._asyncs():
            if self.peer_is_present(peer):
                present.add(peer["id"])
                new_asyncs.append(peer)
            else:
                self.log.debug("peer missing", dict(peer))
                changes += 1
        present.update(p["id"] for p in self._deposed())
        for peer in peers:
            if peer["id"] in present:
                continue
            self.log.debug("new peer found", dict(peer))
            new_asyncs.append(peer)
            changes += 1
        if changes:
            self.start_update_asyncs(new_asyncs)

    def eval_init_cluster_state(self) -> None:
        assert self.zkstate is not None
        state = self.zkstate
        if state["primary"]["id"] == self.id:
            self.assume_primary()
            return
        if state.get("oneNodeWriteMode"):
            self.assume_unassigned()
            return
        if state.get("sync") is not None and state["sync"]["id"] == self.id:
            self.assume_sync()
            return
        if any(p["id"] == self.id for p in self._deposed()):
            self.assume_deposed()
            return
        which = self.which_async()
        if which != -1:
            self.assume_async(which)
        else:
            self.assume_unassigned()

    # ---- writes to the cluster state ---------------------------------------------
    def start_takeover(self, reason: str, minwal: str | None = None) -> bool:
        assert self.zkstate is not None
        asyncs = self._asyncs()
        present = [i for i, peer in enumerate(asyncs) if self.peer_is_present(peer)]
        if not present:
            self.log.warn(f"would takeover ({reason}), but no async peers present")
            return False
        which = present[0]
        self.log.debug(f"preparing for new generation ({reason})")
        new_sync = asyncs[which]
        new_asyncs = [p for j, p in enumerate(asyncs) if j != which and self.peer_is_present(p)]
        deposed = copy.deepcopy(self._deposed())
        if self.zkstate["primary"]["id"] != self.id and self.deposed_mode == "deposed":
            deposed.append(self.zkstate["primary"])
        self.start_takeover_with_peer(reason, minwal, new_sync, new_asyncs, deposed)
        return True

    def start_takeover_with_peer(
        self,
        reason: str,
        minwal: str | None,
        sync: dict[str, Any],
        asyncs: list[dict[str, Any]],
        deposed: list[dict[str, Any]],
    ) -> None:
        assert self.zkstate is not None
        self.updating = True
        new_state: dict[str, Any] = {
            "generation": int(self.zkstate["generation"]) + 1,
            "primary": dict(self.ident),
            "sync": sync,
            "async": asyncs,
            "deposed": deposed,
            "initWal": None,
        }
        if not deposed and self.deposed_mode == "async":
            del new_state["deposed"]
        try:
            if self.zkstate.get("freeze"):
                raise _TakeoverError("ClusterFrozenError", "cluster is frozen")
            if not self.pg_online:
                raise _TakeoverError("PostgresOfflineError", "postgres is offline")
            wal = self.pg.xlog_location()
            if minwal is not None and parse_lsn(wal) < parse_lsn(minwal):
                raise _TakeoverError(
                    "PeerNotCaughtUpError",
                    f'would attempt takeover, but not caught up to primary yet (want "{minwal}", '
                    f'found "{wal}"',
                )
            new_state["initWal"] = wal
            self.log.info(f"declaring new generation ({reason})", dict(new_state))
            error = self.zk.put_cluster_state(new_state)
            if error is not None:
                raise _TakeoverError(type(error).__name__, str(error) or type(error).__name__)
        except _TakeoverError as exc:
            if exc.name in KNOWN_BACKOFF_ERRORS:
                self.log.warn("backing off", {"err": error_field(
                    exc.name, exc.message, "takeoverCheckFrozen" if exc.name ==
                    "ClusterFrozenError" else "ManateePeer.startTakeover")})
            else:
                self.log.error("backing off", {"err": error_field(
                    "VError", "failed to declare new generation", "ManateePeer.startTakeover")})
            self.schedule(BACKOFF_SECONDS, self._after_backoff)
            return
        self.zkstate = new_state
        self.updating = False
        self.gen = int(new_state["generation"])
        self.log.info("declared new generation")
        self.assume_primary()

    def _after_backoff(self) -> None:
        self.updating = False
        self.eval_cluster_state()

    def start_update_asyncs(self, new_asyncs: list[dict[str, Any]]) -> None:
        assert self.zkstate is not None
        state = self.zkstate
        new_state: dict[str, Any] = {
            "generation": state["generation"],
            "primary": state["primary"],
            "sync": state.get("sync"),
            "async": new_asyncs,
        }
        if "deposed" in state or self.deposed_mode == "deposed":
            new_state["deposed"] = self._deposed()
        new_state["initWal"] = state["initWal"]
        if state.get("freeze"):
            new_state["freeze"] = state["freeze"]
        self._put(new_state, "updating list of asyncs", "updated cluster state",
                  "failed to update cluster state")

    def start_initial_setup(self) -> None:
        peers = self.zkpeers or []
        new_state: dict[str, Any] = {
            "generation": 1,
            "primary": dict(self.ident),
            "initWal": "0/00000000",
            "deposed": [],
        }
        if self.singleton:
            new_state.update({"sync": None, "async": [], "oneNodeWriteMode": True,
                              "freeze": {"date": iso_now_ms(),
                                         "reason": "manatee setup: one node write mode"}})
        else:
            new_state.update({"sync": peers[1], "async": peers[2:]})
        self._put(new_state, "creating initial cluster state", "created cluster state",
                  "failed to create cluster state")

    def _put(self, new_state: dict[str, Any], before: str, after: str, failed: str) -> None:
        self.updating = True
        self.log.info(before, dict(new_state))
        error = self.zk.put_cluster_state(new_state)
        self.updating = False
        if error is not None:
            self.log.warn(failed, {"err": error_field(type(error).__name__, str(error),
                                                      "putClusterState")})
        else:
            self.zkstate = new_state
            self.log.info(after)
        self.eval_cluster_state()

    # ---- postgres ----------------------------------------------------------------
    def pg_config(self) -> dict[str, Any]:
        state = self.zkstate or {}
        if self.role == PRIMARY:
            return {"role": "primary", "upstream": None, "downstream": state.get("sync"),
                    "restorePeer": None}
        if self.role in (SYNC, ASYNC):
            return {"role": self.role, "upstream": self.pg_upstream, "downstream": None,
                    "restorePeer": state.get("primary")}
        return {"role": "none", "upstream": None, "downstream": None, "restorePeer": None}

    def pg_apply_config(self) -> None:
        config = self.pg_config()
        if self.pg_applied is not None and config == self.pg_applied:
            self.log.info("skipping pgApplyConfig (no changes)")
            return
        self.log.debug("pg.reconfigure " + inspect(config))
        self.pg.reconfigure(PgConfig(
            config["role"], config["upstream"], config["downstream"],
            one_node=self.role == PRIMARY and self._is_one_node(),
        ))
        self.log.info("pg: applied config " + inspect(config), {"nretries": 0})
        self.pg_applied = config
        self.pg_online = config["role"] != "none"
        self.pg_apply_config()

