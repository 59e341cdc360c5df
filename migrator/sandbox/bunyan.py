"""Bunyan JSON-line records, as manatee's sitter writes them, and Node's inspect format.

A record carries bunyan's core fields (name, hostname, pid, level, msg, time, v)
plus the logger's fields (``component``) and the call's fields. Upstream logs
some objects as extra ``util.format`` arguments, which end up inside ``msg`` in
Node's ``util.inspect`` notation (``{ role: 'sync', upstream: null }``); we render
that notation with ``inspect`` so the messages read like the runbook's.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, TextIO

from migrator.isotime import iso_now_ms

TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 10, 20, 30, 40, 50, 60


def inspect(value: Any) -> str:
    """Node's ``util.inspect`` of JSON-like data, on one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[ " + ", ".join(inspect(v) for v in value) + " ]" if value else "[]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)}: {inspect(v)}" for k, v in value.items()) + " }"
    return inspect(str(value))


def _key(key: str) -> str:
    return key if key.isidentifier() else inspect(key)


def error_field(name: str, message: str, where: str) -> dict[str, str]:
    """What bunyan's ``err`` serializer writes for an Error."""
    return {"message": message, "name": name, "stack": f"{name}: {message}\n    at {where}"}


class BunyanLog:
    """Append-only bunyan log; one JSON line per record, flushed at once (others tail it)."""

    def __init__(self, path: Path, name: str, hostname: str, **fields: Any) -> None:
        self.path = path
        self.name = name
        self.hostname = hostname
        self.fields = fields
        self.min_level = DEBUG  # like Triton's sitter (-vvv); INFO: a sitter at its default
        self._lock = threading.Lock()
        self._stream: TextIO = path.open("a", encoding="utf-8")

    def child(self, **fields: Any) -> BunyanLog:
        other = BunyanLog.__new__(BunyanLog)
        other.path, other.name, other.hostname = self.path, self.name, self.hostname
        other.fields = {**self.fields, **fields}
        other.min_level = self.min_level
        other._lock, other._stream = self._lock, self._stream
        return other

    def record(self, level: int, msg: str, fields: dict[str, Any] | None = None) -> None:
        if level < self.min_level:
            return
        record: dict[str, Any] = {
            "name": self.name,
            "hostname": self.hostname,
            "pid": os.getpid(),
            **self.fields,
            "level": level,
        }
        if fields:
            record.update(fields)
        record["msg"] = msg
        record["time"] = iso_now_ms()
        record["v"] = 0
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def debug(self, msg: str, fields: dict[str, Any] | None = None) -> None:
        self.record(DEBUG, msg, fields)

    def info(self, msg: str, fields: dict[str, Any] | None = None) -> None:
        self.record(INFO, msg, fields)

    def warn(self, msg: str, fields: dict[str, Any] | None = None) -> None:
        self.record(WARN, msg, fields)

    def error(self, msg: str, fields: dict[str, Any] | None = None) -> None:
        self.record(ERROR, msg, fields)

    def close(self) -> None:
        with self._lock:
            self._stream.close()
