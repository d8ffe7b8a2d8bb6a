"""Waking the requests that wait for a study to finish or fail (``GET /v1/studies/{id}?wait=S``).

A client that waits on the server asks once per study instead of polling; polls would take CPU
from the model on the same cores. Workers are threads and requests are coroutines, so a
notification crosses into each waiting request's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Settled:
    """Events that fire when a job reaches ``done`` or ``failed``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    @contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set when ``job_id`` settles from now on (call inside a running loop; read
        the job's status after entering, so a job settling in between is not missed)."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(job_id, []).append(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                entries = self._waiting[job_id]
                entries.remove(entry)
                if not entries:
                    del self._waiting[job_id]

    def notify(self, job_id: str) -> None:
        """``job_id`` has settled: wake whoever waits for it (from any thread)."""
        with self._lock:
            entries = list(self._waiting.get(job_id, ()))
        for loop, event in entries:
            loop.call_soon_threadsafe(event.set)
