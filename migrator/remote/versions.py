"""Version strings as zones report them, compared with a playbook's ``at_least`` (pure).

Decisions: the version command may print a ``package.json`` (its ``version``
is used) or a bare string (its first line). ``at_least`` may be a build stamp
such as ``20141204T233537Z`` (Triton image versions embed one:
``master-20141204T233537Z-g1a2b3c4``), compared as a stamp; or a release such
as ``v2`` / ``2.1.1``, compared numerically component by component (missing
components are 0, so ``2.1.1-sandbox`` is at least ``v2``).
"""

from __future__ import annotations

import re

from migrator.strictjson import loads

_STAMP_RE = re.compile(r"\d{8}T\d{6}Z")
_NUMBERS_RE = re.compile(r"^v?(\d+(?:\.\d+)*)")


# What a version looks like: ``2.1.1``, ``v2``, ``2.1.1-sandbox``,
# ``master-20141204T233537Z-g1a2b3c4``. Anything else a zone prints (shell text,
# escape sequences, a banner) is not a version: it is never compared or shown as one.
_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]{0,127}")


def reported_version(output: str) -> str | None:
    """The version a zone's version command printed, or None when it printed none."""
    text = output.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            data = loads(text, max_bytes=1024 * 1024)
        except ValueError:
            return None
        version = data.get("version") if isinstance(data, dict) else None
    else:
        version = text.splitlines()[0].strip()
    return version if isinstance(version, str) and _VERSION_RE.fullmatch(version) else None


def at_least(actual: str, wanted: str) -> bool | None:
    """True/False, or None when the two cannot be compared."""
    stamp = _STAMP_RE.search(wanted)
    if stamp:
        found = _STAMP_RE.search(actual)
        return None if found is None else found.group(0) >= stamp.group(0)
    mine, theirs = _NUMBERS_RE.match(actual), _NUMBERS_RE.match(wanted)
    if mine is None or theirs is None:
        return None
    left = [int(p) for p in mine.group(1).split(".")]
    right = [int(p) for p in theirs.group(1).split(".")]
    width = max(len(left), len(right))
    return left + [0] * (width - len(left)) >= right + [0] * (width - len(right))
