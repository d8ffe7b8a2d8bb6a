"""Load on `hyperct serve` (loopback only, bounded): N uploads from C concurrent clients.

Starts the real server as a subprocess on 127.0.0.1, sends ``--uploads`` studies of one CT from
``--clients`` threads (each submits, then polls its study to the end), and records p50/p95
latency (submit to result), throughput, the server's peak RSS and that no study was lost or
duplicated. In the same run it times ``hyperct predict``'s path on the same scans in one process
(:func:`hyperct.inference.scans.predict_scans`), so the service's overhead is a ratio.

    .venv/bin/python -m benchmarks.serve_load --run demo_output/runs/hyperct --uploads 50 --clients 8
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.record import save_result

logger = logging.getLogger(__name__)
DEFAULT_SCAN = Path(__file__).resolve().parents[1].parent / "shared/data/real_ct/ts_example_ct_sm.nii.gz"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(run: Path, data: Path, workers: int, port: int) -> subprocess.Popen:
    from hyperct.serve.client import Client, ServiceError

    command = [sys.executable, "-m", "hyperct.cli.main", "serve", "--run", str(run), "--data",
               str(data), "--port", str(port), "--workers", str(workers), "--queue-size", "1000"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Client(f"http://127.0.0.1:{port}", timeout_s=1) as client:
        try:
            client.wait_ready(timeout_s=600)
        except ServiceError:
            server.kill()
            raise
    return server


def _peak_rss_gb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def load_run(url: str, scan: Path, uploads: int, clients: int, timeout_s: float) -> dict[str, Any]:
    """Send ``uploads`` studies from ``clients`` threads; latencies, wall time, ids seen."""
    from hyperct.serve.client import Client

    latencies: list[float] = []
    ids: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(uploads))

    def client_loop() -> None:
        with Client(url, timeout_s=timeout_s) as client:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                start = time.perf_counter()
                try:
                    study = client.submit(scan)
                    client.wait(study, timeout_s=timeout_s)
                except Exception as err:  # noqa: BLE001 - every failure is counted, none stops the run
                    with lock:
                        failures.append(str(err))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)
                    ids.append(study)

    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"wall_s": time.perf_counter() - start, "latencies": latencies, "ids": ids,
            "failures": failures}


def predict_baseline(run: Path, scan: Path, uploads: int) -> float:
    """Seconds of `hyperct predict`'s path over the same scans in one process (model loaded once)."""
    from hyperct.inference.scans import predict_scans

    predict_scans(paths=[scan], checkpoint=run, device="cpu")  # warm-up: imports and first call
    start = time.perf_counter()
    predict_scans(paths=[scan] * uploads, checkpoint=run, device="cpu")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="A run folder (e.g. the demo's hyperct run).")
    parser.add_argument("--scan", type=Path, default=DEFAULT_SCAN)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", type=Path, default=Path("build/serve_load"))
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    import os
    import shutil

    baseline_s = predict_baseline(args.run, args.scan, args.uploads)
    baseline_rate = args.uploads / baseline_s
    logger.info("hyperct predict, one process: %.2f scans/s", baseline_rate)
    rows: list[dict[str, Any]] = [{
        "metric": "hyperct predict throughput, one process", "value": round(baseline_rate, 3),
        "unit": "scans/s", "goal": None, "anchor": None, "met": None, "seconds": round(baseline_s, 2)}]
    load_before = os.getloadavg()[0]
    for workers in args.workers:
        data = args.data / f"workers{workers}"
        shutil.rmtree(data, ignore_errors=True)
        port = _free_port()
        server = _start_server(args.run, data, workers, port)
        try:
            result = load_run(f"http://127.0.0.1:{port}", args.scan, args.uploads, args.clients, args.timeout)
            import httpx

            listed = [s["id"] for s in httpx.get(f"http://127.0.0.1:{port}/v1/studies?limit=1000").json()]
            peak = _peak_rss_gb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
        rate = len(result["ids"]) / result["wall_s"]
        lost = args.uploads - len(set(result["ids"]))
        duplicated = len(listed) - len(set(listed))
        lat = sorted(result["latencies"])
        p50 = statistics.median(lat) if lat else float("nan")
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
        ratio = rate / baseline_rate
        logger.info("workers %d: %.2f studies/s (%.2fx predict), p50 %.2f s, p95 %.2f s, peak %.2f GB, "
                    "lost %d, duplicated %d", workers, rate, ratio, p50, p95, peak, lost, duplicated)
        label = f"{args.uploads} uploads, {args.clients} clients, {workers} worker(s)"
        rows += [
            {"metric": f"service throughput, {label}", "value": round(rate, 3), "unit": "studies/s",
             "goal": ">= 0.9x hyperct predict", "anchor": None, "met": ratio >= 0.9,
             "vs_predict": round(ratio, 3)},
            {"metric": f"latency p50, {label}", "value": round(p50, 3), "unit": "s", "goal": None,
             "anchor": None, "met": None},
            {"metric": f"latency p95, {label}", "value": round(p95, 3), "unit": "s", "goal": None,
             "anchor": None, "met": None},
            {"metric": f"server peak RSS, {label}", "value": round(peak, 3), "unit": "GB", "goal": None,
             "anchor": None, "met": None},
            {"metric": f"lost + duplicated studies, {label}", "value": lost + duplicated, "unit": "studies",
             "goal": "0", "anchor": None, "met": lost + duplicated == 0 and not result["failures"],
             "failures": result["failures"][:5]},
        ]
    save_result("serve_load", rows, f"run {args.run.name}, scan {args.scan.name}; loopback only; load "
                                    f"average {load_before:.1f} at the start on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
