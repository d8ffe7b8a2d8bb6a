"""`prepare_cache`: preprocess every scan of a manifest into the cache with a process pool.

Finding masks (``findings_mask_path``) are cached as packed category bits on the model grid; a
findings table (see :mod:`hyperct.data.findings_table`) says which category each channel of a
multi-channel mask is; without one a finding mask is the phantom's task bitmask.

Resumable (scans cached from the same source file are skipped, see :mod:`hyperct.data.cache`;
partial files are never left), each failing scan (unreadable, implausible, or a path that cannot
even be examined) is recorded in ``errors.jsonl`` and the run goes on; the report says what failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hyperct.data.cache import ScanCache, source_identity
from hyperct.data.findings_table import default_findings_table, read_mask_categories
from hyperct.data.manifest import load_manifest
from hyperct.data.prepare_errors import errors_file, write_errors
from hyperct.data.shard import Shard
from hyperct.preprocess.spec import PreprocessSpec, load_spec, spec_from_dict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanJob:
    """What one worker needs to preprocess one scan (picklable)."""

    scan_id: str
    path: str
    anatomy_path: str | None
    rescale: tuple[str, str] | None
    spec: dict
    cache_dir: str
    source: dict
    allow_implausible: bool = False
    spacing: tuple[float, float, float] | None = None
    findings_path: str | None = None
    findings_categories: tuple[str, ...] | None = None


@dataclass
class PrepareReport:
    """Outcome of a prepare run: counts, failures by scan_id, wall time.

    ``stale``: cached entries whose source changed (or was never recorded), re-prepared.
    """

    out_dir: Path
    total: int = 0
    done: int = 0
    skipped: int = 0
    stale: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare_cache(
    manifest_path: str | Path,
    spec: PreprocessSpec | str | Path,
    out_dir: str | Path,
    workers: int = 1,
    progress: bool = True,
    allow_implausible: bool = False,
    spacing: tuple[float, float, float] | None = None,
    findings_table: str | Path | None = None,
    shard: Shard = Shard(),
) -> PrepareReport:
    """Preprocess the manifest's scans (and ``anatomy_path``, ``findings_mask_path`` masks) into
    ``out_dir``.

    ``spec`` is a spec object, a name (``paper``, ``anatomy3d``) or a JSON file. A cache built
    with another spec is refused. ``workers`` > 1 uses that many processes (one torch and one
    BLAS thread each). Scans whose values are not plausible CT HU fail unless
    ``allow_implausible``; ``spacing`` (z, y, x mm) is used for files that give none. A ``shard``
    prepares only its scans (:mod:`hyperct.data.shard`) into the shared folder and records its
    failures in its own errors file (:mod:`hyperct.data.prepare_errors`).
    ``findings_table`` gives each finding-mask channel's category (default: the manifest's
    ``<stem>_findings.csv`` when it exists).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    spec = load_spec(spec)
    start = time.perf_counter()
    df = shard.select(load_manifest(manifest_path, check_files=False, check_leakage=False))
    findings_table = findings_table or default_findings_table(manifest_path)
    categories = read_mask_categories(findings_table) if findings_table else None
    if findings_table:
        logger.info("finding-mask channel categories from %s", findings_table)
    cache = ScanCache(out_dir)
    cache.root.mkdir(parents=True, exist_ok=True)
    cache.init_spec(spec)
    removed = cache.remove_partials(None if shard.whole else df["scan_id"])
    if removed:
        logger.info("%s: removed %d partial file(s) from an interrupted run", cache.root, removed)
    report = PrepareReport(out_dir=cache.root, total=len(df))
    jobs = _jobs(df, spec, cache, report, allow_implausible, spacing, categories)
    stale = {job.scan_id for job in jobs if cache.has(job.scan_id)}
    report.stale = len(stale)
    if stale:
        shown = ", ".join(sorted(stale)[:10]) + (", ..." if len(stale) > 10 else "")
        logger.info("%d scan(s) changed since cached, re-preparing: %s", len(stale), shown)
    logger.info(
        "prepare: %d scans, %d already cached, %d stale, %d to do with %d worker(s)",
        report.total,
        report.skipped,
        report.stale,
        len(jobs),
        workers,
    )
    for result in _run(jobs, workers, progress):
        scan_id, error = result
        if error is None:
            report.done += 1
        else:
            report.failed[scan_id] = error
            logger.error("scan %s failed: %s", scan_id, error)
            if scan_id in stale:  # its cached image is of the old source: never serve it
                cache.remove(scan_id)
    write_errors(cache.root / errors_file(shard), dict(zip(df["scan_id"], df["path"])), report.failed)
    report.seconds = time.perf_counter() - start
    return report


def _jobs(
    df: pd.DataFrame,
    spec: PreprocessSpec,
    cache: ScanCache,
    report: PrepareReport,
    allow_implausible: bool,
    spacing: tuple[float, float, float] | None,
    categories: dict[str, tuple[str, ...]] | None,
) -> list[ScanJob]:
    """The scans to (re-)prepare; a row whose files cannot be examined is a failure of that row."""
    jobs = []
    for row in df.itertuples(index=False):
        anatomy = _optional_path(row, "anatomy_path")
        findings = _optional_path(row, "findings_mask_path")
        channels = None if categories is None or not findings else categories.get(row.scan_id)
        rescale = _rescale(row)
        try:
            source = {
                "image": source_identity(row.path),
                "anatomy": source_identity(anatomy) if anatomy else None,
                "rescale": list(rescale) if rescale else None,
            }
            if findings:  # only then, so entries cached before finding masks stay current
                source["findings"] = {
                    "mask": source_identity(findings),
                    "categories": list(channels) if channels else None,
                }
        except (OSError, RuntimeError) as exc:  # missing file, permissions, symlink loop
            report.failed[row.scan_id] = _unreadable(exc)
            logger.error("scan %s failed: %s", row.scan_id, report.failed[row.scan_id])
            continue
        if categories is not None and findings and channels is None:
            report.failed[row.scan_id] = (
                f"{findings}: the findings table lists no finding (mask channel) of this scan"
            )
            logger.error("scan %s failed: %s", row.scan_id, report.failed[row.scan_id])
            continue
        if cache.is_current(row.scan_id, source, anatomy=bool(anatomy), findings=bool(findings)):
            report.skipped += 1
            continue
        jobs.append(
            ScanJob(
                row.scan_id,
                row.path,
                anatomy or None,
                rescale,
                spec.to_dict(),
                str(cache.root),
                source,
                allow_implausible,
                spacing,
                findings or None,
                channels,
            )
        )
    return jobs


def _optional_path(row: object, column: str) -> str:
    """The row's path in an optional path column ('' when the column is absent or blank)."""
    value = getattr(row, column, "")
    return "" if value is None or str(value) in ("", "nan") else str(value)


def _unreadable(exc: OSError | RuntimeError) -> str:
    """A one-line reason naming the path that could not be examined."""
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or folder"
    if isinstance(exc, OSError):
        return f"{exc.filename}: cannot be examined ({exc.strerror or exc})"
    return f"{exc} (a symbolic link pointing back to itself)"


def _rescale(row: object) -> tuple[str, str] | None:
    slope = str(getattr(row, "rescale_slope", "")).strip()
    intercept = str(getattr(row, "rescale_intercept", "")).strip()
    if slope in ("", "nan", "None") and intercept in ("", "nan", "None"):
        return None
    return slope, intercept


def _run(jobs: list[ScanJob], workers: int, progress: bool) -> Iterator[tuple[str, str | None]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="prepare", unit="scan", disable=not progress or not jobs)
    try:
        results = _in_process(jobs) if workers == 1 else _in_pool(jobs, workers)
        for result in results:
            yield result
            bar.update()
    finally:
        bar.close()


def _in_process(jobs: list[ScanJob]) -> Iterator[tuple[str, str | None]]:
    """One worker: run here on one torch and one BLAS thread like a pool worker, then restore."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            for job in jobs:
                yield prepare_one(job)
    finally:
        torch.set_num_threads(threads)


def _in_pool(jobs: list[ScanJob], workers: int) -> Iterator[tuple[str, str | None]]:
    """Spawned processes (fork is unsafe once torch has started its thread pools)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        futures = {pool.submit(prepare_one, job): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # a worker died (killed for memory, crashed): record, go on
                yield futures[future].scan_id, f"worker process failed: {exc!r}"


def _init_worker() -> None:
    """One torch and one BLAS/OpenMP thread per worker: N workers on N cores, not N x N threads."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)


def prepare_one(job: ScanJob) -> tuple[str, str | None]:
    """Preprocess one scan into the cache; return (scan_id, None) or (scan_id, error message)."""
    from hyperct.io.hu import apply_metadata_rescale
    from hyperct.io.read import read_ct, read_finding_mask, read_mask
    from hyperct.preprocess.grid_map import grid_record
    from hyperct.preprocess.pipeline import preprocess_findings, preprocess_mask, preprocess_volume

    try:
        spec = spec_from_dict(job.spec)
        volume = read_ct(job.path, spacing=job.spacing)
        if job.rescale is not None:
            volume = apply_metadata_rescale(volume, *_parse_rescale(job))
        grid = preprocess_volume(volume, spec, allow_implausible=job.allow_implausible)
        anatomy = None
        if job.anatomy_path:
            anatomy = preprocess_mask(read_mask(job.anatomy_path, like=volume), spec)
        findings = None
        if job.findings_path:
            bits = read_finding_mask(job.findings_path, volume, job.findings_categories)
            findings = preprocess_findings(bits, spec)
        ScanCache(job.cache_dir).save(
            job.scan_id,
            grid,
            anatomy,
            source=job.source,
            findings=findings,
            record=grid_record(volume, spec),
        )
    except Exception as exc:  # one bad scan must not stop the batch: recorded, run goes on
        return job.scan_id, f"{exc.__class__.__name__}: {exc}"
    return job.scan_id, None


def _parse_rescale(job: ScanJob) -> tuple[float, float]:
    try:
        return float(job.rescale[0]), float(job.rescale[1])  # type: ignore[index]
    except ValueError as exc:
        raise ValueError(f"rescale_slope/rescale_intercept {job.rescale} are not numbers") from exc
