"""Typed errors that carry a sentence for the operator and a hint for the fix.

Every error the operator can cause or meet in the field is a ``MigratorError``;
the CLI prints ``message`` and ``hint`` as one paragraph and exits with
``exit_status``. Anything else is a bug and keeps its traceback (``--debug``).

Exit statuses (documented in the README):
  0 success; 1 a step or verification failed; 2 bad input (usage,
  configuration, playbook, unreachable ZooKeeper); 3 refused for safety
  (precondition, conflict, lock, unexpected topology or znode contents);
  130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_INTERRUPTED = 130


class MigratorError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` what to do."""

    exit_status: int = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def paragraph(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class BadInput(MigratorError):
    """The operator's input (options, files, environment) cannot be used."""

    exit_status = EXIT_BAD_INPUT


# What parsing an operator's JSON document raises when it is not shaped as expected.
MISSHAPEN = (ValueError, KeyError, TypeError, AttributeError)


def misshapen(problem: str, exc: BaseException, hint: str) -> BadInput:
    """The error for a document that did not parse: ``problem`` and what was raised."""
    return BadInput(f"{problem} ({type(exc).__name__}: {exc}).", hint)


class ZooKeeperUnavailable(BadInput):
    """ZooKeeper could not be reached with the connection string given."""


class ShardNotFound(BadInput):
    """The named shard has no znode under /manatee."""


class Refused(MigratorError):
    """We refuse to act because acting could be unsafe."""

    exit_status = EXIT_REFUSED


class MalformedZnode(Refused):
    """A znode's name or contents are not what manatee writes."""


class UnexpectedTopology(Refused):
    """The shard's topology is not one this operation can safely handle."""


class StateConflict(Refused):
    """The cluster changed between our read and our conditional write."""


class StateAlreadyExists(Refused):
    """A backfill was asked for but /state already exists."""


class NotConfirmed(Refused):
    """The operator declined (or could not be asked) to confirm a write."""


class StepFailed(MigratorError):
    """An action or verification failed."""

    exit_status = EXIT_FAILED
