"""A restart of the real `hyperct serve` process loses no finished result; the study it was
running fails with a reason and the queued ones run after the restart."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hyperct.serve.client import Client, ServiceError
from hyperct.serve.store import INTERRUPTED

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(run: Path, data: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "hyperct.cli.main", "serve", "--run", str(run), "--data", str(data),
               "--port", str(port), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    with Client(f"http://127.0.0.1:{port}", timeout_s=1) as client:
        try:  # imports and model loading: seconds idle, minutes on a loaded machine
            client.wait_ready(timeout_s=300)
        except ServiceError:
            process.kill()
            raise
    return process


def _statuses(data: Path) -> dict[str, str]:
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        return dict(db.execute("SELECT id, status FROM jobs").fetchall())


def test_kill_and_restart_with_studies_in_flight(trained_run, real_ct, tmp_path):
    scan = real_ct / "ts_example_ct.nii.gz"
    for attempt in range(3):  # the kill must land while a study runs; retry if it did not
        data, port = tmp_path / f"data{attempt}", _free_port()
        server = _start(trained_run, data, port)
        url = f"http://127.0.0.1:{port}"
        with Client(url) as client:
            first = client.submit(scan)
            finished = client.wait(first)
            ids = [client.submit(scan) for _ in range(4)]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "running" not in _statuses(data).values():
                time.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        at_kill = _statuses(data)
        if "running" in at_kill.values():
            break
    else:
        pytest.fail("no study was running at any of three kills")

    server = _start(trained_run, data, port)
    try:
        with Client(url) as client:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                jobs = {job["id"]: job for job in httpx.get(f"{url}/v1/studies").json()}
                if all(job["status"] in ("done", "failed") for job in jobs.values()):
                    break
                time.sleep(0.3)
            assert client.result(first) == finished
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert set(jobs) == {first, *ids}
    for job_id, status in at_kill.items():
        if status == "running":
            assert jobs[job_id]["status"] == "failed" and jobs[job_id]["error"] == INTERRUPTED
        else:
            assert jobs[job_id]["status"] == "done", jobs[job_id]
