"""The sandbox's PostgreSQL installation and data directories (`--pg real`).

Which server binaries and user to use, the per-machine initdb template every zone is
copied from, and a server's leftovers (a postmaster that outlived its sitter, the SysV
shared memory of one that was killed). The decisions are in ``pgreal``'s docstring.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from migrator.errors import BadInput, StepFailed
from migrator.sandbox.pgquery import PG_USER
from migrator.sandbox.procs import _wait_gone

PG_PACKAGE = "postgresql"
PREFERRED_VERSION = "15"
DATA = "pgdata"
FRESH_MARKER = "pg-fresh"
STOP_TIMEOUT = 15.0
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
        # deferred: psycopg costs ~120 ms to import; only real-PostgreSQL sandboxes pay it
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


