"""Run a standalone ZooKeeper from Debian's `zookeeper` package on loopback.

Used by the test fixture and by `migrator sandbox up`. The server's classpath is
the package's jar (its manifest names the dependency jars) plus the package's
conf directory for log4j. ``tick_time_ms`` is small by default so sessions
expire quickly (session timeouts are bounded to 2..20 ticks).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import BadInput, MigratorError
from migrator.sandbox.ports import free_port

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
ZOOKEEPER_CONF_DIR = Path("/etc/zookeeper/conf")
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"

# A rehearsal's ZooKeeper serves one operator and a few sitters for minutes, so it
# runs as a small JVM: the client compiler only (the optimising one spends more CPU
# warming up than such a server ever gives back), one serial garbage collector
# instead of a thread per core, a small heap and no shared-memory perf counters
# file. Measured on the sandbox's 2-core machine: about a third less CPU from start
# to a first answer (docs/sandbox.md); the server's behaviour is the same.
JVM_OPTIONS = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-XX:-UsePerfData")



def check_prerequisites() -> str:
    """The java binary to use, or a BadInput naming the Debian package to install."""
    java = shutil.which("java")
    if java is None:
        raise BadInput(
            "No `java` on PATH; the sandbox's ZooKeeper needs a Java runtime.",
            "Install one with `apt-get install -y default-jre-headless`.",
        )
    if not ZOOKEEPER_JAR.exists():
        raise BadInput(
            f"ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing).",
            "Install it with `apt-get install -y zookeeper`.",
        )
    return java


@dataclass
class ZooKeeperServer:
    """A ZooKeeper process bound to ``host:port`` with its data under ``workdir``."""

    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    tick_time_ms: int = 200
    process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        java = check_prerequisites()
        self.workdir.mkdir(parents=True, exist_ok=True)
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        config = self.workdir / "zoo.cfg"
        config.write_text(
            f"tickTime={self.tick_time_ms}\n"
            f"dataDir={data_dir}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress={self.host}\n"
            "admin.enableServer=false\n"
            "maxClientCnxns=0\n"
            "4lw.commands.whitelist=ruok\n"
            "minSessionTimeout=400\n"
            "maxSessionTimeout=20000\n"
        )
        classpath = f"{ZOOKEEPER_CONF_DIR}:{ZOOKEEPER_JAR}"
        log = (self.workdir / "zookeeper.log").open("ab")
        self.process = subprocess.Popen(
            [java, *JVM_OPTIONS, "-cp", classpath, MAIN_CLASS, str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        (self.workdir / "zookeeper.pid").write_text(f"{self.process.pid}\n")
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MigratorError(
                    f"ZooKeeper exited at start-up (status {self.process.returncode}).",
                    f"See {self.workdir / 'zookeeper.log'}; the port {self.port} may be taken.",
                )
            if ruok(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise MigratorError(
            f"ZooKeeper did not answer on {self.connection_string} within {timeout:g} s.",
            f"See {self.workdir / 'zookeeper.log'}.",
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None


def ruok(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
    except OSError:
        return False
