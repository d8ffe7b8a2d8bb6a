"""The `hyperct` command. Each sub-command lives in its own module and is registered here.

Command modules import only typer at module level; heavy imports happen inside the command, so
`hyperct --help` stays instant. Bad input raises ``ValueError`` / ``KeyError`` / ``OSError`` with
a message naming the file, row or field; :mod:`hyperct.cli.errors` turns what a command raised
into one ``error:`` line and the exit code (0 ok, 1 failed items, 2 bad input, 3 internal error;
``--verbose`` shows the traceback too).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from hyperct import __version__
from hyperct.cli.errors import ExitCode, exit_code_for

logger = logging.getLogger("hyperct.cli.main")  # also when run as __main__

#: The commands that train or run a model: from the console script they re-run themselves under
#: the allocator ``HYPERCT_ALLOCATOR`` chooses (:func:`hyperct.inference.heap.preload_environment`).
MODEL_COMMANDS = frozenset({"train", "compare", "predict", "explain", "serve", "demo"})


class _Group(TyperGroup):
    """The root command: whatever a command raises ends as one ``error:`` line and an exit code.

    Done here rather than around ``app()``, so a ``CliRunner`` sees what the console script does.
    """

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None,
        standalone_mode: bool = True, **extra: Any,
    ) -> int:
        try:
            code = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
            code = ExitCode.OK if code is None else int(code)
        except Exception as exc:  # the one place that turns any exception into an exit code
            code = exit_code_for(exc, verbose=logging.getLogger().isEnabledFor(logging.DEBUG))
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="hyperct",
    cls=_Group,
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
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when a host application configured logging first
    # the HTTP client's one line per request (hyperct submit) only with --verbose
    logging.getLogger("httpx").setLevel(level if verbose else logging.WARNING)
    if ctx.invoked_subcommand in MODEL_COMMANDS and (ctx.obj or {}).get("own_process"):
        _rerun_under_allocator(ctx.invoked_subcommand)


def _rerun_under_allocator(command: str) -> None:
    """Replace this process by the same command under the preloaded allocator
    ``HYPERCT_ALLOCATOR`` chooses (default: tcmalloc where installed), if it does not run it."""
    from hyperct.inference.heap import allocator, preload_environment

    environment = preload_environment(dict(os.environ))
    if environment is not None:
        # started as the console script: run that again, so that the import path stays its own
        # (``-m`` would put the working directory first)
        script = sys.argv[0]
        entry = [script] if os.path.isfile(script) and not script.endswith(".py") else [
            "-m", "hyperct.cli.main"]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *entry, *sys.argv[1:]], environment)
    logger.debug("%s runs under %s's malloc", command, allocator())


def _register() -> None:
    """Commands in the order of the flow: data, labels, models, evaluation, the whole job."""
    from hyperct.cli import (
        adapt_cmd,
        anatomy,
        compare,
        config_cmd,
        demo,
        evaluate,
        evaluate_masks,
        evaluate_reports,
        explain,
        label,
        manifest_cmd,
        merge_predictions,
        phantom_cmd,
        predict,
        prepare,
        serve_cmd,
        tasks_cmd,
        train,
    )

    app.command("tasks")(tasks_cmd.tasks)
    app.add_typer(config_cmd.app, name="config")
    app.command("phantom")(phantom_cmd.phantom)
    app.add_typer(adapt_cmd.app, name="adapt")
    app.add_typer(manifest_cmd.app, name="manifest")
    app.add_typer(label.app, name="label")
    app.command("anatomy")(anatomy.anatomy)
    app.command("prepare")(prepare.prepare)
    app.command("train")(train.train)
    app.command("compare")(compare.compare)
    app.command("predict")(predict.predict)
    app.command("merge-predictions")(merge_predictions.merge_predictions)
    app.command("evaluate")(evaluate.evaluate)
    app.command("evaluate-reports")(evaluate_reports.evaluate_reports)
    app.command("evaluate-masks")(evaluate_masks.evaluate_masks)
    app.command("explain")(explain.explain)
    app.command("serve")(serve_cmd.serve)
    app.command("submit")(serve_cmd.submit)
    app.command("demo")(demo.demo)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (``argv``: its arguments, default ``sys.argv[1:]``); return its exit code.

    Without ``argv`` (the console script, ``python -m hyperct.cli.main``) the process is the
    command's own, so a model command may replace it to preload its allocator; called with
    ``argv`` from another program, it never does."""
    return typer.main.get_command(app).main(args=argv, prog_name="hyperct", standalone_mode=False,
                                            obj={"own_process": argv is None})


if __name__ == "__main__":
    sys.exit(main())
