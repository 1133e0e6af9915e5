"""The HTTP API: `create_api` builds the FastAPI app (see `qa.api.app`); `key_matches` checks API keys."""

from .app import create_api
from .errors import key_matches

__all__ = ["create_api", "key_matches"]
