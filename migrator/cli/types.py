"""click parameter types shared by the commands.

Number options must be real, usable numbers (issue 21 §5). ``float()``, and so
click's ``float``, take ``nan``, ``inf`` and ``1e999`` (``inf``); click's
``FloatRange`` refuses ``inf`` but lets ``nan`` through (every comparison with it
is false), so ``--connect-timeout nan`` was accepted and then waited "nan s".
Decisions:

* every float option refuses what is not finite (``nan``, ``inf``, ``-inf``, a
  number too large for a double), as a usage error (exit 2) naming the option;
* timeouts and waits must be greater than zero (``FiniteFloat()``, or
  ``FiniteFloatRange(low, high)`` with ``low > 0``);
* an option whose zero is meaningful and whose range its command already checks
  with its own message (``sandbox up --latency``: 0 is no delay, 0 to 1000;
  ``sandbox reprovision --delay``: 0 to 600) takes ``FiniteFloat(positive=False)``
  and only finiteness is checked here;
* the help and man pages read as before: ``FiniteFloat`` shows ``FLOAT``,
  ``FiniteFloatRange`` ``FLOAT RANGE`` and its range.
"""

from __future__ import annotations

import math
from typing import Any

import click


def _finite(kind: click.ParamType[Any, Any], value: Any, param: click.Parameter | None,
            ctx: click.Context | None, wanted: str) -> float:
    """``value`` as a finite float, or click's usage error saying what to give."""
    if isinstance(value, bool):
        kind.fail(f"{value!r} is not a number; give {wanted}.", param, ctx)
    try:
        number = float(value)
    except (TypeError, ValueError):
        kind.fail(f"{value!r} is not a number; give {wanted}.", param, ctx)
    if not math.isfinite(number):
        kind.fail(f"{value} is not a finite number; give {wanted}.", param, ctx)
    return number


class FiniteFloat(click.types.FloatParamType):
    """A finite float; with ``positive`` (the default: timeouts, waits) above zero."""

    def __init__(self, *, positive: bool = True) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        wanted = "a number greater than 0" if self.positive else "a finite number"
        number = _finite(self, value, param, ctx, wanted)
        if self.positive and number <= 0:
            self.fail(f"{value} is not greater than 0; give {wanted}.", param, ctx)
        return number


class FiniteFloatRange(click.FloatRange):
    """click's ``FloatRange`` that also refuses ``nan`` (which passes its comparisons)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        _finite(self, value, param, ctx, f"a number in the range {self._describe_range()}")
        return float(super().convert(value, param, ctx))
