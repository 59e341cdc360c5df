"""The journal in ZooKeeper (versioned writes) and its local audit copy.

Layout, outside ``/manatee`` so that nothing manatee reads is touched::

    /manatee-migrator/<shard>/journal   the journal JSON (persistent)
    /manatee-migrator/<shard>/lock      the run lock (kazoo Lock recipe; see ``lock``)

Guarantees: ``create`` succeeds only if no journal exists; ``save`` writes at
the version last read or written, so two writers can never interleave
silently (the loser gets ``StateConflict``); each write is one ZooKeeper
operation, so an interrupted run leaves either the old or the new journal,
never a torn one. Every saved version is also written to
``<audit dir>/<cluster>/<shard>/journal.json`` (the latest) and to
``runs/<NN>-<kind>.json`` beside it (the journal as the run ``NN``, counted
from 01, last saved it), where ``<cluster>`` names the ZooKeeper ensemble (its
hosts sorted, and its chroot): two sandboxes (or two regions) with a shard of
the same name on one machine keep separate copies. One journal per run, not one
per save: the journal's own run records are append-only, so the last save of a
run holds everything the earlier saves did (older versions of the tool appended
every save to ``audit.jsonl``, 1.9 MB for one run; `report` and `journal
restore` still read those).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from migrator.engine.interrupts import sigint_deferred
from migrator.engine.journal import Journal
from migrator.engine.journal_znode import JOURNAL_ROOT, journal_document, journal_path
from migrator.errors import MalformedZnode, StateConflict
from migrator.isotime import iso_now_ms
from migrator.zk import paths
from migrator.zk.client import ensemble_of
from migrator.zk.faults import guarded
from migrator.zk.reads import read_raw_shards

if TYPE_CHECKING:
    from kazoo.client import KazooClient


def default_audit_dir() -> Path:
    env = os.environ.get("MIGRATOR_AUDIT_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "manatee-migrator"


def audit_dir_of(connection: str) -> Path:
    """Where this machine keeps the audit copies for the ensemble a connection string
    (``host:port,...[/chroot]``) names: the same folder ``cluster_key`` gives a client
    connected with it."""
    return default_audit_dir() / _connection_key(connection)


def _connection_key(connection: str) -> str:
    servers, _, chroot = connection.partition("/")
    return _ensemble_key([s.strip() for s in servers.split(",") if s.strip()],
                         "/" + chroot if chroot else None)


def cluster_key(client: Any) -> str:
    """A directory name for the ZooKeeper ensemble the client talks to: ``host:port`` of
    every server, sorted, comma-separated, then ``+chroot`` (``/`` written ``%2F``)."""

    ensemble = ensemble_of(client)
    if ensemble is not None:  # reached through a forward: named by the ensemble itself
        return _connection_key(ensemble)
    hosts = getattr(client, "hosts", None) or []
    try:
        servers = [f"{host}:{port}" for host, port in hosts]
    except (TypeError, ValueError):
        servers = []
    return _ensemble_key(servers, getattr(client, "chroot", None))


def _ensemble_key(servers: list[str], chroot: str | None) -> str:
    """``host:port`` of every server, sorted, comma-separated, then ``+chroot``."""
    if not servers:
        return "unknown-cluster"
    key = ",".join(sorted(servers)) + (f"+{chroot}" if chroot else "")
    return quote(key, safe=",:.+-_[]")


class JournalStore:
    def __init__(
        self, client: KazooClient, shard: str, *, root: str = JOURNAL_ROOT,
        audit_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.shard = shard
        self.root = root
        self.path = journal_path(shard, root)
        self.audit_dir = (audit_dir or default_audit_dir()) / cluster_key(client) / shard
        self.version: int | None = None
        # the bytes of a save whose reply may have been lost (see ``save``), else None
        self.pending: bytes | None = None
        # why the local audit copy could not be written, from its first failure on
        self.audit_problem: str | None = None
        # a write sent without waiting (``save(wait=False)``) whose reply is not collected
        # yet: its reply, bytes, expected version and journal
        self._unanswered: tuple[Any, bytes, int, Journal] | None = None

    def load(self) -> Journal | None:
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import NoNodeError

        self.settle()  # our own write sent last is answered (or refused) first
        try:
            data, stat = guarded(self.client, "reading the journal",
                                 lambda: self.client.get(self.path))
        except NoNodeError:
            self.version = None
            return None
        try:
            journal = Journal.from_json(journal_document(data))
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedZnode(
                f"The migration journal at {self.path} cannot be read ({type(exc).__name__}: "
                f"{exc}).",
                "Inspect it with zkCli; the local audit copy under "
                f"{self.audit_dir} holds the last version this machine wrote, and "
                f"`migrator journal restore --shard {self.shard} --from "
                f"{self.audit_dir / 'journal.json'}` puts it back (after showing both).",
            ) from exc
        self.version = int(stat.version)
        return journal

    def create(self, journal: Journal, *, then: Journal | None = None,
               created: Callable[[], None] | None = None) -> None:
        """Create the journal as ``journal``, only if there is none.

        ``then``: written over it at version 0 in the same ZooKeeper transaction (a
        create, then a set at version 0: one round trip where two writes cost two). It
        is atomic, so the journal's two versions are made as before, and if the create
        fails (another run's journal is there) nothing is written, the set included.
        ``created`` is told once ``journal`` is known made, before what follows of
        ``then``: what is said of the creation comes first, as when they were two
        writes. The local audit copy is written for each, in order.
        """
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import NodeExistsError, NoNodeError

        self.settle()
        data = encoded(journal)
        last, version = (data, 0) if then is None else (encoded(then), 1)
        tried: list[bool] = []

        def attempt() -> None:
            try:
                with sigint_deferred():
                    tried.append(True)
                    if then is None:
                        # its folder made only when missing (the run lock has made it): a
                        # round trip to ZooKeeper saved on every run
                        self.client.create(self.path, data, makepath=True)
                    else:
                        try:
                            self._create_then_set(data, last)
                        except NoNodeError:
                            # its folder is missing (a store used without the run lock)
                            self.client.ensure_path(self.path.rpartition("/")[0])
                            self._create_then_set(data, last)
                    self.version = version
            except NodeExistsError:
                # a retry after a lost reply: our own create may have been applied
                if len(tried) < 2 or not self._stored_is(last, version):
                    raise
                self.version = version

        try:
            guarded(self.client, "creating the journal", attempt)
        except NodeExistsError as exc:
            raise StateConflict(
                f"A migration journal for shard {self.shard} appeared at {self.path} while "
                "this run was starting; nothing was written.",
                "Another operator started a run; use `migrator resume` to continue it.",
            ) from exc
        self._audit(journal)
        if created is not None:
            created()
        if then is not None:
            self._audit(then)

    def _create_then_set(self, data: bytes, then: bytes) -> None:
        """One transaction: create the journal with ``data``, set ``then`` at version 0.
        Raises the create's error (NodeExists, NoNode) when it failed, and so nothing
        was applied."""
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import RolledBackError

        transaction = self.client.transaction()
        transaction.create(self.path, data)
        transaction.set_data(self.path, then, version=0)
        results = transaction.commit()
        errors = [r for r in results if isinstance(r, Exception)]
        real = [e for e in errors if not isinstance(e, RolledBackError)]
        if errors:
            raise (real or errors)[0]  # the create's own error, not the set's rollback

    def save(self, journal: Journal, *, wait: bool = True) -> None:
        """Write ``journal`` at the version last read or written.

        ``wait=False`` sends the write and leaves its reply to be collected by the next
        save or load (``settle``), so the run need not stand still for a round trip to
        ZooKeeper: for a stamp that records progress but comes before nothing
        irreversible (``Runner._run_step``). At most one write is in flight: the next
        one is sent only once the reply to this one is in, at the version that reply
        names, so a write that failed (someone else changed the journal) stops the run
        there with ``StateConflict``, before anything else is written, and is never
        overwritten. Meanwhile ``pending`` holds its bytes and ``version`` the version
        before it.
        """
        self.settle()
        if self.version is None:
            self.create(journal)
            return
        data, expected = encoded(journal), self.version
        self.pending = data

        def send() -> None:
            with sigint_deferred():
                # sent and remembered as one: a Ctrl-C cannot fall between the two and
                # leave a write in ZooKeeper whose version this store does not know
                self._unanswered = (self.client.set_async(self.path, data, version=expected),
                                    data, expected, journal)

        # through the guard: after a session expiry its hooks (the lock re-taken, the
        # journal found unchanged) run before anything is sent
        try:
            guarded(self.client, "saving the journal", send)
        except BaseException:
            if self._unanswered is None:  # not sent
                self.pending = None
            raise
        if wait:
            self.settle()

    def settle(self) -> None:
        """Collect the reply to the write ``save`` sent last, if it is still out: the
        journal's new version, or ``StateConflict`` when someone else changed it
        first. Through a connection loss the write is sent again as ``save`` always
        did (found applied already if the stored journal is ours, one version on)."""
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import BadVersionError, NoNodeError

        if self._unanswered is None:
            return
        sent, data, expected, journal = self._unanswered
        replies: list[Any] = [sent]
        tried: list[bool] = []

        def attempt() -> None:
            try:
                with sigint_deferred():
                    tried.append(True)
                    if replies:  # the write already sent, on its first attempt
                        stat = replies.pop().get()
                    else:
                        stat = self.client.set(self.path, data, version=expected)
                    self.version = int(stat.version)
            except BadVersionError:
                # a retry after a lost reply: the first attempt may have been applied;
                # it was if the stored journal is ours, one version on (never written twice)
                if len(tried) < 2 or not self._stored_is(data, expected + 1):
                    raise
                self.version = expected + 1

        try:
            guarded(self.client, "saving the journal", attempt)
        except (BadVersionError, NoNodeError) as exc:
            self._unanswered = self.pending = None
            raise StateConflict(
                f"The migration journal of shard {self.shard} was changed by someone else "
                f"(we expected version {self.version}); this run stops without writing more.",
                "Another migrator holds or broke the lock; look at `migrator plan` and use "
                "`migrator resume` from one machine only.",
            ) from exc
        # Only now is the write known: stopped before this (Ctrl-C between two ZooKeeper
        # calls, a connection that did not come back), the reply stays to be collected by
        # the next save or load, which would otherwise write at a version already taken
        # by it and take our own write for someone else's.
        self._unanswered = self.pending = None
        self._audit(journal)

    def _stored_is(self, data: bytes, version: int) -> bool:
        # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
        from kazoo.exceptions import NoNodeError

        try:
            stored, stat = self.client.get(self.path)
        except NoNodeError:
            return False
        return bool(stored == data and stat.version == version)

    def _audit(self, journal: Journal) -> None:
        """The local copy, for people: the journal in ZooKeeper is authoritative, so a copy
        that cannot be written (a read-only mount, a full disk) does not stop the run, but
        it is said at its first failure (``audit_failed``) and remembered
        (``audit_problem``) for the end of the run."""
        try:
            self.audit_dir.mkdir(parents=True, exist_ok=True)
            doc = journal.to_json()
            text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
            _replace(self.audit_dir / "journal.json", text)
            if journal.runs:
                run = journal.runs[-1]
                name = f"{len(journal.runs):02d}-{run.kind}.json"
                (self.audit_dir / "runs").mkdir(exist_ok=True)
                _replace(self.audit_dir / "runs" / name, text)
        except OSError as exc:
            if self.audit_problem is None:
                self.audit_problem = (
                    f"The local audit copy under {self.audit_dir} could not be written "
                    f"({exc.strerror or exc}); the journal in ZooKeeper is complete, but the "
                    "local copy is not (`migrator report` reads ZooKeeper's).")
                self.audit_failed(self.audit_problem)

    def audit_failed(self, problem: str) -> None:
        """Told once, at the local copy's first failure (a hook; the base says nothing)."""


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` in one step (a reader sees the old file or the new)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def encoded(journal: Journal) -> bytes:
    """The journal's bytes as the store writes them (compact JSON)."""
    return json.dumps(journal.to_json(), separators=(",", ":"), ensure_ascii=False).encode()


def capture_shard(client: KazooClient, shard: str) -> dict[str, Any]:
    """``/manatee/<shard>`` as it is: election children and data, history names, state.

    Taken before the first write so a rollback and a post-mortem know exactly
    where the shard started.
    """
    # deferred: kazoo costs ~35 ms to import; only ZooKeeper work pays it
    from kazoo.exceptions import NoNodeError

    # the history's names asked alongside the shard's first round (one round trip less)
    names = client.get_children_async(paths.history_path(shard))
    raw = read_raw_shards(client, [shard], with_peers=True)[0]
    try:
        history = sorted(names.get())
    except NoNodeError:
        history = []
    return {
        "taken": iso_now_ms(),
        "election": [
            {"name": name, "data": None if data is None else data.decode("utf-8", "replace")}
            for name, data in sorted(raw.election)
        ],
        "history": history,
        "state": None if raw.state is None else raw.state[0].decode("utf-8", "replace"),
        "stateVersion": None if raw.state is None else raw.state[1],
    }
