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


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    """The loaded run and a factory for servers over it with given settings."""
    from hyperct.serve.app import create_app
    from hyperct.serve.config import ServeConfig
    from hyperct.serve.runs import load_run

    run = load_run(trained_run)

    @contextmanager
    def server(**settings: Any) -> Iterator[str]:
        data = tmp_path_factory.mktemp("serve_data")
        config = ServeConfig(runs=(trained_run,), data_dir=data, **settings)
        with running_server(create_app(config, {run.name: run})) as url:
            yield url

    return run, server
