"""`hyperct tasks`: list the 25 tasks of the catalogue."""

from __future__ import annotations

import typer


def tasks(
    group: str = typer.Option(None, help="Only this group: conventional or opportunistic."),
    definitions: bool = typer.Option(False, "--definitions", help="Show each task's definition."),
) -> None:
    """List the screening tasks with their ids, short names and groups."""
    from rich.table import Table

    from hyperct.cli.output import plain_console
    from hyperct.tasks import TASKS, tasks_in_group

    rows = TASKS if group is None else tasks_in_group(group)  # type: ignore[arg-type]
    table = Table(title="hyperct tasks")
    for col in ("id", "name", "short name", "group"):
        table.add_column(col)
    if definitions:
        table.add_column("definition")
    for t in rows:
        cells = [str(t.id), t.name, t.short_name, t.group]
        table.add_row(*(cells + [t.definition] if definitions else cells))
    plain_console().print(table)
