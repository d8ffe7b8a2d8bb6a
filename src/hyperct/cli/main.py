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
    from hyperct.cli import anatomy, tasks_cmd

    app.command("tasks")(tasks_cmd.tasks)
    app.command("anatomy")(anatomy.anatomy)
    from hyperct.cli import adapt_cmd, manifest_cmd, prepare

    app.command("prepare")(prepare.prepare)
    app.add_typer(manifest_cmd.app, name="manifest")
    app.add_typer(adapt_cmd.app, name="adapt")
    from hyperct.cli import label as label_cmd

    app.add_typer(label_cmd.app, name="label")
    from hyperct.cli import compare, predict, train

    app.command("train")(train.train)
    app.command("predict")(predict.predict)
    app.command("compare")(compare.compare)
    from hyperct.cli import demo

    app.command("demo")(demo.demo)
    from hyperct.cli import evaluate, explain

    app.command("evaluate")(evaluate.evaluate)
    app.command("explain")(explain.explain)
    from hyperct.cli import phantom_cmd

    app.command("phantom")(phantom_cmd.phantom)


_register()


def main() -> None:
    app()
