"""The sandbox's SMF for one sitter:
``python -m migrator.sandbox.supervisor DIR ZONE ZONE_DIR``.

On a real zone SMF restarts a manatee-sitter that dies, and a sitter that dies
again and again within seconds is put into ``maintenance`` (it stays down until
an operator runs ``svcadm clear``). Upstream's peer dies on a fatal error (for
example a /state whose ``sync`` is null outside one-node-write mode), so such
a state makes the zone crash-loop and then drop out. The sandbox reproduces
that: this process runs the sitter as its child, restarts it with a doubling
backoff, and after ``MAX_QUICK_DEATHS`` deaths in a row, each within
``QUICK_DEATH`` seconds of its start, writes ``maintenance`` and exits. A
sitter that exits with ``EXIT_CONFIG`` (SMF_EXIT_ERR_CONFIG: say, its port is
taken) goes to maintenance at once, as SMF does.

The supervisor and the sitter share one process group, so stopping the zone
(``procs.kill_recorded`` on the supervisor's pid file) kills both, as a
dying zone would. ``service.json`` in the zone directory says what the
service is doing (``online``, ``offline`` while waiting to restart,
``maintenance`` with the reason); `sandbox status` shows it and `sandbox
start-peer` (or a zone's ``sitter-ctl clear``) starts a fresh supervisor.

The numbers are the sandbox's, chosen so that a test sees maintenance within
seconds; SMF's own thresholds differ and are not needed to show the behaviour.

A supervisor starts with every sitter (about 900 in the test suite), so it imports
only what it uses: it is handed its zone's directory rather than loading the
sandbox's configuration, and stamps times with ``migrator.isotime`` rather than
through the cluster model (the two imports cost about 15 ms of CPU, a third of its
start).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from migrator.isotime import iso_now_ms
from migrator.sandbox import procs

SERVICE_FILE = "service.json"
QUICK_DEATH = 10.0  # seconds: a run shorter than this counts towards maintenance
MAX_QUICK_DEATHS = 4
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 4.0
EXIT_CONFIG = 96  # SMF_EXIT_ERR_CONFIG: no point restarting


def service_file(zone_dir: Path) -> Path:
    return zone_dir / SERVICE_FILE


def read_service(zone_dir: Path) -> dict[str, Any]:
    """The last service state written, or {} (never started under a supervisor)."""
    try:
        document = json.loads(service_file(zone_dir).read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def write_service(zone_dir: Path, state: str, **fields: Any) -> None:
    path = service_file(zone_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"state": state, "since": iso_now_ms(), **fields}) + "\n")
    tmp.replace(path)


def backoff(quick_deaths: int) -> float:
    """Seconds to wait before the next start, doubling with each quick death."""
    if quick_deaths <= 0:
        return FIRST_BACKOFF
    return float(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (quick_deaths - 1)))


def next_action(quick_deaths: int, exit_status: int) -> str:
    """Pure: ``maintenance`` or ``restart`` after a death (``quick_deaths`` includes it)."""
    if exit_status == EXIT_CONFIG or quick_deaths >= MAX_QUICK_DEATHS:
        return "maintenance"
    return "restart"


def describe_exit(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exited with status {status}"


def run(directory: Path, zone: str, zone_dir: Path) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_stop() -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    procs.on_termination(on_stop)
    quick = 0
    restarts = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(procs.python_argv("migrator.sandbox.sitter", str(directory),
                                                   zone))
        write_service(zone_dir, "online", pid=child.pid, restarts=restarts)
        status = child.wait()
        if stopping:
            break
        ran = time.monotonic() - started
        quick = quick + 1 if ran < QUICK_DEATH else 1
        how = describe_exit(status)
        if next_action(quick, status) == "maintenance":
            reason = (f"the sitter {how} after {ran:.1f} s; "
                      + ("a configuration error, not restarted" if status == EXIT_CONFIG
                         else f"{quick} deaths in a row within {QUICK_DEATH:g} s of starting"))
            write_service(zone_dir, "maintenance", reason=reason, restarts=restarts,
                          exit_status=status)
            sys.stderr.write(f"supervisor: {reason}; service is now in maintenance\n")
            return 1
        wait = backoff(quick)
        restarts += 1
        write_service(zone_dir, "offline", reason=f"the sitter {how}; restarting in {wait:g} s",
                      restarts=restarts, exit_status=status)
        sys.stderr.write(f"supervisor: the sitter {how}; restarting in {wait:g} s\n")
        deadline = time.monotonic() + wait
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))  # the backoff itself
    write_service(zone_dir, "disabled", restarts=restarts)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write("usage: python -m migrator.sandbox.supervisor DIR ZONE ZONE_DIR\n")
        sys.exit(2)
    sys.exit(run(Path(args[0]), args[1], Path(args[2])))


if __name__ == "__main__":
    main()
