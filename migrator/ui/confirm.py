"""Asking the operator before a write.

With ``--yes`` nothing is asked. Without it, a terminal is required: a scripted
run that would need an answer fails at once (``NotConfirmed``) rather than
hanging on a prompt nobody will see. Destructive steps ask for the shard name
to be typed, not just "y".
"""

from __future__ import annotations

import sys

from migrator.errors import NotConfirmed


def _need_terminal(question: str) -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise NotConfirmed(
            f"Confirmation needed ({question}) but there is no terminal to ask on; "
            "nothing was written.",
            "Run it in a terminal, or pass --yes once you have checked what it will write.",
        )


def confirm(question: str, *, assume_yes: bool) -> None:
    """Return if confirmed; raise ``NotConfirmed`` (nothing written) otherwise."""
    if assume_yes:
        return
    _need_terminal(question)
    # deferred: questionary costs ~95 ms to import; only questions pay it
    import questionary

    answer = questionary.confirm(question, default=False).ask()
    if answer is not True:
        raise NotConfirmed(
            "Not confirmed; nothing was written.", "Run the command again when ready."
        )


# A typo is not a "no": the shard name is asked again, this many times in all.
TYPED_ATTEMPTS = 3


def confirm_typed(question: str, expected: str, *, assume_yes: bool) -> None:
    """Ask the operator to type ``expected`` (the shard name) to go ahead; a wrong name
    is asked again (``TYPED_ATTEMPTS`` in all), saying what was expected. Ctrl-C or the
    end of input is no answer: ``NotConfirmed`` at once."""
    if assume_yes:
        return
    _need_terminal(question)
    # deferred: questionary costs ~95 ms to import; only questions pay it
    import questionary

    prompt = f"{question} Type the shard name ({expected}) to go ahead:"
    for attempt in range(1, TYPED_ATTEMPTS + 1):
        answer = questionary.text(prompt).ask()
        if answer is None:
            break
        if answer.strip() == expected:
            return
        left = TYPED_ATTEMPTS - attempt
        if left:
            sys.stderr.write(f"That is not the shard name: type {expected} exactly "
                             f"({left} {'try' if left == 1 else 'tries'} left).\n")
            sys.stderr.flush()
    raise NotConfirmed(
        f"The shard name ({expected}) was not typed; nothing was written.",
        "Run the command again when ready.",
    )
