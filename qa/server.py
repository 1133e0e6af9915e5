"""The one web server: the HTTP API with the web chat mounted on it, run by uvicorn.

`create_app(settings)` wires Settings → Engine loader → API + chat; `serve(settings)` runs it. The
engine loads in a background thread when the server starts, so the port answers at once
(`/api/health` is 503 until the index and models are loaded). Used by `python app.py` and `qa serve`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from .settings import Settings, split_list

log = logging.getLogger(__name__)


def create_app(settings: Settings, engine_or_loader: Any = None):
    """FastAPI app: /api, /v1 and /docs, with the Gradio chat at /.

    Args:
        settings: what to load, and the limits.
        engine_or_loader: an Engine or a function returning one; default loads from `settings`.
    """
    from .api import create_api
    from .builder import build_engine
    from .service import EngineService
    from .ui import create_ui, mount_ui

    service = EngineService(engine_or_loader or functools.partial(build_engine, settings, build_missing=True), settings)
    app = create_api(service, settings)
    return mount_ui(app, create_ui(service), api_keys=split_list(settings.api_keys))


def serve(settings: Settings, log_level: str = "info") -> None:
    """Run the server on settings.host:settings.port until interrupted."""
    import uvicorn

    app = create_app(settings)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not split_list(settings.api_keys):
        log.warning("listening on %s: the server is reachable from other machines and has no API keys (set QA_API_KEYS)", settings.host)
    log.info("serving on http://%s:%d (API docs at /docs)", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, timeout_graceful_shutdown=5)
