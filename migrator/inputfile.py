"""Read an operator's file (inventory, playbook, topology, saved plan), bounded.

``Path.read_text`` reads without limit (``--inventory /dev/zero`` never returns)
and raises ``UnicodeDecodeError`` on bytes that are not UTF-8; both would be
internal errors. Every such file is small text, so we read at most ``limit``
bytes and refuse more, and decode strictly, naming the first bad byte.
"""

from __future__ import annotations

from pathlib import Path

from migrator.errors import BadInput

MAX_INPUT_BYTES = 4 * 1024 * 1024


def read_input_text(path: Path, what: str, limit: int = MAX_INPUT_BYTES,
                    hint: str = "Check the path given.") -> str:
    """The file's text; ``BadInput`` (exit 2) when unreadable, too large or not UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise BadInput(f"Cannot read the {what} {path}: {exc.strerror or exc}.", hint) from None
    if len(data) > limit:
        raise BadInput(
            f"The {what} {path} is larger than {limit // (1024 * 1024)} MiB "
            "(or never ends, like a device).",
            f"Give the {what} file itself; it is a small text file.",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"The {what} {path} is not UTF-8 text (line {line}, byte {exc.start}: "
            f"{data[exc.start:exc.start + 1]!r}).",
            f"Save the {what} as UTF-8 (for example with `iconv -t UTF-8`).",
        ) from None
