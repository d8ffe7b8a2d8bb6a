"""How a service runs: where, with which runs, and within which limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from hyperct.io.scan_qc import QCExpectations
from hyperct.serve.uploads import UploadLimits


class ServeConfigError(ValueError):
    """The service cannot start as configured; the message says which setting is wrong."""


@dataclass(frozen=True)
class ServeConfig:
    """Settings of ``hyperct serve`` (the CLI fills them; tests build them directly)."""

    runs: tuple[Path, ...]
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    queue_size: int = 32
    max_batch: int = 4
    token: str | None = None
    device: str = "cpu"
    cors_origins: tuple[str, ...] = ()
    limits: UploadLimits = field(default_factory=UploadLimits)
    qc: QCExpectations = field(default_factory=QCExpectations)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ServeConfigError("give at least one --run (a run folder of hyperct train)")
        if self.workers < 1 or self.queue_size < 1 or self.max_batch < 1:
            raise ServeConfigError("--workers, --queue-size and --max-batch must be at least 1")
        if not is_loopback(self.host) and not self.token:
            raise ServeConfigError(
                f"--host {self.host} accepts connections from other machines: set an API token "
                "(--token or the HYPERCT_SERVE_TOKEN environment variable)"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
