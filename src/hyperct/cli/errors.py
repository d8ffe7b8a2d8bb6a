"""How every `hyperct` command ends: one exit-code scheme and one plain-text error line.

Commands raise; they never print an error or choose an exit code themselves. ``main`` turns
what a command raised into ``error: <message>`` on stderr (plain text, never rich markup, so a
path such as ``a[/y].csv`` prints as it is) and into the exit code below. A batch job that went
on past failed items lists them with :func:`exit_if_failed`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from enum import IntEnum

import typer

logger = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """What a script calling `hyperct` can tell apart."""

    OK = 0
    FAILED_ITEMS = 1  # a batch job finished; some items failed and are listed
    BAD_INPUT = 2  # bad input or usage: the message names the file, row, field or option
    INTERNAL = 3  # an unexpected exception: a bug in hyperct


class InputError(Exception):
    """Bad input a command finds itself (an option combination, a missing optional tool)."""


#: Exceptions that report the user's input (files, configs, manifests) rather than a bug in
#: hyperct; the library's own error classes (ManifestError, ConfigError, ...) derive from these.
USER_ERRORS: tuple[type[BaseException], ...] = (InputError, ValueError, KeyError, OSError)

#: How many failed items a batch job lists before it only counts the rest.
SHOWN_FAILURES = 50


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, as plain text."""
    typer.echo(f"error: {message}", err=True)


def exit_code_for(exc: BaseException, verbose: bool) -> ExitCode:
    """Print ``exc`` the one way (with its traceback when ``verbose``) and return its exit code."""
    if isinstance(exc, typer.TyperException):  # typer's own usage errors: unknown option, ...
        message = exc.format_message()
        if message:  # empty when typer printed the help of a bare group instead
            print_error(f"{message} (try --help)")
        return ExitCode.BAD_INPUT
    if verbose:
        traceback.print_exception(exc)
    if isinstance(exc, USER_ERRORS):
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print_error(str(message))
        return ExitCode.BAD_INPUT
    hint = "" if verbose else "; run again with --verbose for the traceback"
    print_error(f"internal error ({type(exc).__name__}: {exc}){hint}; please report it")
    return ExitCode.INTERNAL


def exit_if_failed(failures: Sequence[str], what: str) -> None:
    """List a batch job's failed items on stderr and exit 1 when there is any.

    Each item is one line naming the item and why it failed; the job has already done the rest.
    """
    if not failures:
        return
    for line in failures[:SHOWN_FAILURES]:
        typer.echo(f"failed: {line}", err=True)
    if len(failures) > SHOWN_FAILURES:
        typer.echo(f"... and {len(failures) - SHOWN_FAILURES} more", err=True)
    typer.echo(f"{what}: {len(failures)} item(s) failed", err=True)
    raise typer.Exit(ExitCode.FAILED_ITEMS)
