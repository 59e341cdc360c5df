"""A run's stop (migrator.cancellation): every kind of wait wakes at once and raises it."""

from __future__ import annotations

import select
import threading

import pytest

from migrator.cancellation import Cancellation, active, current
from migrator.errors import Refused

pytestmark = pytest.mark.unit


def test_the_first_stop_stands_and_is_raised_by_check_and_wait() -> None:
    run = Cancellation()
    run.check()  # not stopped: nothing
    first, second = Refused("first", None), Refused("second", None)
    assert run.cancel(first) and not run.cancel(second)
    assert run.error is first
    with pytest.raises(Refused) as raised:
        run.wait(60)  # returns at once: stopped already
    assert raised.value is first


def test_a_thread_based_wait_is_woken_and_a_poll_sees_the_descriptor() -> None:
    run = Cancellation()
    woken = threading.Event()
    with run.waking(woken.set):
        fd = run.fileno()
        assert select.select([fd], [], [], 0)[0] == []
        run.cancel(Refused("stop", None))
        assert woken.is_set()
        assert select.select([fd], [], [], 0)[0] == [fd]
    late = threading.Event()
    with run.waking(late.set):  # registering after the stop wakes at once
        assert late.is_set()
    run.close()


def test_a_stop_its_wait_outran_is_withdrawn_and_the_run_goes_on() -> None:
    run = Cancellation()
    fd = run.fileno()
    error = Refused("hopeless", None)
    run.cancel(error)
    run.withdraw(Refused("another", None))  # not the reason: nothing changes
    assert run.error is error
    run.withdraw(error)
    run.check()
    assert select.select([fd], [], [], 0)[0] == []  # drained
    run.close()


def test_the_run_s_stop_is_current_only_for_its_length() -> None:
    outside = current()
    run = Cancellation()
    with active(run):
        assert current() is run
    assert current() is outside and outside.error is None


def test_a_ctrl_c_a_library_swallowed_is_raised_again_once_in_the_main_thread() -> None:
    from migrator import cancellation

    run = Cancellation()
    try:
        with pytest.raises(KeyboardInterrupt):
            cancellation.on_ctrl_c(2, None)
        # as kazoo's bare `except:` would: the KeyboardInterrupt is gone, the press is not
        assert cancellation.ctrl_c_pending()
        elsewhere: list[BaseException] = []

        def helper() -> None:
            try:
                run.check()
            except BaseException as exc:  # the assertion needs whatever came
                elsewhere.append(exc)

        thread = threading.Thread(target=helper)
        thread.start()
        thread.join()
        assert elsewhere == []  # a helper thread neither raises it nor consumes it
        with pytest.raises(KeyboardInterrupt):
            run.check()
        run.check()  # once
        with pytest.raises(KeyboardInterrupt):
            cancellation.on_ctrl_c(2, None)
        cancellation.ctrl_c_handled()  # the runner caught it: nothing to raise again
        assert not cancellation.ctrl_c_pending()
        run.check()
    finally:
        cancellation.ctrl_c_handled()
