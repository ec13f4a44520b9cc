"""The ``movierec`` command line: one module per command group, registered here.

Every command turns a :class:`~movierec.errors.MovierecError` into a one-line message on
standard error and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

import movierec
from movierec.errors import MovierecError

app = typer.Typer(
    name="movierec",
    help="Movie recommenders with Keras 3: explore, train, compare, recommend, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_stderr = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"movierec {movierec.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Movie recommenders with Keras 3."""


def _register_commands() -> None:
    # Each command module exposes ``register(app)``; add new modules to this tuple.
    from movierec.cli import (
        commands_data,
        commands_explore,
        commands_recommend,
        commands_retrain,
        commands_serve,
        commands_store,
        commands_train,
    )

    modules: tuple = (commands_data, commands_explore, commands_train, commands_serve,
                      commands_recommend, commands_store, commands_retrain)
    for module in modules:
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user errors print a message and exit with code 2."""
    try:
        app(args=argv)
    except MovierecError as error:
        _stderr.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
