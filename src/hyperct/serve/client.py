"""A Python client of ``hyperct serve``, used by ``hyperct submit``.

>>> client = Client("http://127.0.0.1:8000")                    # doctest: +SKIP
>>> result = client.wait(client.submit("scan.nii.gz"))          # doctest: +SKIP
>>> [f["task"] for f in result["findings"] if f["positive"]]     # doctest: +SKIP
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx


class ServiceError(RuntimeError):
    """The service answered with an error (``status``) or could not be reached (status 0)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status


class Client:
    """Talks to one service at ``url``; ``token`` when the service requires one."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 120.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout_s = timeout_s
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def wait_ready(self, timeout_s: float = 60.0, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll ``/healthz`` until the service answers (it loads its models first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return self.health()
            except ServiceError:
                time.sleep(poll_s)
        raise ServiceError(0, f"{self._http.base_url} did not answer within {timeout_s:.0f} s")

    def models(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/models")

    def submit(self, scan: str | Path, model: str | None = None) -> str:
        """Upload a NIfTI file, a DICOM zip or a DICOM folder; returns the study id."""
        scan = Path(scan)
        paths = sorted(p for p in scan.rglob("*") if p.is_file()) if scan.is_dir() else [scan]
        if not paths:
            raise FileNotFoundError(f"{scan}: no file to upload")
        with ExitStack() as stack:
            files = [("files", (p.name, stack.enter_context(p.open("rb")))) for p in paths]
            params = {"model": model} if model else {}
            return str(self._json("POST", "/v1/studies", files=files, params=params)["id"])

    def status(self, study: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/studies/{study}")

    def result(self, study: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/studies/{study}/result")

    def wait(self, study: str, timeout_s: float = 600.0, wait_s: float = 30.0) -> dict[str, Any]:
        """Wait until the study is done (its result) or failed (``ServiceError``); each status
        request waits on the server up to ``wait_s`` for the study to settle, so a study costs
        one or two requests, not a poll every fraction of a second."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            wait = round(min(wait_s, left), 3)
            job = self._json("GET", f"/v1/studies/{study}", params={"wait": wait},
                             timeout=self._timeout_s + wait)
            if job["status"] == "done":
                return self.result(study)
            if job["status"] == "failed":
                raise ServiceError(409, f"study {study} failed: {job['error']}")
        raise ServiceError(0, f"study {study} not done after {timeout_s:.0f} s")

    def report(self, study: str) -> str:
        """The generated report of a UniCT run's study (``ServiceError`` 404 for other runs)."""
        return self._request("GET", f"/v1/studies/{study}/report").text

    def masks(self, study: str, out: str | Path) -> Path:
        """Save a UniCT run's finding masks (4-D uint8 NIfTI on the CT's grid, channel k = the
        result's ``masks.categories[k]``) to ``out``; ``ServiceError`` 404 for other runs."""
        return self.download(study, "masks", out)

    def download(self, study: str, what: str, out: str | Path) -> Path:
        """Save ``image``, ``saliency/<task>``, ``masks``, ``seg`` or ``sr`` of a study to
        ``out`` (written atomically)."""
        from hyperct.io.atomic import write_atomic

        response = self._request("GET", f"/v1/studies/{study}/{what}")
        return write_atomic(out, lambda tmp: tmp.write_bytes(response.content))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ServiceError(0, f"cannot reach {self._http.base_url}: {err}") from err
        if response.is_error:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise ServiceError(response.status_code, message)
        return response
