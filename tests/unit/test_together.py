"""``side_by_side`` and ``both``: independent looks made at once, their results (or what
they raised) handed back in the order given, whatever order they finished in."""

from __future__ import annotations

import threading

import pytest

from migrator.errors import Refused
from migrator.stepkit.together import both, side_by_side

pytestmark = pytest.mark.unit


def test_results_come_back_in_the_order_given_whichever_finished_first() -> None:
    first_may_answer = threading.Event()

    def slow() -> str:
        first_may_answer.wait(30)  # answers only once the last one has answered
        return "first"

    def fails() -> str:
        raise Refused("the second does not hold", "")

    def fast() -> str:
        first_may_answer.set()
        return "third"

    results = side_by_side([slow, fails, fast], "test")
    assert results[0] == "first" and results[2] == "third"
    assert isinstance(results[1], Refused)


def test_every_call_but_the_first_runs_in_a_thread_of_its_own() -> None:
    names = side_by_side([lambda: threading.current_thread().name,
                          lambda: threading.current_thread().name], "test")
    assert names == [threading.current_thread().name, "test-1"]


def test_both_raises_what_the_first_raised_before_what_the_second_did() -> None:
    def first() -> int:
        raise Refused("first", "")

    def second() -> int:
        raise ValueError("second")

    with pytest.raises(Refused):
        both(first, second, "test")
    with pytest.raises(ValueError):
        both(lambda: 1, second, "test")
    assert both(lambda: 1, lambda: "two", "test") == (1, "two")


def test_nothing_to_run_is_nothing_returned() -> None:
    assert side_by_side([], "test") == []
