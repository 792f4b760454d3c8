"""One runner for the ``smame`` Typer apps: how errors look, what exit codes mean, which language.

Every user error — a :class:`CliError` raised by a command, or a usage error Click finds while
parsing — is printed here as one line on stderr, never wrapped (a path longer than the
terminal stays on its line, so scripts and tests can match it), and ends the process with
:data:`EXIT_USAGE`. Commands that ran but did not fully succeed exit with
:data:`EXIT_FAILED`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from smame.messages import set_language, tr

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "CliError", "OneLineErrors", "console",
           "err_console", "existing_store", "new_app", "print_error", "run_app"]

EXIT_OK = 0  # everything asked for was done
EXIT_FAILED = 1  # the command ran, but some or all of what it asked for failed
EXIT_USAGE = 2  # nothing was done: bad arguments, missing or unwritable files

# soft_wrap: Rich never inserts line breaks (without a terminal it would wrap at 80 columns).
console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)


class CliError(Exception):
    """A user error: printed as one line, exit code :data:`EXIT_USAGE`."""


def print_error(message: str) -> None:
    """The one place an error line is printed."""
    one_line = " ".join(message.splitlines())  # a wrapped library message stays one line
    err_console.print(f"[red]{tr('error:')}[/] {escape(one_line)}")


def existing_store(data: Path) -> Path:
    """``data`` if it holds an MDMS store; otherwise a :class:`CliError` (nothing is created)."""
    from smame.store.catalog import CATALOG_FILE

    if not data.exists():
        raise CliError(tr("--data {data} does not exist (only `smame mdms ingest` creates "
                          "a store)", data=data))
    if not data.is_dir():
        raise CliError(tr("--data {data} is not a directory", data=data))
    if not (data / CATALOG_FILE).is_file():
        raise CliError(tr("--data {data}: not an MDMS store (no {file}); only `smame mdms "
                          "ingest` creates one", data=data, file=CATALOG_FILE))
    return data


def _usage_line(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    hint = f" ({ctx.command_path} --help)" if ctx is not None else ""
    return exc.format_message() + hint


def _run(invoke: Callable[[], Any]) -> NoReturn:
    """Run a Click command in non-standalone mode and turn its outcome into an exit."""
    set_language(None)  # the root callback sets --lang; until then the locale decides
    try:
        code = invoke()
    except CliError as exc:
        print_error(str(exc))
        sys.exit(EXIT_USAGE)
    except typer.TyperException as exc:  # Click's parsing errors (Typer vendors Click)
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help
            print_error(_usage_line(exc))
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error(tr("aborted"))
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


class OneLineErrors(TyperGroup):
    """The root command group: errors of every sub-command become one line and an exit code."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        run = super().main
        if not standalone_mode:
            return run(*args, standalone_mode=False, **kwargs)
        _run(lambda: run(*args, standalone_mode=False, **kwargs))


def new_app(help: str, **options: Any) -> typer.Typer:
    """A Typer app whose errors are one line, whether run alone or under ``smame``."""
    return typer.Typer(help=help, cls=OneLineErrors, no_args_is_help=True,
                       pretty_exceptions_enable=False, add_completion=False, **options)


def run_app(typer_app: typer.Typer, prog_name: str | None = None) -> NoReturn:
    """Run a Typer app (``smame``, or a sub-app on its own) with errors as one line."""
    _run(lambda: typer.main.get_command(typer_app).main(prog_name=prog_name,
                                                         standalone_mode=False))
