"""The inference workers: studies already waiting run through the model as one batch, with the
probabilities `hyperct predict` gives each scan alone; a bad study fails alone."""

import json
import shutil

import nibabel as nib
import numpy as np

from hyperct.io.scan_qc import QCExpectations
from hyperct.serve.jobs import IMAGE, RESULT, Workers, study_image
from hyperct.serve.store import JobStore, new_job_id
from hyperct.tasks import TASK_NAMES


def _queued(store, run, path):
    job_id = new_job_id()
    folder = store.job_dir(job_id)
    folder.mkdir(parents=True)
    target = folder / path.name
    shutil.copy(path, target)
    store.create(job_id, run.name, "nifti", target)
    return job_id


def test_waiting_studies_run_as_one_batch_with_predicts_probabilities(served, real_ct, trained_run, tmp_path):
    from hyperct.inference.scans import predict_scans

    run, _ = served
    scans = [real_ct / "ts_example_ct_sm.nii.gz", real_ct / "ts_chest_crop.nii.gz"]
    not_ct = tmp_path / "not_ct.nii.gz"
    values = np.random.default_rng(0).random((20, 40, 40)).astype(np.float32)  # 0..1, not HU
    nib.save(nib.Nifti1Image(values, np.diag([1.0, 1.0, 2.0, 1.0])), not_ct)
    store = JobStore(tmp_path / "data")
    ids = [_queued(store, run, path) for path in (scans[0], not_ct, scans[1], scans[0])]
    workers = Workers(store, {run.name: run}, count=1, capacity=8, expect=QCExpectations(), max_batch=4)
    workers.start()  # the four queued jobs are handed back on start and taken as one batch
    workers.stop()
    jobs = [store.get(job_id) for job_id in ids]
    assert [job.status for job in jobs] == ["done", "failed", "done", "done"]
    assert "not plausible CT" in jobs[1].error
    results = [json.loads((store.job_dir(ids[i]) / RESULT).read_text()) for i in (0, 2, 3)]
    assert [r["batch_size"] for r in results] == [3, 3, 3]
    expected = predict_scans(paths=[scans[0], scans[1], scans[0]], checkpoint=trained_run, device="cpu")
    for result, (_, row) in zip(results, expected.iterrows()):
        got = [f["probability"] for f in result["findings"]]
        np.testing.assert_allclose(got, row[list(TASK_NAMES)], atol=1e-5)
    assert not (store.job_dir(ids[0]) / IMAGE).exists()  # written only when first asked for
    assert study_image(jobs[0], store.job_dir(ids[0])) == store.job_dir(ids[0]) / IMAGE
    store.close()


def test_one_study_at_a_time_with_max_batch_1(served, real_ct, tmp_path):
    run, _ = served
    store = JobStore(tmp_path / "data")
    ids = [_queued(store, run, real_ct / "ts_example_ct_sm.nii.gz") for _ in range(2)]
    workers = Workers(store, {run.name: run}, count=1, capacity=8, expect=QCExpectations(), max_batch=1)
    workers.start()
    workers.stop()
    sizes = [json.loads((store.job_dir(i) / RESULT).read_text())["batch_size"] for i in ids]
    assert sizes == [1, 1]
    store.close()
