"""A real server on loopback over the tiny trained run, for the service tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _server_factory(runs: dict[str, Any], paths: tuple[Any, ...], tmp_path_factory: Any) -> Any:
    """``server(**settings)``: a context manager serving ``runs`` with those ServeConfig settings."""
    from hyperct.serve.app import create_app
    from hyperct.serve.config import ServeConfig

    @contextmanager
    def server(**settings: Any) -> Iterator[str]:
        data = tmp_path_factory.mktemp("serve_data")
        config = ServeConfig(runs=paths, data_dir=data, **settings)
        with running_server(create_app(config, runs)) as url:
            yield url

    return server


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    """The loaded run and a factory for servers over it with given settings."""
    from hyperct.serve.runs import load_run

    run = load_run(trained_run)
    return run, _server_factory({run.name: run}, (trained_run,), tmp_path_factory)


@pytest.fixture(scope="module")
def served_unict(trained_run, make_unict_run, tmp_path_factory):
    """A tiny UniCT run (masks and a report) and the HyperCT run, loaded, and a factory for
    servers over both (UniCT first, so the default model)."""
    from hyperct.serve.runs import load_run

    path = make_unict_run(tmp_path_factory.mktemp("unict") / "unict_run")
    unict, hyper = load_run(path), load_run(trained_run)
    runs = {unict.name: unict, hyper.name: hyper}
    return unict, hyper, _server_factory(runs, (path, trained_run), tmp_path_factory)
