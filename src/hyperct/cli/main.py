"""The `hyperct` command. Each sub-command lives in its own module and is registered here.

Command modules import only typer at module level; heavy imports happen inside the command, so
`hyperct --help` stays instant.
"""

from __future__ import annotations

import logging

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
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    """Commands in the order of the flow: data, labels, models, evaluation, the whole job."""
    from hyperct.cli import (
        adapt_cmd,
        anatomy,
        compare,
        demo,
        evaluate,
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
    app.command("explain")(explain.explain)
    app.command("demo")(demo.demo)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
