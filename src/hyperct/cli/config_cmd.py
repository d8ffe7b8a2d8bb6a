"""`hyperct config list|show|write`: the shipped training configs and specs, to read or to edit."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="List, print or copy out the shipped training configs and preprocessing specs.",
    no_args_is_help=True,
)

_SPEC = typer.Option(False, "--spec", help="A preprocessing spec (JSON) instead of a config.")


def _text(name: str, spec: bool) -> str:
    """The YAML of a named config, or the JSON of a named spec; an unknown name is bad input."""
    from hyperct.cli.errors import InputError
    from hyperct.configs import config_names, config_source, spec_names

    if spec:
        from hyperct.preprocess.spec import NAMED_SPECS, load_spec

        names = sorted({*NAMED_SPECS, *spec_names()})
        if name not in names:
            raise InputError(f"no named spec {name!r}; named specs: {', '.join(names)}")
        return load_spec(name).to_json() + "\n"
    if name not in config_names():
        raise InputError(f"no named config {name!r}; named configs: {', '.join(config_names())}")
    return config_source(name).read_text()


@app.command("list")
def list_() -> None:
    """The named configs (with their first line) and the named specs (with their kind)."""
    from hyperct.configs import config_names, config_source, spec_names
    from hyperct.preprocess.spec import NAMED_SPECS, load_spec

    typer.echo("configs (hyperct train NAME, hyperct config write NAME FILE):")
    for name in config_names():
        summary = config_source(name).read_text().splitlines()[0].lstrip("# ")
        typer.echo(f"  {name:<14} {summary}")
    typer.echo("specs (hyperct prepare MANIFEST --spec NAME):")
    for name in sorted({*NAMED_SPECS, *spec_names()}):
        typer.echo(f"  {name:<14} {load_spec(name).kind}")


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Config name (see `hyperct config list`)."),
    spec: bool = _SPEC,
) -> None:
    """Print a named config's YAML (or with --spec a named spec's JSON)."""
    typer.echo(_text(name, spec), nl=False)


@app.command("write")
def write(
    name: str = typer.Argument(..., help="Config name (see `hyperct config list`)."),
    out: Path = typer.Argument(..., help="File to write (then: hyperct train OUT)."),
    spec: bool = _SPEC,
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Copy a named config (or spec) to OUT, to edit and pass as a path; OUT is never half-written."""
    from hyperct.io.atomic import write_text_atomic

    text = _text(name, spec)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    write_text_atomic(out, text)
    use = f"hyperct prepare MANIFEST --spec {out}" if spec else f"hyperct train {out}"
    typer.echo(f"wrote {name} to {out}; use it with: {use}")
