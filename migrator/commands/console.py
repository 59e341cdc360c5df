"""The console of a command that changes a shard (run, resume, rollback, rebuild):
``--quiet`` and the transcript kept beside the audit record (``engine.transcript``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from migrator.engine.events import EventConsole, EventSink
from migrator.engine.journal_store import cluster_key, default_audit_dir
from migrator.engine.transcript import Transcript
from migrator.errors import MigratorError


@contextmanager
def operator_console(target: Any, sink: EventSink, *, assume_yes: bool, quiet: bool,
                     verb: str) -> Iterator[EventConsole]:
    """The command's console, its transcript open for its length: the error or the
    interruption it ends with is written to the transcript too, and its path is said
    at the end (with ``--quiet`` as well)."""
    folder = default_audit_dir() / cluster_key(target.client) / target.shard
    transcript, problem = Transcript.start(folder, verb)
    console = EventConsole(sink, assume_yes=assume_yes, shard=target.shard, quiet=quiet,
                           transcript=transcript)
    if transcript is not None:
        transcript.write(f"migrator {verb}, shard {target.shard}")
    if problem is not None:
        console.essential(f"Note: {problem}", "yellow")
    try:
        yield console
    except MigratorError as exc:
        if transcript is not None:
            transcript.write(f"error: {exc.paragraph()}")
        raise
    except KeyboardInterrupt:
        if transcript is not None:
            transcript.write("interrupted (Ctrl-C)")
        raise
    finally:
        if transcript is not None:
            transcript.close()
            if transcript.problem is not None:
                console.essential(f"Note: {transcript.problem}", "yellow")
            console.essential(f"Transcript: {transcript.path}", "dim")
