"""A real PostgreSQL per zone, driven by the sitter as manatee drives its postgres.

``RealPostgres`` has the narrow shape the peers already use for ``SimPostgres``
(``start``, ``stop``, ``reconfigure(PgConfig)``, ``xlog_location``), so the v1 and
v2 peer algorithms run unchanged over either (manatee-state-machine has the same
split: one peer algorithm over a pg interface). The query helpers below
(``query_status``, ``wait_writable``, ``read_ids`` ...) are what manatee-adm, the
write client, ``sandbox verify`` and the tests use to read the real servers.

Decisions (the issue leaves them open; written down here and in the README):
  - user: postgres refuses to run as root and the sandbox runs as root, so every
    server runs as Debian's ``postgres`` system user (created by the ``postgresql``
    package, which ``scripts/setup.sh`` installs). Each zone's data directory
    ``DIR/zones/<uuid>/pgdata`` is owned by it (mode 0700); the sandbox directory and
    ``DIR/zones/<uuid>`` are made searchable (o+x) so that user can reach it.
  - one ``initdb`` per machine (per server version and settings, cached under
    ``/var/tmp/manatee-migrator-pg``), copied into every zone before any server
    starts: all zones share one system identifier and timeline, as manatee's peers
    do after their first restore, so standbys stream at once.
  - speed over durability, for a sandbox only: ``fsync = off``, 1 MB WAL segments,
    ``shared_buffers = 16MB``. Never settings for production.
  - listening: only TCP on the zone's loopback address and pgUrl port
    (``unix_socket_directories = ''``); ``pg_hba.conf`` trusts 127.0.0.0/8 only.
  - roles: a primary names its sync in ``synchronous_standby_names`` (the sync's
    pgUrl, which is also the ``application_name`` each standby connects with, as
    manatee does); a standby streams from its upstream with ``primary_conninfo``;
    both live in ``manatee.conf`` (included by postgresql.conf) and change by reload.
    A takeover promotes (``pg_promote``). Role ``none`` (unassigned, deposed) stops
    the server, as upstream's sitter does.
  - a data directory that has been a primary (no ``standby.signal``) and is told to
    follow an upstream is rebuilt from it with ``pg_basebackup`` (standing in for
    manatee's ZFS restore): its history may hold commits the new primary never had.
    A zone straight from the template (``pg-fresh`` marker) needs no rebuild.
  - the server dies with its sitter (``PR_SET_PDEATHSIG`` = SIGQUIT, an immediate
    shutdown, as SMF stops a dying zone's contract) and a server that dies on its own
    is started again by the sitter in the role it had (as SMF restarts it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from migrator.errors import BadInput, StepFailed
from migrator.sandbox.pgsim import PgConfig, pg_address

PG_USER = "postgres"
PG_PACKAGE = "postgresql"
PREFERRED_VERSION = "15"
DATA = "pgdata"
FRESH_MARKER = "pg-fresh"
REBUILD_MARKER = "pg-rebuild"  # `manatee-adm rebuild`: copy afresh from the upstream
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
BASEBACKUP_TIMEOUT = 60.0
POLL = 0.02  # seconds; postgres offers no notification for "ready" or "streaming"
TABLE = "rehearsal_writes"
PR_SET_PDEATHSIG = 1

SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "16MB",
    "wal_level": "replica",
    "wal_keep_size": "256MB",
    "max_wal_size": "64MB",
    "min_wal_size": "4MB",
    "hot_standby": "on",
    "wal_receiver_status_interval": "1s",
    "wal_retrieve_retry_interval": "200ms",
    "wal_sender_timeout": "10s",
    "wal_receiver_timeout": "10s",
    "dynamic_shared_memory_type": "mmap",
    "unix_socket_directories": "''",
    "jit": "off",
    "autovacuum": "off",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
    "log_line_prefix": "'%m [%p] '",
    "logging_collector": "off",
    "include_if_exists": "'manatee.conf'",
}
HBA = (
    "# the sandbox: loopback only, no passwords (trust), replication included\n"
    "host all all 127.0.0.0/8 trust\n"
    "host replication all 127.0.0.0/8 trust\n"
)


# ---- prerequisites and the data directories -----------------------------------------


def find_bindir() -> Path | None:
    """Debian's server binaries, PostgreSQL 15 preferred, else the newest installed."""
    root = Path("/usr/lib/postgresql")
    preferred = root / PREFERRED_VERSION / "bin"
    if (preferred / "postgres").exists():
        return preferred
    found = sorted(
        (p.parent for p in root.glob("*/bin/postgres")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def bindir() -> Path:
    found = find_bindir()
    if found is None:
        raise BadInput(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/postgres); "
            "`--pg real` runs a real postgres in every sandbox zone.",
            f"Install it with `apt-get install -y {PG_PACKAGE}` (or run "
            "`bash scripts/setup.sh`), or use the simulated postgres with `--pg sim`.",
        )
    return found


def pg_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        raise BadInput(
            f"There is no `{PG_USER}` user; the sandbox runs postgres as that user because "
            "postgres refuses to run as root.",
            f"Install Debian's `{PG_PACKAGE}` package (it creates the user), e.g. with "
            "`bash scripts/setup.sh`.",
        ) from None


def check_prerequisites() -> None:
    bindir()
    pg_user()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise BadInput(
            "The psycopg driver is not installed in this Python environment.",
            "Run `bash scripts/setup.sh` (it installs the package with its dependencies).",
        ) from None


def _searchable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o001)


def check_reachable(directory: Path) -> None:
    """Every parent of the sandbox directory must let the postgres user through."""
    for parent in directory.resolve().parents:
        if not _searchable_by_others(parent):
            raise BadInput(
                f"The `{PG_USER}` user cannot reach {directory}: {parent} is mode "
                f"{parent.stat().st_mode & 0o777:04o} (not searchable by others), and every "
                "zone's postgres runs as that user.",
                f"Choose a --dir under a searchable directory such as /var/tmp, or allow "
                f"traversal with `chmod o+x {parent}`; or use `--pg sim`.",
            )


def make_searchable(path: Path) -> None:
    path.chmod(path.stat().st_mode | 0o011)


def _demote() -> None:
    """In the child, before exec: become the postgres user, and die with the parent."""
    user = pwd.getpwnam(PG_USER)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGQUIT), 0, 0, 0)


def _run_as_postgres(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    user = pg_user()
    env = {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=_demote, env=env, cwd="/")


def _chown_tree(path: Path) -> None:
    user = pg_user()
    os.chown(path, user.pw_uid, user.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


CACHE = Path("/var/tmp/manatee-migrator-pg")


def _template_key() -> str:
    import hashlib

    text = repr((str(bindir()), sorted(SETTINGS.items()), HBA))
    return f"{bindir().parent.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def make_template() -> Path:
    """The initdb'd template every zone is copied from: built once per machine (per server
    version and settings) under CACHE and reused, since initdb is most of `up`'s time.
    Built in a scratch directory and renamed into place, so concurrent `up`s are safe."""
    cached = CACHE / _template_key()
    if (cached / "PG_VERSION").exists():
        return cached
    CACHE.mkdir(parents=True, exist_ok=True)
    make_searchable(CACHE)
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE))
    make_searchable(scratch)
    template = scratch / "template"
    try:
        _initdb(template)
        try:
            template.rename(cached)
        except OSError:  # another `up` finished first: use its template
            if not (cached / "PG_VERSION").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return cached


def _initdb(template: Path) -> None:
    template.mkdir(mode=0o700)
    _chown_tree(template)
    result = _run_as_postgres([
        str(bindir() / "initdb"), "-D", str(template), "-U", PG_USER, "-A", "trust",
        "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1", "--no-instructions",
    ], timeout=120)
    if result.returncode != 0:
        raise StepFailed(
            f"initdb failed (exit {result.returncode}): {result.stderr.strip()[-500:]}",
            f"Check that the postgres user can write under {template.parent}.",
        )
    conf = template / "postgresql.conf"
    extra = "".join(f"{key} = {value}\n" for key, value in SETTINGS.items())
    conf.write_text(conf.read_text() + "\n# manatee-migrator sandbox\n" + extra)
    (template / "pg_hba.conf").write_text(HBA)
    _chown_tree(template)


def clone_template(template: Path, zone_dir: Path) -> None:
    """The zone's data directory as a copy of the template (ownership and modes kept)."""
    target = zone_dir / DATA
    if target.exists():
        shutil.rmtree(target)
    result = subprocess.run(["cp", "-a", str(template), str(target)], capture_output=True,
                            text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise StepFailed(f"copying the postgres template failed: {result.stderr.strip()}",
                         "Check free space under the sandbox directory.")
    (zone_dir / FRESH_MARKER).write_text("a copy of the template, never started\n")
    make_searchable(zone_dir)


# ---- leftovers: a server outliving its sitter, shared memory ---------------------------


def _postmaster_info(datadir: Path) -> tuple[int | None, int | None]:
    """(postmaster pid, SysV shared memory id) from postmaster.pid, when present."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None, None
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    shmid = None
    if len(lines) > 6 and len(lines[6].split()) == 2 and lines[6].split()[1].isdigit():
        shmid = int(lines[6].split()[1])
    return pid, shmid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_dead(pid: int, timeout: float) -> bool:
    from migrator.sandbox.procs import _wait_gone

    return _wait_gone(pid, timeout) or not _alive(pid)


def stop_leftover(datadir: Path) -> bool:
    """Stop a postmaster still running on ``datadir`` and free its shared memory.
    Returns True when one was running."""
    pid, shmid = _postmaster_info(datadir)
    running = False
    if pid is not None and _alive(pid) and _is_postgres(pid):
        running = True
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if _wait_dead(pid, STOP_TIMEOUT / 3):
                break
    if shmid is not None:
        _remove_segment(shmid)
    return running


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return False


def _remove_segment(shmid: int) -> None:
    """Remove a SysV segment nobody is attached to (what a killed postmaster leaves)."""
    try:
        table = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return
    for line in table:
        fields = line.split()
        if len(fields) > 6 and fields[1] == str(shmid) and fields[6] == "0":
            subprocess.run(["ipcrm", "-m", str(shmid)], capture_output=True, timeout=10,
                           check=False)


def segments_of(datadir: Path) -> list[int]:
    """SysV segments still present for ``datadir``'s last postmaster (tests, `down`)."""
    _, shmid = _postmaster_info(datadir)
    if shmid is None:
        return []
    try:
        table = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return []
    return [shmid for line in table if line.split()[1:2] == [str(shmid)]]


# ---- queries ---------------------------------------------------------------------------


def conninfo(host: str, port: int, **extra: str) -> str:
    parts = {"host": host, "port": str(port), "user": PG_USER, "dbname": "postgres", **extra}
    return " ".join(f"{k}='{_escape(v)}'" for k, v in parts.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def postgres_url(host: str, port: int) -> str:
    return f"postgresql://{PG_USER}@{host}:{port}/postgres"


@contextlib.contextmanager
def connect(host: str, port: int, timeout: float = 2.0, **extra: str) -> Iterator[Any]:
    import psycopg

    connection = psycopg.connect(
        conninfo(host, port, connect_timeout=str(max(1, round(timeout))), **extra),
        autocommit=True,
    )
    try:
        yield connection
    finally:
        connection.close()


def peer_connect(peer: dict[str, Any], timeout: float = 2.0) -> Any:
    host, port = pg_address(peer)
    return connect(host, port, timeout)


REPL_QUERY = (
    "SELECT pid, usesysid, usename, application_name, host(client_addr), client_hostname, "
    "client_port, backend_start, state, sent_lsn::text, write_lsn::text, flush_lsn::text, "
    "replay_lsn::text, sync_priority, sync_state FROM pg_stat_replication ORDER BY pid"
)
REPL_FIELDS = (
    "pid", "usesysid", "usename", "application_name", "client_addr", "client_hostname",
    "client_port", "backend_start", "state", "sent_location", "write_location",
    "flush_location", "replay_location", "sync_priority", "sync_state",
)


def repl_rows(connection: Any) -> list[dict[str, Any]]:
    """pg_stat_replication with the field names manatee prints (9.x names)."""
    rows = []
    for row in connection.execute(REPL_QUERY).fetchall():
        entry = dict(zip(REPL_FIELDS, row, strict=True))
        started = entry["backend_start"]
        if started is not None:
            entry["backend_start"] = started.isoformat()
        entry["client_hostname"] = entry["client_hostname"] or ""
        entry["client_addr"] = _client_addr(entry["client_addr"], entry["application_name"])
        rows.append(entry)
    return rows


def _client_addr(seen: str | None, application_name: str | None) -> str | None:
    """The standby's address. On loopback every zone connects from 127.0.0.1 (libpq
    cannot bind a source address and the kernel picks the route's), so where postgres saw
    127.0.0.1 the address is taken from the ``application_name``, which is the standby's
    own pgUrl (as manatee sets it); a production peer's real address is never rewritten."""
    if seen != "127.0.0.1" or not application_name:
        return seen
    try:
        host, _ = pg_address({"pgUrl": application_name})
    except ValueError:
        return seen
    return host if host.startswith("127.") else seen


def current_lsn(connection: Any) -> str:
    row = connection.execute(
        "SELECT CASE WHEN pg_is_in_recovery() THEN "
        "COALESCE(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn(), '0/0'::pg_lsn) "
        "ELSE pg_current_wal_lsn() END::text"
    ).fetchone()
    return str(row[0])


def _writable(connection: Any) -> tuple[bool, bool]:
    """(in recovery, writable): a primary is writable when it names no sync, or its sync
    streams as ``sync``."""
    row = connection.execute(
        "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')"
    ).fetchone()
    in_recovery, names = bool(row[0]), str(row[1] or "")
    if in_recovery:
        return True, False
    if not names.strip():
        return False, True
    found = connection.execute(
        "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' "
        "AND state = 'streaming'"
    ).fetchone()
    return False, bool(found[0])


def query_status(host: str, port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """What manatee-adm reads from one peer's postgres, in the simulator's shape; None
    when it does not answer."""
    import psycopg

    try:
        with connect(host, port, timeout) as connection:
            in_recovery, writable = _writable(connection)
            return {
                "online": True,
                "role": "standby" if in_recovery else "primary",
                "wal": current_lsn(connection),
                "writable": writable,
                "repl": repl_rows(connection),
            }
    except (psycopg.Error, OSError):
        return None


def wait_writable(host: str, port: int, timeout: float) -> bool:
    """Bounded: until the server at host:port is a primary whose sync (if named) streams."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(host, port, min(2.0, max(0.5, deadline - time.monotonic()))) as conn:
                while True:
                    if _writable(conn)[1]:
                        return True
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(POLL * 5)
        except (psycopg.Error, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL * 5)


def wait_receiving(host: str, port: int, timeout: float) -> bool:
    """Bounded: until the standby at host:port has a WAL receiver that is streaming."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(psycopg.Error, OSError), connect(host, port, 1.0) as conn:
            row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
            if row is not None and row[0] == "streaming":
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL * 5)


def ensure_table(host: str, port: int) -> None:
    with connect(host, port, 5.0) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now())"
        )


def read_ids(host: str, port: int, timeout: float = 5.0) -> set[int]:
    with connect(host, port, timeout) as connection:
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
        if not exists[0]:
            return set()
        return {int(r[0]) for r in connection.execute(f"SELECT id FROM {TABLE}").fetchall()}


def walreceiver_pid(host: str, port: int) -> int | None:
    with connect(host, port) as connection:
        row = connection.execute("SELECT pid FROM pg_stat_wal_receiver").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def hold_walreceiver(host: str, port: int, held: bool = True) -> int:
    """The test hook on real postgres: SIGSTOP (held) or SIGCONT the standby's WAL
    receiver, so it stays connected but acknowledges nothing; returns its pid."""
    pid = walreceiver_pid(host, port)
    if pid is None:
        raise StepFailed(f"{host}:{port} has no WAL receiver running.",
                         "Is it a streaming standby?")
    os.kill(pid, signal.SIGSTOP if held else signal.SIGCONT)
    return pid


def _quote_conf(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


# ---- the server a sitter runs ---------------------------------------------------------


class RealPostgres:
    """One zone's postgres, started, reconfigured and stopped by its sitter only, on the
    sitter's main thread (the parent-death signal belongs to the thread that forks)."""

    def __init__(self, zone_dir: Path, host: str, port: int, self_peer: dict[str, Any],
                 log: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.zone_dir = zone_dir
        self.datadir = zone_dir / DATA
        self.host = host
        self.port = port
        self.self_peer = self_peer
        self.config = PgConfig("none")
        self.process: subprocess.Popen[bytes] | None = None
        self.on_stream_change: Callable[[], None] = lambda: None
        self.on_exit: Callable[[], None] = lambda: None  # called from a watcher thread
        self._log = log or (lambda _m, _f: None)
        self._stopping = False
        self._dirty = False
        self._lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Claim the data directory: a server left by an earlier sitter is stopped."""
        if not (self.datadir / "PG_VERSION").exists():
            raise OSError(f"no postgres data directory at {self.datadir}")
        if stop_leftover(self.datadir):
            self._log("stopped a postgres left running by an earlier sitter", {})

    def stop(self) -> None:
        self._stopping = True
        self._shutdown()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _spawn(self) -> None:
        with (self.zone_dir / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(bindir() / "postgres"), "-D", str(self.datadir),
                 "-c", f"listen_addresses={self.host}", "-c", f"port={self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd="/", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "TZ": "UTC"},
                start_new_session=True, preexec_fn=_demote,
            )
        process = self.process
        pid = process.pid

        def watch() -> None:
            process.wait()
            if self.process is process and not self._stopping:
                self._log("postgres exited", {"pid": pid, "status": process.returncode})
                self.on_exit()

        threading.Thread(target=watch, name=f"pg-{pid}", daemon=True).start()
        self._wait_ready()
        self.zone_dir.joinpath(FRESH_MARKER).unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StepFailed(
                    f"postgres in {self.datadir} exited at start-up "
                    f"(status {self.process.returncode}).",
                    f"See {self.zone_dir / 'postgres.log'}.",
                )
            try:
                lines = (self.datadir / "postmaster.pid").read_text().splitlines()
            except FileNotFoundError:
                lines = []
            if len(lines) > 7 and lines[7].strip() in ("ready", "standby"):
                return
            time.sleep(POLL)
        raise StepFailed(f"postgres in {self.datadir} did not start within {START_TIMEOUT:g} s.",
                         f"See {self.zone_dir / 'postgres.log'}.")

    def _shutdown(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                try:
                    process.wait(STOP_TIMEOUT / 3)
                    break
                except subprocess.TimeoutExpired:
                    continue
        stop_leftover(self.datadir)

    def restart_if_dead(self) -> None:
        """SMF's part: a server that died on its own comes back in the role it had."""
        if self._stopping or self.config.role == "none" or (self.running and not self._dirty):
            return
        if not self.running:
            self._log("restarting postgres", {"role": self.config.role})
            self.process = None
            stop_leftover(self.datadir)
        self.reconfigure(self.config)

    # ---- configuration -----------------------------------------------------------
    def reconfigure(self, config: PgConfig) -> None:
        import psycopg

        with self._lock:
            self.config = config
            try:
                self._apply(config)
                self._dirty = False
            except (StepFailed, psycopg.Error, OSError) as exc:
                # the peer's decision stands; the sitter retries applying it shortly
                self._dirty = True
                self._log("applying the postgres config failed; retrying",
                          {"role": config.role, "err": str(exc)[:300]})
                self.on_exit()

    def _apply(self, config: PgConfig) -> None:
        if config.role == "none":
            self._shutdown()
            return
        if config.role == "primary":
            self._make_primary(config)
        else:
            self._make_standby(config)
        self.on_stream_change()

    def _write_manatee_conf(self, config: PgConfig) -> None:
        lines = ["# written by the sandbox sitter; replaced at every role change"]
        if config.role == "primary":
            names = "" if config.downstream is None else _ident(str(config.downstream["pgUrl"]))
            lines.append(f"synchronous_standby_names = {_quote_conf(names)}")
        else:
            assert config.upstream is not None
            host, port = pg_address(config.upstream)
            info = conninfo(host, port, application_name=str(self.self_peer["pgUrl"]),
                            connect_timeout="2")
            info = info.replace(" dbname='postgres'", "")
            lines.append("synchronous_standby_names = ''")
            lines.append(f"primary_conninfo = {_quote_conf(info)}")
            lines.append("recovery_target_timeline = 'latest'")
        path = self.datadir / "manatee.conf"
        path.write_text("\n".join(lines) + "\n")
        user = pg_user()
        os.chown(path, user.pw_uid, user.pw_gid)

    def _standby_signal(self) -> Path:
        return self.datadir / "standby.signal"

    def _in_recovery(self) -> bool:
        with connect(self.host, self.port, 5.0) as connection:
            return bool(connection.execute("SELECT pg_is_in_recovery()").fetchone()[0])

    def _reload(self) -> None:
        with connect(self.host, self.port, 5.0) as connection:
            connection.execute("SELECT pg_reload_conf()")

    def _make_primary(self, config: PgConfig) -> None:
        self._write_manatee_conf(config)
        if not self.running:
            self._spawn()
        if self._in_recovery():
            self._log("promoting postgres", {})
            with connect(self.host, self.port, 5.0) as connection:
                connection.execute("SELECT pg_promote(true, 60)")
        self._reload()

    def _make_standby(self, config: PgConfig) -> None:
        fresh = (self.zone_dir / FRESH_MARKER).exists()
        was_primary = not self._standby_signal().exists() and not fresh
        if self.running and not self._in_recovery():
            was_primary = True
        if was_primary or (self.zone_dir / REBUILD_MARKER).exists():
            self._rebuild(config)
            (self.zone_dir / REBUILD_MARKER).unlink(missing_ok=True)
        self._write_manatee_conf(config)
        if not self._standby_signal().exists():
            self._touch_signal()
        if self.running:
            self._reload()
        else:
            self._spawn()

    def _touch_signal(self) -> None:
        path = self._standby_signal()
        path.touch()
        user = pg_user()
        os.chown(path, user.pw_uid, user.pw_gid)

    def rebuild(self, upstream: dict[str, Any]) -> None:
        """Replace the data directory with a base backup of ``upstream`` (stopped after)."""
        with self._lock:
            self._rebuild(PgConfig("async", upstream))

    def _rebuild(self, config: PgConfig) -> None:
        assert config.upstream is not None
        host, port = pg_address(config.upstream)
        self._log("rebuilding from upstream with pg_basebackup",
                  {"upstream": config.upstream.get("id")})
        self._shutdown()
        deadline = time.monotonic() + BASEBACKUP_TIMEOUT
        attempt = self.datadir.with_name(DATA + ".rebuild")
        error = ""
        while time.monotonic() < deadline:
            if attempt.exists():
                shutil.rmtree(attempt)
            attempt.mkdir(mode=0o700)
            _chown_tree(attempt)
            result = _run_as_postgres([
                str(bindir() / "pg_basebackup"), "-h", host, "-p", str(port), "-U", PG_USER,
                "-D", str(attempt), "-X", "stream", "-c", "fast", "--no-sync",
            ], timeout=BASEBACKUP_TIMEOUT)
            if result.returncode == 0:
                shutil.rmtree(self.datadir)
                attempt.rename(self.datadir)
                self._touch_signal()
                return
            error = result.stderr.strip()[-300:]
            time.sleep(0.5)  # the upstream may still be starting; bounded by the deadline
        raise StepFailed(f"pg_basebackup from {host}:{port} failed: {error}",
                         f"See {self.zone_dir / 'postgres.log'} and the upstream's.")

    def xlog_location(self) -> str:
        """The real WAL position (manatee's X/XXXXXXX form) or 0/0 when offline."""
        import psycopg

        try:
            with connect(self.host, self.port, 2.0) as connection:
                return current_lsn(connection)
        except (psycopg.Error, OSError):
            return "0/0"
