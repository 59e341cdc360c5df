"""A real PostgreSQL per zone, driven by the sitter as manatee drives its postgres.

``RealPostgres`` has the narrow shape the peers already use for ``SimPostgres``
(``start``, ``stop``, ``reconfigure(PgConfig)``, ``xlog_location``), so the v1 and
v2 peer algorithms run unchanged over either (manatee-state-machine has the same
split: one peer algorithm over a pg interface). ``pgdata`` holds the installation,
template and leftovers; ``pgquery`` what manatee-adm, the write client, ``sandbox
verify`` and the tests read from the servers.

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
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from migrator.errors import StepFailed
from migrator.sandbox.pgdata import (
    DATA,
    FRESH_MARKER,
    STOP_TIMEOUT,
    _chown_tree,
    _demote,
    _run_as_postgres,
    bindir,
    pg_user,
    stop_leftover,
)
from migrator.sandbox.pgquery import PG_USER, POLL, connect, conninfo, current_lsn
from migrator.sandbox.pgsim import PgConfig
from migrator.sandbox.pgwire import pg_address

REBUILD_MARKER = "pg-rebuild"  # `manatee-adm rebuild`: copy afresh from the upstream
START_TIMEOUT = 30.0
BASEBACKUP_TIMEOUT = 60.0

def _quote_conf(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


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
        # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
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
        # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
        import psycopg

        try:
            with connect(self.host, self.port, 2.0) as connection:
                return current_lsn(connection)
        except (psycopg.Error, OSError):
            return "0/0"
