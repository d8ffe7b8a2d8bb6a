"""`hyperct predict`: all 25 probabilities for CT files, or the predictions table of a manifest;
for a run that writes reports (``report3d``), the generated report of each CT file; for a
segmenting run (``unict``) also the masks (NIfTI on each CT's own grid), reports and fusion
attention, in the folder of ``--out`` (:mod:`hyperct.inference.segmentation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def predict(
    scans: list[Path] = typer.Argument(None, help="NIfTI files, DICOM folders or zips."),
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Run folder (its best.pt) or a .pt."),
    manifest: Path = typer.Option(None, help="Predict every scan of this manifest instead."),
    cache: Path = typer.Option(None, help="Scan cache of --manifest (prepared with the run's spec)."),
    out: Path = typer.Option(
        None, help="Output .csv or .json (manifest mode: the predictions table; a report run: "
                   "JSON {scan: {report: text}} or CSV scan, report). A unict run writes "
                   "masks/, reports.csv and fusion_attention.csv into its folder."
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
        run_capabilities,
        write_scan_probabilities,
        write_scan_reports,
    )
    from hyperct.io.read import parse_spacing
    from hyperct.models.interface import Capability

    options = {"paths": scans, "checkpoint": checkpoint, "device": device,
               "allow_implausible": allow_implausible,
               "spacing": parse_spacing(spacing) if spacing else None}
    capabilities = run_capabilities(checkpoint)
    if Capability.SEGMENTATION in capabilities:
        _segment(options, out)
        return
    if Capability.REPORT_GENERATION in capabilities:
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


def _segment(options: dict[str, Any], out: Path | None) -> None:
    """A segmenting run (UniCT): probabilities to ``out``; masks, reports and fusion
    attention into its folder."""
    from hyperct.cli.output import plain_console
    from hyperct.inference.scans import probabilities_table, segment_scans, write_scan_probabilities

    if out is None:
        raise typer.BadParameter("this run writes masks and reports: give --out (the "
                                 "probabilities file; the rest goes into its folder)")
    probs, reports = segment_scans(**options, out_dir=out.parent)
    console = plain_console()
    console.print(probabilities_table(probs))
    for scan, text in (reports["report"].items() if reports is not None else ()):
        console.print(f"{scan}:\n{text}\n", markup=False, highlight=False)
    write_scan_probabilities(probs, out)
    console.print(f"written to {out}; masks in {out.parent / 'masks'}")


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
                          + (f" written to {out}" if out else "")
                          + "".join(f"; {path}" for path in result.outputs))
    exit_if_failed([f"{sid}: {why}" for sid, why in sorted(result.failed.items())], "predict")
