"""A generator that streams from an OpenAI-compatible `/chat/completions` server (vLLM, llama.cpp server, Ollama).

Left out: the number constraint (a remote server takes no per-token mask, so `allowed_numbers` is
ignored: the engine checks numbers after generation), sampling options (greedy via temperature 0),
tool calls, retries.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator, Sequence

from .generators import GeneratorError


class OpenAIGenerator:
    """Streams from an OpenAI-compatible `/chat/completions` endpoint (vLLM, llama.cpp server, Ollama).

    Greedy via `temperature: 0`. `allowed_numbers` is ignored: a remote server takes no per-token
    mask, so the caller must verify numbers after generation.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 60):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.name = f"openai:{model}"
        self.last_stats: dict[str, Any] = {}

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int = 64,
        allowed_numbers: Sequence[str] | None = None,
    ) -> Iterator[str]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": 0,
            "max_tokens": max_new_tokens,
        }
        started = time.perf_counter()
        stats: dict[str, Any] = {"chunks": 0}
        self.last_stats = stats
        try:
            with httpx.Client(timeout=self.timeout) as client, client.stream("POST", url, json=payload, headers=headers) as response:
                if response.status_code != 200:
                    body = response.read().decode("utf-8", "replace")[:500]
                    raise GeneratorError(
                        f"{url} answered HTTP {response.status_code}: {body!r}; check openai_base_url, "
                        f"openai_model ({self.model!r}) and openai_api_key"
                    )
                for line in response.iter_lines():
                    line = line.strip()
                    if not line or line.startswith(":") or not line.startswith("data:"):
                        continue  # blank separators, SSE comments, event:/id: fields
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise GeneratorError(f"{url} sent a stream line that is not JSON: {data[:200]!r}; is it an OpenAI-compatible server?") from None
                    if isinstance(event, dict) and event.get("error"):
                        raise GeneratorError(f"{url} reported an error mid-stream: {event['error']}")
                    try:
                        choices = event.get("choices") or []
                        content = (choices[0].get("delta") or {}).get("content") if choices else None
                    except (AttributeError, IndexError, TypeError):
                        raise GeneratorError(f"{url} sent an unexpected chunk: {data[:200]!r}") from None
                    if content:
                        if "ttft_s" not in stats:
                            stats["ttft_s"] = time.perf_counter() - started
                        stats["chunks"] += 1
                        yield content
        except httpx.ConnectError as exc:
            raise GeneratorError(f"could not connect to {url}: {exc}; is the server running? check openai_base_url") from exc
        except httpx.TimeoutException as exc:
            raise GeneratorError(f"{url} did not answer within {self.timeout} s ({type(exc).__name__}); raise request_timeout_s or check the server") from exc
        except httpx.HTTPError as exc:
            raise GeneratorError(f"request to {url} failed: {type(exc).__name__}: {exc}") from exc
        stats["total_s"] = time.perf_counter() - started
