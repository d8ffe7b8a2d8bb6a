"""The one rich console the commands print tables with: it never reads markup in what it prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def plain_console(stderr: bool = False) -> Console:
    """A console for tables and data: paths, ids and report text (``a[/y].csv``) print as they are."""
    from rich.console import Console

    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)
