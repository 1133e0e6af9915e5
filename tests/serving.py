"""Run the real web server (API + mounted chat) on a free loopback port for the server tests.

Not a test module: `test_api.py`, `test_ui.py` and `test_browser.py` import it. The server is
uvicorn in a thread, serving exactly what `python app.py` serves, with the real engine in
extractive mode (real index and retrieval, no language model) so that tests take seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from qa.settings import Settings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def extractive_settings(seeds: Path, index_dir: Path, **changes) -> Settings:
    return Settings(seeds_dir=seeds, index_dir=index_dir, generator="extractive").replace(**changes)


@contextmanager
def running(app, wait_ready: bool = True, timeout: float = 60.0) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        if wait_ready:
            wait_healthy(base, deadline - time.monotonic())
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serving(settings: Settings, **kwargs) -> Iterator[str]:
    """The app `python app.py` builds from `settings` (engine included), served as by `running`."""
    from qa.builder import build_engine
    from qa.server import create_app

    with running(create_app(settings, build_engine(settings)), **kwargs) as base:
        yield base


def wait_healthy(base: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{base}/api/health", timeout=5)
            if r.status_code == 200:
                return r.json()
            last = r.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"server at {base} not healthy after {timeout:.0f}s: {last}")
