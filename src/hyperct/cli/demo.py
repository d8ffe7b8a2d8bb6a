"""`hyperct demo`: the whole pipeline on a synthetic cohort (what `make demo` runs).

Its options are :class:`hyperct.demo.DemoConfig`'s fields: help text and defaults are written
once, in the dataclass, and the signature typer reads is built from them.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import typer

from hyperct.demo import DemoConfig

_HINTS = typing.get_type_hints(DemoConfig)
_STRINGS = tuple[str, ...]


def _option(field: dataclasses.Field) -> inspect.Parameter:
    """The CLI option of one DemoConfig field (a tuple becomes a separated or repeatable one)."""
    hint, default = _HINTS[field.name], field.default
    if hint == _STRINGS:
        separator = field.metadata.get("separator")
        hint, default = (str, separator.join(default)) if separator else (list[str], list(default))
    flags = [field.metadata["flag"]] if "flag" in field.metadata else []
    option = typer.Option(default, *flags, help=field.metadata["help"])
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=hint)


def demo_config(options: dict[str, Any]) -> DemoConfig:
    """The DemoConfig of the parsed options (the inverse of :func:`_option`)."""
    values = dict(options)
    for field in dataclasses.fields(DemoConfig):
        if _HINTS[field.name] == _STRINGS:
            separator = field.metadata.get("separator")
            items = values[field.name].split(separator) if separator else values[field.name]
            values[field.name] = tuple(item.strip() for item in items if item.strip())
    return DemoConfig(**values)


def demo(**options: Any) -> None:
    """Generate a synthetic cohort, label it, train HyperCT and baselines, evaluate, explain."""
    from rich.table import Table

    from hyperct.cli.output import plain_console
    from hyperct.demo import overall_auc_table, run_demo
    from hyperct.demo.pipeline import main_run

    cfg = demo_config(options)
    result = run_demo(cfg)
    table = Table(title="Mean test AUC per method (synthetic cohort; not clinical performance)")
    aucs = overall_auc_table(result.summary, cfg.methods)
    for col in aucs.columns:
        table.add_column(col)
    for _, row in aucs.iterrows():
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    plain_console().print(table)
    if result.predictions is not None:
        typer.echo(f"25-task probabilities for {cfg.real_ct}: {result.predictions}")
    if result.saliency_png is not None:
        typer.echo(f"saliency map: {result.saliency_png}")
    if result.unict is not None:
        typer.echo(f"UniCT on test scan {result.unict.scan_id}: predicted mask "
                   f"{result.unict.overlay_png}")
    typer.echo(f"minutes per step: { {k: round(v / 60, 1) for k, v in result.seconds.items()} }")
    typer.echo(f"HTML report: {result.report.resolve()}")
    typer.echo(f"serve the demo model (viewer at http://127.0.0.1:8000/): hyperct serve --run "
               f"{main_run(cfg, result.out).resolve()} --data {(cfg.out / 'serve').resolve()}")


demo.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [_option(field) for field in dataclasses.fields(DemoConfig)], return_annotation=None
)
