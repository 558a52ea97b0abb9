"""The error a user can fix: command-line tools print its message as one line and exit with status 2."""
from __future__ import annotations

import sys
from typing import Callable


class UserInputError(ValueError):
    """Bad input the user can fix (a file, a flag, a config value).

    The message is one line and names the file, the video (where there is one) and what is wrong.
    It subclasses ValueError so existing `except ValueError` callers keep working.
    """


def exit_on_user_error(main: Callable, *args, **kwargs):
    """Runs `main(*args, **kwargs)`; a `UserInputError` becomes `error: <message>` on stderr and exit 2."""
    try:
        return main(*args, **kwargs)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
