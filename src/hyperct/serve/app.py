"""The HTTP API and the viewer of ``hyperct serve`` (FastAPI).

Endpoints (all JSON unless said otherwise; errors are ``{"error": "..."}`` with a 4xx status):

- ``POST /v1/studies?model=NAME`` multipart ``files``: a NIfTI file, a zip of a DICOM series or
  DICOM files -> 202 ``{"id", "status"}``;
- ``GET /v1/studies`` past studies, newest first; ``GET /v1/studies/{id}`` a study's status
  (``?wait=S``: answered when the study finishes or fails, or after S seconds);
- ``GET /v1/studies/{id}/result`` per-task probability, operating threshold and call, QC flags,
  model and preprocessing identity, timings;
- ``GET /v1/studies/{id}/image`` the CT as NIfTI; ``.../saliency/{task}`` Grad-CAM as NIfTI;
- for a segmenting (UniCT) run: ``.../masks`` the finding masks as one 4-D uint8 NIfTI on the
  CT's grid (channel k = the result's ``masks.categories[k]``, also in the ``X-Mask-Categories``
  header as JSON), ``.../seg`` the same as DICOM-SEG referencing the input series (DICOM
  inputs), ``.../report`` the generated report as text; other runs answer 404;
- ``GET /v1/studies/{id}/findings.json`` the findings with the DICOM study/series identity (for a
  bridge to map), ``.../sr`` the findings as a DICOM Enhanced SR (DICOM inputs);
- ``GET /v1/models``; ``GET /healthz``; ``GET /`` the viewer; ``/docs`` the OpenAPI page.

With a token configured every ``/v1`` request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hyperct.serve.config import ServeConfig
from hyperct.inference.scan_outputs import mask_file
from hyperct.serve.jobs import IMAGE, RESULT, QueueFull, Workers, study_image
from hyperct.serve.runs import ServedRun
from hyperct.serve.store import JobStore, new_job_id
from hyperct.serve.uploads import UploadError, UploadFile as Part, remove_upload, store_upload
from hyperct.serve.waiters import Settled

logger = logging.getLogger(__name__)

NIFTI = "application/gzip"
SLACK = 1 << 20  # multipart framing around the files
MAX_WAIT_S = 60.0  # the longest a status request may wait for its study


class APIError(Exception):
    """A request the service refuses: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(config: ServeConfig, runs: Mapping[str, ServedRun]) -> FastAPI:
    """The service over already loaded ``runs`` (name -> run)."""
    settled = Settled()
    store = JobStore(config.data_dir, on_settled=settled.notify)
    workers = Workers(store, runs, config.workers, config.queue_size, config.qc, config.max_batch)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        workers.start()
        yield
        workers.stop()
        store.close()

    app = FastAPI(title="hyperct", version=_version(), lifespan=lifespan,
                  summary="25 chest-CT findings from one non-contrast CT")
    app.state.store, app.state.workers = store, workers
    _errors(app)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization"])
    app.add_middleware(BodyLimit, max_bytes=config.limits.max_bytes + SLACK)

    @app.middleware("http")
    async def token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if config.token and request.url.path.startswith("/v1/"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), config.token.encode()):
                return _error(401, "missing or wrong API token (header 'Authorization: Bearer <token>')")
        return await call_next(request)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": list(runs), "waiting": workers.waiting}

    @app.get("/v1/models")
    def models() -> list[dict[str, Any]]:
        return [run.describe() for run in runs.values()]

    @app.post("/v1/studies", status_code=202)
    def submit(
        files: list[UploadFile] = File(..., description="a NIfTI file, a DICOM zip or DICOM files"),
        model: str | None = Query(None, description="run name (default: the first)"),
    ) -> dict[str, Any]:
        name = model or next(iter(runs))
        if name not in runs:
            raise APIError(404, f"no model {name!r}; available: {', '.join(runs)}")
        job_id = new_job_id()
        folder = store.job_dir(job_id)
        parts = [Part(f.filename or f"file {i + 1}", f.file) for i, f in enumerate(files)]
        try:
            kind, path = store_upload(parts, folder / "input", config.limits)
        except UploadError as err:
            remove_upload(folder)
            raise APIError(err.status, str(err)) from err
        job = store.create(job_id, name, kind, path)
        try:
            workers.submit(job_id)
        except QueueFull as err:
            store.fail(job_id, str(err))
            remove_upload(folder)
            raise APIError(503, str(err)) from err
        return {"id": job.id, "status": job.status, "model": name}

    @app.get("/v1/studies")
    def studies(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [job.to_dict() for job in store.list(limit=limit)]

    @app.get("/v1/studies/{job_id}")
    async def status(
        job_id: str,
        wait: float = Query(0, ge=0, le=MAX_WAIT_S,
                            description="seconds to wait for a queued or running study to finish or fail"),
    ) -> dict[str, Any]:
        with settled.watch(job_id) as event:
            job = await run_in_threadpool(_job, store, job_id)
            if wait and job.status in ("queued", "running"):
                with suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), wait)
                job = await run_in_threadpool(store.get, job_id)
        return job.to_dict()

    @app.get("/v1/studies/{job_id}/result")
    def result(job_id: str) -> dict[str, Any]:
        _done(store, job_id)
        return json.loads((store.job_dir(job_id) / RESULT).read_text())

    @app.get("/v1/studies/{job_id}/image")
    def image(job_id: str) -> FileResponse:
        job = _done(store, job_id)
        return FileResponse(study_image(job, store.job_dir(job_id)), media_type="application/octet-stream",
                            filename=IMAGE)

    @app.get("/v1/studies/{job_id}/saliency/{task}")
    def saliency(job_id: str, task: str) -> FileResponse:
        job = _done(store, job_id)
        run = runs[job.run]
        if task not in run.task_names:
            raise APIError(404, f"{task!r} is not a task of model {run.name!r}")
        folder = store.job_dir(job_id)
        path = folder / f"saliency_{run.task_names.index(task):02d}.nii.gz"
        if not path.is_file():
            from hyperct.io.read import read_ct
            from hyperct.io.write import write_nifti

            write_nifti(run.saliency(read_ct(study_image(job, folder)), task), path)
        return FileResponse(path, media_type=NIFTI, filename=f"saliency_{task}.nii.gz")

    @app.get("/v1/studies/{job_id}/findings.json")
    def findings(job_id: str) -> dict[str, Any]:
        from hyperct.io.findings import findings_json

        job = _done(store, job_id)
        found = json.loads((store.job_dir(job_id) / RESULT).read_text())["findings"]
        return findings_json(found, _dicom_source(job))

    @app.get("/v1/studies/{job_id}/sr")
    def structured_report(job_id: str) -> FileResponse:
        from hyperct.io.dicom_sr import write_findings_sr

        job = _done(store, job_id)
        folder = store.job_dir(job_id)

        def write(source: Path, path: Path) -> None:
            found = json.loads((folder / RESULT).read_text())["findings"]
            write_findings_sr(found, source, path, algorithm_name="hyperct",
                              algorithm_version=app.version)

        return _dicom_file(job, folder, "findings_sr.dcm", "a DICOM SR",
                           "GET .../findings.json has the same findings as JSON", write)

    @app.get("/v1/studies/{job_id}/masks")
    def masks(job_id: str) -> FileResponse:
        names = [c["name"] for c in _segmented(store, runs, job_id, "masks")["masks"]["categories"]]
        return FileResponse(mask_file(store.job_dir(job_id), job_id), media_type=NIFTI,
                            filename="masks.nii.gz", headers={"X-Mask-Categories": json.dumps(names)})

    @app.get("/v1/studies/{job_id}/report", response_class=PlainTextResponse)
    def report(job_id: str) -> PlainTextResponse:
        found = _segmented(store, runs, job_id, "report")
        if found["report"] is None:
            raise APIError(404, f"model {found['model']['name']!r} writes masks but no report")
        return PlainTextResponse(found["report"])

    @app.get("/v1/studies/{job_id}/seg")
    def segmentation(job_id: str) -> FileResponse:
        from hyperct.io.dicom_seg import write_dicom_seg_from_nifti

        names = [c["name"] for c in _segmented(store, runs, job_id, "masks")["masks"]["categories"]]
        folder = store.job_dir(job_id)

        def write(source: Path, path: Path) -> None:
            write_dicom_seg_from_nifti(mask_file(folder, job_id), source, path, segment_labels=names,
                                       algorithm_name="hyperct", algorithm_version=app.version)

        return _dicom_file(_job(store, job_id), folder, "masks_seg.dcm", "a DICOM-SEG",
                           "GET .../masks has the same masks as NIfTI", write)

    static = resources.files("hyperct.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def viewer() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    return app


def _job(store: JobStore, job_id: str) -> Any:
    try:
        store.job_dir(job_id)  # refuses an id of the wrong form before any look-up
        return store.get(job_id)
    except KeyError:
        raise APIError(404, f"no study {job_id!r}") from None


def _dicom_source(job: Any) -> Path | None:
    """The uploaded DICOM series of a study; None for a NIfTI upload."""
    return Path(job.input_path) if job.input_kind.startswith("dicom") else None


def _dicom_file(
    job: Any, folder: Path, filename: str, what: str, alternative: str,
    write: Callable[[Path, Path], None],
) -> FileResponse:
    """A DICOM output of a study derived from its DICOM input, written once into its folder by
    ``write(source, path)``; a 409 for a NIfTI upload or when the input cannot be referenced."""
    from hyperct.io.errors import DicomOutputError

    source = _dicom_source(job)
    if source is None:
        raise APIError(409, f"{what} needs a DICOM input; this study was uploaded as NIfTI "
                            f"({alternative})")
    path = folder / filename
    if not path.is_file():
        try:
            write(source, path)
        except DicomOutputError as err:
            raise APIError(409, str(err).replace(str(folder), "<upload>")) from err
    return FileResponse(path, media_type="application/dicom", filename=filename)


def _done(store: JobStore, job_id: str) -> Any:
    job = _job(store, job_id)
    if job.status == "failed":
        raise APIError(409, f"study {job_id} failed: {job.error}")
    if job.status != "done":
        raise APIError(409, f"study {job_id} is {job.status}; poll GET /v1/studies/{job_id}")
    return job


def _segmented(store: JobStore, runs: Mapping[str, ServedRun], job_id: str, what: str) -> dict[str, Any]:
    """The result of a done study of a segmenting run; a 404 naming the run otherwise."""
    job = _done(store, job_id)
    found = json.loads((store.job_dir(job_id) / RESULT).read_text())
    if found.get("masks") is None:
        method = runs[job.run].identity.get("method") if job.run in runs else "unknown"
        raise APIError(404, f"study {job_id} has no {what}: model {job.run!r} (method {method}) "
                            "predicts findings only; masks and a report come from a UniCT run")
    return found


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _errors(app: FastAPI) -> None:
    """Every failure answers JSON naming what is wrong; never a traceback."""

    @app.exception_handler(APIError)
    async def api_error(_: Request, err: APIError) -> JSONResponse:
        return _error(err.status, err.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        return _error(422, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=err)
        return _error(500, "internal error; the server log has the details")


class BodyLimit:
    """Refuse a request body over ``max_bytes``: by its Content-Length, or while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and int(length) > self.max_bytes:
            await _send_error(send, 413, f"the upload is larger than {self.max_bytes} bytes")
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise APIError(413, f"the upload is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hyperct")
    except PackageNotFoundError:
        return "unknown"

