"""Asking the operator before a write.

With ``--yes`` nothing is asked. Without it, a terminal is required: a scripted
run that would need an answer fails at once (``NotConfirmed``) rather than
hanging on a prompt nobody will see. Destructive steps ask for the shard name
to be typed, not just "y".
"""

from __future__ import annotations

import sys
from typing import Any

from migrator.errors import NotConfirmed
from migrator.ui.inert import inert

NO_TERMINAL_HINT = "Run it in a terminal, or pass --yes once you have checked what it will write."


def _need_terminal(question: str, hint: str = NO_TERMINAL_HINT) -> None:
    """Answers come from standard input; questions are drawn on standard output, or on
    standard error when output goes elsewhere (``--json > events.jsonl``)."""
    if not (sys.stdin.isatty() and (sys.stdout.isatty() or sys.stderr.isatty())):
        raise NotConfirmed(
            inert(f"Confirmation needed ({question}) but there is no terminal to ask on; "
                  "nothing was written."), hint)


def _drawn_on() -> dict[str, Any]:
    """questionary's arguments that draw the question on the terminal: stderr when
    stdout is not one (it carries the JSON events then)."""
    if sys.stdout.isatty():
        return {}
    # deferred: prompt_toolkit comes with questionary; only questions pay it
    from prompt_toolkit.output import create_output

    return {"output": create_output(stdout=sys.stderr)}


def _answer(question: Any) -> Any:
    """The answer, or None for Ctrl-C, as questionary's own ``ask`` gives it, without the
    cancel message ``ask`` prints on stdout (which may be the event stream). The end of
    input propagates as it did (the CLI says the question could not be answered)."""
    try:
        return question.unsafe_ask()
    except KeyboardInterrupt:
        return None


def confirm(question: str, *, assume_yes: bool) -> None:
    """Return if confirmed; raise ``NotConfirmed`` (nothing written) otherwise."""
    if assume_yes:
        return
    _need_terminal(question)
    # deferred: questionary costs ~95 ms to import; only questions pay it
    import questionary

    answer = _answer(questionary.confirm(inert(question), default=False, **_drawn_on()))
    if answer is not True:
        raise NotConfirmed(
            "Not confirmed; nothing was written.", "Run the command again when ready."
        )


# A typo is not a "no": the shard name is asked again, this many times in all.
TYPED_ATTEMPTS = 3


def confirm_typed(question: str, expected: str, *, assume_yes: bool,
                  no_terminal_hint: str = NO_TERMINAL_HINT, noun: str = "shard") -> None:
    """Ask the operator to type ``expected`` (the shard's name, or the fleet's with
    ``noun="fleet"``) to go ahead; a wrong name is asked again (``TYPED_ATTEMPTS`` in
    all), saying what was expected. Ctrl-C is no answer: ``NotConfirmed`` at once."""
    if assume_yes:
        return
    _need_terminal(question, no_terminal_hint)
    # deferred: questionary costs ~95 ms to import; only questions pay it
    import questionary

    prompt = inert(f"{question} Type the {noun} name ({expected}) to go ahead:")
    for attempt in range(1, TYPED_ATTEMPTS + 1):
        answer = _answer(questionary.text(prompt, **_drawn_on()))
        if answer is None:
            break
        if answer.strip() == expected:
            return
        left = TYPED_ATTEMPTS - attempt
        if left:
            sys.stderr.write(inert(f"That is not the {noun} name: type {expected} exactly "
                                   f"({left} {'try' if left == 1 else 'tries'} left).")
                             + "\n")
            sys.stderr.flush()
    raise NotConfirmed(
        f"The {noun} name ({expected}) was not typed; nothing was written.",
        "Run the command again when ready.",
    )
