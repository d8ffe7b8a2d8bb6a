"""The `hyperct` command. Each sub-command lives in its own module and is registered here.

Command modules import only typer at module level; heavy imports happen inside the command, so
`hyperct --help` stays instant. Bad input raises ``ValueError`` / ``KeyError`` / ``OSError`` with
a message naming the file, row or field; the command prints that message and exits with 2
(``--verbose`` shows the traceback too).
"""

from __future__ import annotations

import logging
import sys

import typer

from hyperct import __version__

app = typer.Typer(
    name="hyperct",
    help="Unified chest-CT screening: 25 findings from one non-contrast chest CT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hyperct {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when a host application configured logging first


def _register() -> None:
    """Commands in the order of the flow: data, labels, models, evaluation, the whole job."""
    from hyperct.cli import (
        adapt_cmd,
        anatomy,
        compare,
        demo,
        evaluate,
        evaluate_masks,
        evaluate_reports,
        explain,
        label,
        manifest_cmd,
        phantom_cmd,
        predict,
        prepare,
        tasks_cmd,
        train,
    )

    app.command("tasks")(tasks_cmd.tasks)
    app.command("phantom")(phantom_cmd.phantom)
    app.add_typer(adapt_cmd.app, name="adapt")
    app.add_typer(manifest_cmd.app, name="manifest")
    app.add_typer(label.app, name="label")
    app.command("anatomy")(anatomy.anatomy)
    app.command("prepare")(prepare.prepare)
    app.command("train")(train.train)
    app.command("compare")(compare.compare)
    app.command("predict")(predict.predict)
    app.command("evaluate")(evaluate.evaluate)
    app.command("evaluate-reports")(evaluate_reports.evaluate_reports)
    app.command("evaluate-masks")(evaluate_masks.evaluate_masks)
    app.command("explain")(explain.explain)
    app.command("demo")(demo.demo)


_register()


#: Errors that report bad input (files, configs, manifests) rather than a bug in hyperct.
USER_ERRORS = (ValueError, KeyError, OSError)


def main() -> None:
    try:
        app()
    except USER_ERRORS as err:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        typer.echo(f"error: {message}\n(run with --verbose for the traceback)", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
