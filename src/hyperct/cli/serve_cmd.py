"""`hyperct serve` (the HTTP service and viewer) and `hyperct submit` (its client)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from hyperct.serve.client import Client


def serve(
    run: list[Path] = typer.Option(..., "--run", help="Run folder to serve (repeatable)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; other than loopback needs --token."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Inference workers (each predicts one batch at a time)."),
    queue_size: int = typer.Option(32, help="Studies that may wait; more are refused with 503."),
    max_batch: int = typer.Option(4, help="A worker predicts up to this many waiting studies as one batch."),
    data: Path = typer.Option(Path("hyperct_serve"), help="Folder of the job store and results."),
    token: str = typer.Option(None, envvar="HYPERCT_SERVE_TOKEN", help="API token (Bearer)."),
    device: str = typer.Option("cpu", help="cpu or cuda[:N]."),
    max_upload_mb: float = typer.Option(2048, help="Largest upload accepted."),
    max_slice_mm: float = typer.Option(5.0, help="QC: thicker slices are flagged."),
    cors_origin: list[str] = typer.Option([], help="Allow browser pages from this origin (repeatable)."),
) -> None:
    """Serve trained runs over HTTP, with a viewer at / and the API docs at /docs."""
    import uvicorn

    from hyperct.serve.app import create_app
    from hyperct.serve.config import ServeConfig
    from hyperct.io.scan_qc import QCExpectations
    from hyperct.serve.runs import load_run
    from hyperct.serve.uploads import UploadLimits

    config = ServeConfig(
        runs=tuple(run), data_dir=data, host=host, port=port, workers=workers,
        queue_size=queue_size, max_batch=max_batch, token=token, device=device, cors_origins=tuple(cors_origin),
        limits=UploadLimits(max_bytes=int(max_upload_mb * 2**20)),
        qc=QCExpectations(max_slice_mm=max_slice_mm),
    )
    runs = {}
    for path in config.runs:
        served = load_run(path, device)
        if served.name in runs:
            raise ValueError(f"two runs are named {served.name!r}; give runs distinct folder names")
        runs[served.name] = served
    typer.echo(f"serving {', '.join(runs)} at http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(create_app(config, runs), host=host, port=port, log_level="info")


def submit(
    scans: list[Path] = typer.Argument(..., help="NIfTI files, DICOM zips or DICOM folders."),
    url: str = typer.Option("http://127.0.0.1:8000", help="The service's address."),
    model: str = typer.Option(None, help="Run name (default: the service's first)."),
    token: str = typer.Option(None, envvar="HYPERCT_SERVE_TOKEN", help="API token."),
    out: Path = typer.Option(None, help="Write the results as JSON ({scan: result}); a UniCT "
                             "run's masks and report go beside it as <study>_masks.nii.gz and "
                             "<study>_report.txt."),
    timeout: float = typer.Option(600.0, help="Seconds to wait for each study."),
) -> None:
    """Send scans to a running `hyperct serve` and print their findings."""
    from hyperct.serve.client import Client, ServiceError

    results, failed = {}, 0
    with Client(url, token=token or os.environ.get("HYPERCT_SERVE_TOKEN")) as client:
        for scan in scans:
            try:
                result = client.wait(client.submit(scan, model), timeout_s=timeout)
            except ServiceError as err:
                typer.echo(f"{scan}: {err}", err=True)
                failed += 1
                continue
            if out is not None and result.get("masks") is not None:
                result["files"] = _save_segmented(client, result, out.parent)
            results[str(scan)] = result
            positives = [f["task"] for f in result["findings"] if f["positive"]]
            flags = "; ".join(f["message"] for f in result["qc_flags"])
            typer.echo(f"{scan}: study {result['id']}, positive: {', '.join(positives) or 'none'}"
                       + (f" [QC: {flags}]" if flags else ""))
    if out is not None:
        from hyperct.io.atomic import write_text_atomic

        write_text_atomic(out, json.dumps(results, indent=2) + "\n")
    if failed:
        raise typer.Exit(1)


def _save_segmented(client: Client, result: dict[str, Any], folder: Path) -> dict[str, str]:
    """Save a UniCT study's masks and report into ``folder``; returns the files by kind."""
    from hyperct.io.atomic import write_text_atomic

    study = str(result["id"])
    files = {"masks": str(client.masks(study, folder / f"{study}_masks.nii.gz"))}
    if result.get("report") is not None:
        files["report"] = str(write_text_atomic(folder / f"{study}_report.txt", result["report"]))
    return files
