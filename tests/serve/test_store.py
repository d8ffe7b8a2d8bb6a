"""The job store survives a restart: finished results stay, running jobs fail with a reason."""

from pathlib import Path

import pytest

from hyperct.serve.store import INTERRUPTED, JobStore, new_job_id


def test_restart_keeps_done_fails_running_and_requeues_queued(tmp_path: Path):
    store = JobStore(tmp_path)
    done, running, queued = new_job_id(), new_job_id(), new_job_id()
    for job in (done, running, queued):
        store.create(job, "run", "nifti", tmp_path / job)
    store.start(done)
    store.finish(done, [{"code": "contrast", "message": "m"}])
    store.start(running)
    store.close()

    again = JobStore(tmp_path)
    assert [job.id for job in again.recover()] == [queued]
    assert again.get(done).status == "done" and again.get(done).flags[0]["code"] == "contrast"
    assert again.get(running).status == "failed" and again.get(running).error == INTERRUPTED
    assert {job.id for job in again.list()} == {done, running, queued}


def test_ids_are_unguessable_and_never_a_path(tmp_path: Path):
    store = JobStore(tmp_path)
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)
    for bad in ("../../etc", "a" * 21, "x/" + "a" * 20, ""):
        with pytest.raises(KeyError):
            store.job_dir(bad)
    with pytest.raises(KeyError):
        store.get(new_job_id())
