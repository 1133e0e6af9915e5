"""Start the web chat and HTTP API: `python app.py [--host HOST] [--port PORT]`.

Settings come from qa.toml and QA_* environment variables (QA_HOST, QA_PORT, QA_GENERATOR, …);
--host and --port override them. The same as `qa serve`.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the document QA web chat (/) and HTTP API (/api, /v1, docs at /docs).")
    parser.add_argument("--host", help="address to bind (env QA_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env QA_PORT; default 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)

    from qa.server import serve
    from qa.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        parser.error(str(exc))
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    serve(settings.replace(**overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
