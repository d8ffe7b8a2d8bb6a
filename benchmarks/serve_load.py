"""Load on `hyperct serve` (loopback only, bounded): N uploads from C concurrent clients.

Starts the real server as a subprocess on 127.0.0.1, sends ``--uploads`` studies of one CT from
``--clients`` threads (each submits, then polls its study to the end), and records p50/p95
latency (submit to result), throughput, the server's peak RSS and that no study was lost or
duplicated. In the same run it times ``hyperct predict``'s path on the same scans in one process
(:func:`hyperct.inference.scans.predict_scans`, model loaded once), so the service's overhead is
a ratio. On a shared machine the load drifts within minutes, so the two sides alternate in
``--rounds`` rounds (predict N/rounds scans, then N/rounds uploads) and each side's time is
summed over its rounds; CPU seconds per scan (server and client processes) are recorded too,
being less sensitive to other users than wall time.

    .venv/bin/python -m benchmarks.serve_load --run demo_output/runs/hyperct --uploads 50 --clients 8

``--clients 8 1 --max-batch 1 4`` also measures light load (one client: nothing waits, so the
batching has nothing to batch) and the unbatched service, each on a fresh server.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
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


def _start_server(run: Path, data: Path, workers: int, max_batch: int | None, port: int) -> subprocess.Popen:
    from hyperct.serve.client import Client, ServiceError

    command = [sys.executable, "-m", "hyperct.cli.main", "serve", "--run", str(run), "--data",
               str(data), "--port", str(port), "--workers", str(workers), "--queue-size", "1000"]
    if max_batch is not None:
        command += ["--max-batch", str(max_batch)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Client(f"http://127.0.0.1:{port}", timeout_s=1) as client:
        try:
            client.wait_ready(timeout_s=600)
        except ServiceError:
            server.kill()
            raise
    return server


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def predict_round(predictor: tuple[Any, Any, bool], scan: Path, scans: int) -> tuple[float, float]:
    """Wall and CPU seconds of `hyperct predict`'s path (read, QC, preprocess, forward) over
    ``scans`` copies of ``scan`` in this process, with its model already loaded (as the
    server's is)."""
    from hyperct.inference.scans import predict_volume, read_checked

    model, spec, bf16 = predictor
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(scans):
        predict_volume(model, spec, read_checked(scan), bf16)
    return time.perf_counter() - start, time.process_time() - cpu


def measure(args: argparse.Namespace, workers: int, max_batch: int | None, clients: int) -> dict[str, Any]:
    """Alternate predict rounds and service rounds over one server; times and checks."""
    import httpx

    from hyperct.inference.scans import load_predictor

    predictor = load_predictor(args.run, "cpu")
    data = args.data / f"workers{workers}_batch{max_batch}_clients{clients}"
    shutil.rmtree(data, ignore_errors=True)
    port = _free_port()
    server = _start_server(args.run, data, workers, max_batch, port)
    url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"predict_s": 0.0, "predict_cpu_s": 0.0, "wall_s": 0.0, "server_cpu_s": 0.0,
                           "client_cpu_s": 0.0, "latencies": [], "ids": [], "failures": []}
    try:
        load_run(url, args.scan, 1, 1, args.timeout)  # warm-up: the first forward of each side
        predict_round(predictor, args.scan, 1)
        sizes = [len(chunk) for chunk in _chunks(args.uploads, args.rounds)]
        for size in sizes:
            wall, cpu = predict_round(predictor, args.scan, size)
            out["predict_s"] += wall
            out["predict_cpu_s"] += cpu
            server_cpu, client_cpu = _cpu_s(server.pid), time.process_time()
            result = load_run(url, args.scan, size, clients, args.timeout)
            out["server_cpu_s"] += _cpu_s(server.pid) - server_cpu
            out["client_cpu_s"] += time.process_time() - client_cpu
            out["wall_s"] += result["wall_s"]
            for key in ("latencies", "ids", "failures"):
                out[key] += result[key]
        listed = [s["id"] for s in httpx.get(f"{url}/v1/studies?limit=1000").json()]
        out["duplicated"] = len(listed) - len(set(listed))
        out["peak_gb"] = _peak_rss_gb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return out


def _chunks(total: int, rounds: int) -> list[range]:
    bounds = [round(i * total / rounds) for i in range(rounds + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="A run folder (e.g. the demo's hyperct run).")
    parser.add_argument("--scan", type=Path, default=DEFAULT_SCAN)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--clients", type=int, nargs="+", default=[8],
                        help="Concurrent client counts to measure.")
    parser.add_argument("--rounds", type=int, default=5, help="Alternations of predict and service.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-batch", type=int, nargs="+", default=None,
                        help="Service --max-batch values to measure (default: the service's own).")
    parser.add_argument("--data", type=Path, default=Path("build/serve_load"))
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    logging.getLogger("hyperct").setLevel(logging.WARNING)  # a line per predicted scan otherwise

    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    for clients in args.clients:
        for workers in args.workers:
            for max_batch in args.max_batch or [None]:
                rows += _rows(args, workers, max_batch, clients, measure(args, workers, max_batch, clients))
    save_result("serve_load", rows, f"run {args.run.name}, scan {args.scan.name}; loopback only; predict "
                                    f"and service alternate in {args.rounds} rounds; load average "
                                    f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
                                    f"on {os.cpu_count()} cores")


def _rows(args: argparse.Namespace, workers: int, max_batch: int | None, clients: int,
          out: dict[str, Any]) -> list[dict]:
    n = args.uploads
    predict_rate = n / out["predict_s"]
    rate = len(out["ids"]) / out["wall_s"]
    lost = n - len(set(out["ids"]))
    lat = sorted(out["latencies"])
    p50 = statistics.median(lat) if lat else float("nan")
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
    ratio = rate / predict_rate
    cpu_predict = out["predict_cpu_s"] / n
    cpu_server, cpu_client = out["server_cpu_s"] / n, out["client_cpu_s"] / n
    logger.info("%d client(s), workers %d, max batch %s: predict %.2f scans/s; service %.2f studies/s (%.2fx predict), "
                "p50 %.2f s, p95 %.2f s, peak %.2f GB, lost %d, duplicated %d; CPU s per scan: predict "
                "%.3f, server %.3f, clients %.3f", clients, workers, max_batch or "default", predict_rate, rate, ratio,
                p50, p95, out["peak_gb"], lost, out["duplicated"], cpu_predict, cpu_server, cpu_client)
    label = f"{n} uploads, {clients} clients, {workers} worker(s), max batch {max_batch or 'default'}"
    return [
        {"metric": f"hyperct predict throughput, one process, alternating with: {label}",
         "value": round(predict_rate, 3), "unit": "scans/s", "goal": None, "anchor": None, "met": None,
         "seconds": round(out["predict_s"], 2), "cpu_s_per_scan": round(cpu_predict, 4)},
        {"metric": f"service throughput, {label}", "value": round(rate, 3), "unit": "studies/s",
         "goal": ">= 0.9x hyperct predict", "anchor": None, "met": ratio >= 0.9, "vs_predict": round(ratio, 3),
         "server_cpu_s_per_study": round(cpu_server, 4), "client_cpu_s_per_study": round(cpu_client, 4)},
        {"metric": f"latency p50, {label}", "value": round(p50, 3), "unit": "s", "goal": None,
         "anchor": None, "met": None},
        {"metric": f"latency p95, {label}", "value": round(p95, 3), "unit": "s", "goal": None,
         "anchor": None, "met": None},
        {"metric": f"server peak RSS, {label}", "value": round(out["peak_gb"], 3), "unit": "GB", "goal": None,
         "anchor": None, "met": None},
        {"metric": f"lost + duplicated studies, {label}", "value": lost + out["duplicated"], "unit": "studies",
         "goal": "0", "anchor": None, "met": lost + out["duplicated"] == 0 and not out["failures"],
         "failures": out["failures"][:5]},
    ]


if __name__ == "__main__":
    main()
