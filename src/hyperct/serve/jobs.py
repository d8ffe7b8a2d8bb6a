"""Running submitted studies: a bounded queue and a fixed number of inference workers.

A worker takes the next job and, without waiting for more, every other job already queued (up
to ``max_batch``). Each job's saved input is read, checked (:mod:`hyperct.io.scan_qc` and the
reader's own plausibility checks) and preprocessed on its own; the jobs of one run then go
through the model as one batch, so a busy service spends less time per study than one scan at a
time. Each ``result.json`` is written atomically into the job's folder before the job is marked
done. A segmenting run's (UniCT's) masks are written on the CT's own grid into the job's folder
(:class:`hyperct.inference.scan_outputs.OutputFolder`, as ``hyperct predict`` writes them) and
the result carries the report and each mask category's voxel count. A failure is recorded with
its reason and fails only its own job; the worker goes on.
The CT as NIfTI for the viewer is written when it is first asked for (:func:`study_image`),
not on the way to the result.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hyperct.inference.scan_outputs import MASK_THRESHOLD, OutputFolder
from hyperct.io.atomic import write_text_atomic
from hyperct.io.errors import CTReadError
from hyperct.io.scan_qc import QCExpectations, check_scan
from hyperct.preprocess.grid_map import GridRecord
from hyperct.serve.runs import Predicted, ServedRun
from hyperct.serve.store import Job, JobStore

logger = logging.getLogger(__name__)

RESULT = "result.json"
IMAGE = "ct.nii"  # uncompressed: gzip costs more than it saves on loopback


class QueueFull(RuntimeError):
    """The queue holds as many jobs as it may; the client should retry later."""


@dataclass
class _Prepared:
    """A job read, checked and preprocessed, waiting for its batch."""

    job: Job
    shape: list[int]
    spacing_mm: list[float]
    flags: list[dict[str, Any]]
    inputs: dict[str, Any]
    timings: dict[str, float]
    record: GridRecord | None  # how the model grid maps to the CT's (a segmenting run's masks)


class Workers:
    """``count`` threads taking job ids from a queue of at most ``capacity``, up to
    ``max_batch`` waiting jobs at a time."""

    def __init__(self, store: JobStore, runs: Mapping[str, ServedRun], count: int, capacity: int,
                 expect: QCExpectations, max_batch: int = 1):
        self.store, self.runs, self.expect, self.max_batch = store, runs, expect, max_batch
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=capacity)
        self._threads = [threading.Thread(target=self._loop, name=f"hyperct-worker-{i}", daemon=True)
                         for i in range(count)]

    def start(self) -> None:
        for job in self.store.recover():
            self._queue.put(job.id)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=60)

    def submit(self, job_id: str) -> None:
        try:
            self._queue.put_nowait(job_id)
        except queue.Full as err:
            raise QueueFull(f"{self._queue.maxsize} studies are waiting; retry later") from err

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def _loop(self) -> None:
        stopping = False
        while not stopping and (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job_id = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job_id is None:  # this thread's stop signal: finish the batch, then stop
                    stopping = True
                    break
                batch.append(job_id)
            try:
                self.run(batch)
            except Exception:  # noqa: BLE001 - a worker must outlive any one batch
                logger.exception("jobs %s failed with an internal error", ", ".join(batch))
                for job_id in batch:
                    if self.store.get(job_id).status not in ("done", "failed"):
                        self.store.fail(job_id, "internal error while predicting; see the server log")

    def run(self, job_ids: Sequence[str]) -> None:
        """Process jobs to ``done`` or ``failed``; those of one run predict as one batch."""
        start = time.perf_counter()
        ready: dict[str, list[_Prepared]] = {}
        for job_id in job_ids:
            prepared = self._prepare(job_id)
            if prepared is not None:
                ready.setdefault(prepared.job.run, []).append(prepared)
        for name, items in ready.items():
            run = self.runs[name]
            predicted, model_s = run.predict([item.inputs for item in items])
            for item, outputs in zip(items, predicted):
                self._finish(run, item, outputs, model_s, len(items), start)

    def _prepare(self, job_id: str) -> _Prepared | None:
        """Read, check and preprocess one job; a bad input fails the job (None)."""
        from hyperct.io.read import read_ct
        from hyperct.preprocess.grid_map import grid_record

        job = self.store.get(job_id)
        self.store.start(job_id)
        start = time.perf_counter()
        try:
            volume = read_ct(job.input_path)
            read_s = time.perf_counter() - start
            flags = [flag.to_dict() for flag in check_scan(volume, self.expect)]
            qc_s = time.perf_counter() - start - read_s
            run = self.runs[job.run]
            inputs = run.prepare(volume)
            record = grid_record(volume, run.spec) if run.segmenter is not None else None
        except CTReadError as err:  # includes values that are not plausible CT HU
            self.store.fail(job_id, str(err).replace(str(self.store.job_dir(job_id)), "<upload>"))
            return None
        timings = {"read": read_s, "qc": qc_s, "preprocess": time.perf_counter() - start - read_s - qc_s}
        return _Prepared(job, list(volume.shape), [round(s, 4) for s in volume.spacing], flags, inputs,
                         timings, record)

    def _finish(self, run: ServedRun, item: _Prepared, outputs: Predicted, model_s: float,
                batch_size: int, start: float) -> None:
        job = item.job
        masks, report, masks_s = self._write_segmented(run, item, outputs)
        result: dict[str, Any] = {
            "id": job.id,
            "model": {"name": run.name, **run.identity},
            "input": {"kind": job.input_kind, "shape": item.shape, "spacing_mm": item.spacing_mm},
            "qc_flags": item.flags,
            "findings": outputs.findings,
            "masks": masks,
            "report": report,
            "batch_size": batch_size,
            "timings_s": {**{k: round(v, 3) for k, v in item.timings.items()}, "model": round(model_s, 3),
                          **({"masks": round(masks_s, 3)} if masks is not None else {}),
                          "total": round(time.perf_counter() - start, 3)},
        }
        write_text_atomic(self.store.job_dir(job.id) / RESULT, json.dumps(result, indent=2) + "\n")
        self.store.finish(job.id, item.flags)
        logger.info("job %s done in %.2f s (batch of %d, %d QC flag(s))", job.id, result["timings_s"]["total"],
                    batch_size, len(item.flags))

    def _write_segmented(self, run: ServedRun, item: _Prepared, outputs: Predicted
                         ) -> tuple[dict[str, Any] | None, str | None, float]:
        """Write a segmenting run's masks (and its tables) into the job's folder; return the
        result's ``masks`` entry, the report and the seconds it took (None, None, 0 otherwise)."""
        segmenter, record = run.segmenter, item.record
        if outputs.segmented is None or segmenter is None or record is None:
            return None, None, 0.0
        start = time.perf_counter()
        scans = replace(outputs.segmented, scan_ids=[item.job.id])
        folder = OutputFolder(self.store.job_dir(item.job.id), segmenter)
        folder.add(scans, lambda _: record)
        folder.write_tables(*([table] for table in folder.tables()))
        voxels = folder.voxels[item.job.id]
        masks = {
            "threshold": MASK_THRESHOLD,
            "categories": [{"channel": k, "name": name, "voxels": n}
                           for k, (name, n) in enumerate(zip(folder.channels, voxels))],
        }
        report = scans.reports[0] if scans.reports is not None else None
        return masks, report, time.perf_counter() - start


def study_image(job: Job, folder: Path) -> Path:
    """The study's CT as NIfTI (for the viewer and saliency), written from its input the first
    time it is asked for."""
    from hyperct.io.read import read_ct
    from hyperct.io.write import write_nifti

    path = folder / IMAGE
    if not path.is_file():
        write_nifti(read_ct(job.input_path), path)
    return path
