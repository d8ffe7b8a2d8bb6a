"""Running submitted studies: a bounded queue and a fixed number of inference workers.

Each job reads its saved input, checks it (:mod:`hyperct.io.scan_qc` and the reader's own
plausibility checks), predicts with its run and writes ``result.json`` and the CT as NIfTI (for
the viewer) atomically into the job's folder before marking the job done. A failure is recorded
with its reason; the worker goes on with the next job.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from hyperct.io.atomic import write_text_atomic
from hyperct.io.errors import CTReadError
from hyperct.io.scan_qc import QCExpectations, check_scan
from hyperct.serve.runs import ServedRun
from hyperct.serve.store import JobStore

logger = logging.getLogger(__name__)

RESULT = "result.json"
IMAGE = "ct.nii"  # uncompressed: gzip would cost the service a large share of a small model's time


class QueueFull(RuntimeError):
    """The queue holds as many jobs as it may; the client should retry later."""


class Workers:
    """``count`` threads taking job ids from a queue of at most ``capacity``."""

    def __init__(self, store: JobStore, runs: Mapping[str, ServedRun], count: int, capacity: int,
                 expect: QCExpectations):
        self.store, self.runs, self.expect = store, runs, expect
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
        while (job_id := self._queue.get()) is not None:
            try:
                self.run(job_id)
            except Exception:  # noqa: BLE001 - a worker must outlive any one job
                logger.exception("job %s failed with an internal error", job_id)
                self.store.fail(job_id, "internal error while predicting; see the server log")

    def run(self, job_id: str) -> None:
        """Process one job to ``done`` or ``failed``."""
        from hyperct.io.read import read_ct
        from hyperct.io.write import write_nifti

        job = self.store.get(job_id)
        self.store.start(job_id)
        folder = self.store.job_dir(job_id)
        run = self.runs[job.run]
        start = time.perf_counter()
        try:
            volume = read_ct(job.input_path)
            read_s = time.perf_counter() - start
            flags = [flag.to_dict() for flag in check_scan(volume, self.expect)]
            qc_s = time.perf_counter() - start - read_s
            prediction = run.predict(volume)
        except CTReadError as err:  # includes values that are not plausible CT HU
            self.store.fail(job_id, str(err).replace(str(folder), "<upload>"))
            return
        write_nifti(volume, folder / IMAGE)
        result: dict[str, Any] = {
            "id": job_id,
            "model": {"name": run.name, **run.identity},
            "input": {"kind": job.input_kind, "shape": list(volume.shape),
                      "spacing_mm": [round(s, 4) for s in volume.spacing]},
            "qc_flags": flags,
            **prediction,
        }
        result["timings_s"].update(read=round(read_s, 3), qc=round(qc_s, 3),
                                   total=round(time.perf_counter() - start, 3))
        write_text_atomic(folder / RESULT, json.dumps(result, indent=2) + "\n")
        self.store.finish(job_id, flags)
        logger.info("job %s done in %.2f s (%d QC flag(s))", job_id, result["timings_s"]["total"], len(flags))
