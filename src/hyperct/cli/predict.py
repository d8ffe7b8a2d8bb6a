"""`hyperct predict`: all 25 probabilities for CT files, or the predictions table of a manifest;
for a run that writes reports (``report3d``), the generated report of each CT file."""

from __future__ import annotations

from pathlib import Path

import typer


def predict(
    scans: list[Path] = typer.Argument(None, help="NIfTI files, DICOM folders or zips."),
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Run folder (its best.pt) or a .pt."),
    manifest: Path = typer.Option(None, help="Predict every scan of this manifest instead."),
    cache: Path = typer.Option(None, help="Scan cache of --manifest (prepared with the run's spec)."),
    out: Path = typer.Option(
        None, help="Output .csv or .json (manifest mode: the predictions table; a report run: "
                   "JSON {scan: {report: text}} or CSV scan, report)."
    ),
    split: list[str] = typer.Option([], help="Manifest mode: only these splits (repeatable)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
    allow_implausible: bool = typer.Option(
        False, "--allow-implausible", help="Score scans whose values do not look like CT HU."
    ),
    spacing: str = typer.Option(
        None, "--spacing", help="Voxel spacing z,y,x (mm) for files that give none (pixdim 0)."
    ),
    shard: str = typer.Option(
        None, "--shard", help="Manifest mode: only shard i/n (0 <= i < n) of the scans, by "
        "scan_id hash; join the parts with `hyperct merge-predictions`."
    ),
) -> None:
    """Predict with a trained run; preprocessing always comes from the checkpoint's spec."""
    from hyperct.cli.output import plain_console

    console = plain_console()
    if shard is not None and manifest is None:
        raise typer.BadParameter("--shard needs --manifest")
    if manifest is not None:
        _predict_manifest(checkpoint, manifest, cache, out, split, device, shard, bool(scans))
        return
    if not scans:
        raise typer.BadParameter("give SCAN files or --manifest with --cache")
    from hyperct.inference.scans import (
        predict_scans,
        probabilities_table,
        report_scans,
        write_scan_probabilities,
        write_scan_reports,
        writes_reports,
    )
    from hyperct.io.read import parse_spacing

    options = {"paths": scans, "checkpoint": checkpoint, "device": device,
               "allow_implausible": allow_implausible,
               "spacing": parse_spacing(spacing) if spacing else None}
    if writes_reports(checkpoint):
        reports = report_scans(**options)
        for scan, text in reports["report"].items():
            console.print(f"{scan}:\n{text}\n", markup=False, highlight=False)
        if out is not None:
            write_scan_reports(reports, out)
            console.print(f"written to {out}")
        return
    probs = predict_scans(**options)
    console.print(probabilities_table(probs))
    if out is not None:
        write_scan_probabilities(probs, out)
        console.print(f"written to {out}")


def _predict_manifest(
    checkpoint: Path, manifest: Path, cache: Path | None, out: Path | None, splits: list[str],
    device: str, shard: str | None, has_scans: bool,
) -> None:
    """The predictions table of a manifest; under ``torchrun`` rank 0 writes and reports."""
    from hyperct.cli.errors import ExitCode, exit_if_failed
    from hyperct.cli.output import plain_console
    from hyperct.data.shard import Shard, parse_shard
    from hyperct.inference.predict import predict_manifest

    if cache is None or has_scans:
        raise typer.BadParameter("--manifest needs --cache and no SCAN arguments")
    result = predict_manifest(checkpoint=checkpoint, manifest=manifest, cache=cache, out=out,
                              splits=splits or None, device=device,
                              shard=parse_shard(shard) if shard is not None else Shard())
    if not result.main:
        if result.failed:
            raise typer.Exit(ExitCode.FAILED_ITEMS)
        return
    table = result.table
    plain_console().print(f"{table['scan_id'].nunique()} scans x {table['task'].nunique()} tasks"
                          + (f" written to {out}" if out else ""))
    exit_if_failed([f"{sid}: {why}" for sid, why in sorted(result.failed.items())], "predict")
