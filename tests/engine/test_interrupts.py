"""Ctrl-C held back for the length of a journal write, then delivered (real signals)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from migrator.engine.interrupts import sigint_deferred

pytestmark = pytest.mark.unit


def test_deferred_ctrl_c_is_raised_after_the_write() -> None:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    wrote = []
    try:
        with pytest.raises(KeyboardInterrupt), sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            wrote.append(True)  # the write goes on to its end
        assert wrote == [True]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_deferred_ctrl_c_goes_to_a_patient_handler_in_place() -> None:
    """During a reprovision the runner's handler decides (the first press lets it run)."""
    seen: list[int] = []

    def patient(signum: int, _frame: Any) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGINT, patient)
    try:
        with sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            assert seen == []  # not while the write is under way
        assert seen == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is patient
    finally:
        signal.signal(signal.SIGINT, previous)
