"""One error style for every command: one clear line and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

__all__ = ["USAGE_ERROR", "USER_ERRORS", "checked", "fail"]

#: argparse's exit status for a usage error; every command uses it for a user's mistake.
USAGE_ERROR = 2
#: What the checks below the commands raise for a user's mistake (a bad name, value or path).
USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError)

T = TypeVar("T")


def checked(parser: argparse.ArgumentParser, check: Callable[[], T]) -> T:
    """Run ``check()``, which validates the options; its error becomes argparse's error."""
    try:
        return check()
    except USER_ERRORS as error:
        parser.error(str(error))


def fail(prog: str, message: str) -> NoReturn:
    """Bad input found after the options were checked: ``prog: error: message``, exit 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)
