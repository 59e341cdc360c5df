"""The suite's tiers: every test says which real parts it starts, and the suite checks it.

A test carries one or more of these markers (declared in ``pyproject.toml``, where
``--strict-markers`` refuses any other name):

    unit      pure logic: no process, no fork, no network connection
    local     local programs (the migrator CLI, a shell, a fork, a pty) and loopback
              sockets, but none of the real servers below
    zk        a real ZooKeeper server
    sshd      real sshd servers
    sandbox   a whole sandbox shard (its ZooKeeper, zones, sitters, sshds)
    pgreal    real PostgreSQL servers (a sandbox with ``pg="real"``)

``scripts/test.sh --fast`` runs everything but ``sandbox`` and ``pgreal``.

Two checks keep the markers honest, so a test cannot start a server its marker
does not name (it fails, saying which marker it needs):

- at collection, from the fixtures a test uses (``FIXTURE_NEEDS``): a test using
  ``zk_server`` (directly or through another fixture) must allow ``zk``;
- while it runs, from what it actually starts: a Python audit hook sees every
  ``subprocess.Popen``, ``os.exec*``, ``os.posix_spawn``, ``os.fork``/``forkpty`` and
  every IP ``socket.connect`` of the test process and classifies it (``kinds_of``).
  A start the test's markers do not allow is refused there (the exception names the
  marker) and fails the test even if the code under test swallowed the exception.

Processes started by other processes (a sitter starting its postgres) are not seen
by the hook; the ``sandbox`` fixture checks ``pg="real"`` against ``pgreal`` itself,
and a ``migrator sandbox up|rehearse`` command line counts as ``pgreal`` unless it
says ``--pg sim``.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

# what each marker lets a test start
ALLOWS: dict[str, frozenset[str]] = {
    "unit": frozenset(),
    "local": frozenset({"local", "network"}),
    "zk": frozenset({"zk", "local", "network"}),
    "sshd": frozenset({"sshd", "local", "network"}),
    "sandbox": frozenset({"sandbox", "zk", "sshd", "local", "network"}),
    "pgreal": frozenset({"pgreal", "local", "network"}),
}
TIERS = tuple(ALLOWS)
# the marker that allows each kind of start, for the error message
NEEDS_MARKER = {"zk": "zk", "sshd": "sshd", "sandbox": "sandbox", "pgreal": "pgreal",
                "local": "local", "network": "local"}

# fixtures that start a real part; a test using one (even indirectly) must allow it
FIXTURE_NEEDS = {
    "zk_server": "zk",
    "own_zk": "zk",
    "sshd_factory": "sshd",
    "shared_sshd": "sshd",
    "sandbox": "sandbox",
    "shared_sandbox": "sandbox",
    "client_key": "local",
}

# a generous bound for tests that bring up sandboxes (several reprovisions, a rollback);
# everything else has pyproject.toml's `timeout`
SANDBOX_TIMEOUT = 600.0
# the order tests are handed to workers: the long ones first, so that the short ones
# fill the gaps at the end instead of one long test running alone
ORDER = {"pgreal": 0, "sandbox": 1, "zk": 2, "sshd": 2, "local": 3, "unit": 4}

PG_PROGRAMS = frozenset({"postgres", "postmaster", "pg_ctl", "initdb", "pg_basebackup"})
SANDBOX_STARTS = frozenset({"up", "rehearse", "start-peer", "reprovision", "client"})


class TierViolation(RuntimeError):
    """A test started something its tier markers do not allow."""


def kinds_of(argv: Iterable[Any]) -> set[str]:
    """What starting ``argv`` brings up: one or more of ALLOWS' kinds."""
    words = [os.fsdecode(w) if isinstance(w, bytes) else str(w) for w in argv]
    if not words:
        return {"local"}
    program = os.path.basename(words[0])
    if any("ZooKeeperServerMain" in w for w in words):
        return {"zk"}
    if program == "sshd":
        return {"sshd"}
    if program in PG_PROGRAMS:
        return {"pgreal"}
    if "migrator.sandbox.relay" in words:
        return {"local"}  # a delaying TCP relay: no server of its own
    if any(w.startswith("migrator.sandbox") for w in words):
        return {"sandbox"}  # a sitter, its supervisor, the write client
    if "sandbox" in words:
        verb_at = words.index("sandbox") + 1
        verb = words[verb_at] if verb_at < len(words) else ""
        is_cli = any(w == "migrator" or w.endswith("/migrator") for w in words[:verb_at])
        if is_cli and verb in SANDBOX_STARTS:
            sim = "--pg=sim" in words or ("--pg", "sim") in set(itertools.pairwise(words))
            brings_up = verb in ("up", "rehearse")  # the CLI's --pg default is real
            return {"sandbox"} if sim or not brings_up else {"sandbox", "pgreal"}
    return {"local"}


@dataclass
class Running:
    """The test being run: what its markers allow, and what it was refused."""

    nodeid: str
    tiers: tuple[str, ...]
    allowed: frozenset[str]
    violations: list[str] = field(default_factory=list)


_current: Running | None = None


def _refuse(what: str, kinds: set[str]) -> None:
    test = _current
    if test is None:
        return
    missing = sorted(kinds - test.allowed)
    if not missing:
        return
    markers = sorted({NEEDS_MARKER[k] for k in missing})
    message = (f"{test.nodeid} {what}, which needs the marker(s) "
               f"{', '.join('@pytest.mark.' + m for m in markers)}; it carries "
               f"{', '.join(test.tiers) or 'none'}. Mark it with what it starts.")
    test.violations.append(message)
    raise TierViolation(message)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _current is None:
        return
    if event == "subprocess.Popen":
        argv = args[1] if isinstance(args[1], list | tuple) else [args[1]]
        _refuse(f"starts `{' '.join(map(str, argv))[:200]}`", kinds_of(argv))
    elif event in ("os.exec", "os.posix_spawn"):
        argv = list(args[1]) if args[1] is not None else [args[0]]
        _refuse(f"runs `{' '.join(map(str, argv))[:200]}`", kinds_of(argv))
    elif event in ("os.fork", "os.forkpty"):
        _refuse("forks a process", {"local"})
    elif event == "socket.connect":
        sock = args[0]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"connects to {args[1]!r}", {"network"})


def tiers_of(item: pytest.Item) -> tuple[str, ...]:
    return tuple(sorted({m.name for m in item.iter_markers() if m.name in ALLOWS}))


def allowed_by(tiers: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(ALLOWS[t] for t in tiers))


def marker_problem(item: pytest.Item) -> str | None:
    """Why ``item``'s markers do not fit what its fixtures start, or None."""
    tiers = tiers_of(item)
    if not tiers:
        return (f"{item.nodeid} carries no tier marker: mark it (or its module's "
                f"`pytestmark`) with one of {', '.join(TIERS)} (tests/tiers.py says which).")
    if "unit" in tiers and len(tiers) > 1:
        return (f"{item.nodeid} is marked {' and '.join(tiers)}: unit means no I/O at all, "
                "so it stands alone; keep the markers of what it starts.")
    allowed = allowed_by(tiers)
    for name in getattr(item, "fixturenames", ()):
        need = FIXTURE_NEEDS.get(name)
        if need is not None and need not in allowed:
            return (f"{item.nodeid} uses the fixture `{name}`, which starts {need}: mark it "
                    f"@pytest.mark.{NEEDS_MARKER[need]} (it carries {', '.join(tiers)}).")
    return None


def require(item: pytest.Item, marker: str, why: str) -> None:
    """For fixtures that start something the audit hook cannot see (a sitter's postgres)."""
    if marker not in tiers_of(item):
        message = f"{item.nodeid} {why}, which needs @pytest.mark.{marker}."
        if _current is not None:
            _current.violations.append(message)
        raise TierViolation(message)


_PROBLEM = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_audit)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        problem = marker_problem(item)
        if problem is not None:
            item.stash[_PROBLEM] = problem
        tiers = tiers_of(item)
        if ({"sandbox", "pgreal"} & set(tiers)) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SANDBOX_TIMEOUT))
    items.sort(key=lambda item: min((ORDER[t] for t in tiers_of(item)), default=len(ORDER)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    global _current
    tiers = tiers_of(item)
    _current = Running(item.nodeid, tiers, allowed_by(tiers))
    try:
        return (yield)
    finally:
        _current = None


def _raise_swallowed() -> None:
    """A refusal the code under test caught still fails the test."""
    if _current is not None and _current.violations:
        violations, _current.violations = _current.violations, []
        pytest.fail("\n".join(violations), pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    problem = item.stash.get(_PROBLEM, None)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest
                         ) -> Generator[None, object, object]:
    result = yield
    _raise_swallowed()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    _raise_swallowed()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    result = yield
    _raise_swallowed()
    return result
