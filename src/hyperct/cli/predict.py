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
) -> None:
    """Predict with a trained run; preprocessing always comes from the checkpoint's spec."""
    from hyperct.cli.output import plain_console

    console = plain_console()
    if manifest is not None:
        from hyperct.inference.predict import predict_manifest

        if cache is None or scans:
            raise typer.BadParameter("--manifest needs --cache and no SCAN arguments")
        table = predict_manifest(checkpoint=checkpoint, manifest=manifest, cache=cache, out=out,
                                 splits=split or None, device=device)
        console.print(f"{table['scan_id'].nunique()} scans x {table['task'].nunique()} tasks"
                      + (f" written to {out}" if out else ""))
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
