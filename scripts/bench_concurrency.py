#!/usr/bin/env python
"""Concurrency benchmark: N clients ask dev questions of a running `qa serve` at once.

For each client count (default 1, 4, 8) every client streams `POST /api/ask` (server-sent events)
for its share of the requests; meanwhile a prober calls `GET /api/health` every 0.2 s to show that
the health check is not blocked by queued answers. Reports throughput, time to the first event
and to the final answer (p50/p95), rejected requests (HTTP 429/503, e.g. a full queue) and health
latency.

    .venv/bin/python scripts/bench_concurrency.py --start-server            # starts qa serve itself
    .venv/bin/python scripts/bench_concurrency.py --url http://127.0.0.1:7860 --clients 1,4,8 --json

Left out: a warm-up beyond one request, keep-alive tuning, anything but /api/ask.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from qa.evaluation import percentile

ROOT = Path(__file__).resolve().parent.parent


def ask(client: httpx.Client, url: str, question: str) -> dict:
    """One streamed question: status, seconds to the first event and to the answer event."""
    started = time.perf_counter()
    first = None
    event = None
    try:
        with client.stream("POST", f"{url}/api/ask", json={"question": question, "stream": True}) as response:
            if response.status_code != 200:
                response.read()
                return {"status": response.status_code, "total_s": time.perf_counter() - started}
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if first is None:
                        first = time.perf_counter() - started
                elif line.startswith("data:") and event in ("answer", "error"):
                    return {"status": 200 if event == "answer" else "stream-error", "first_s": first, "total_s": time.perf_counter() - started}
    except httpx.HTTPError as exc:
        return {"status": type(exc).__name__, "total_s": time.perf_counter() - started}
    return {"status": "no-answer", "first_s": first, "total_s": time.perf_counter() - started}


def probe_health(url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                client.get(f"{url}/api/health")
                out.append((time.perf_counter() - started) * 1000)
            except httpx.HTTPError:
                out.append(float("inf"))
            stop.wait(0.2)


def run_level(url: str, questions: list[str], clients: int, requests: int, timeout: float) -> dict:
    """`requests` questions (round-robin over `questions`) spread over `clients` threads."""
    jobs = [questions[i % len(questions)] for i in range(requests)]
    shares = [jobs[c::clients] for c in range(clients)]
    health: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe_health, args=(url, stop, health), daemon=True)
    prober.start()

    def client_loop(share: list[str]) -> list[dict]:
        with httpx.Client(timeout=timeout) as client:
            return [ask(client, url, q) for q in share]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = [r for rs in pool.map(client_loop, shares) for r in rs]
    wall = time.perf_counter() - started
    stop.set()
    prober.join()
    ok = [r for r in results if r["status"] == 200]
    firsts = [r["first_s"] for r in ok if r.get("first_s") is not None]
    totals = [r["total_s"] for r in ok]
    errors: dict[str, int] = {}
    for r in results:
        if r["status"] != 200:
            errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1
    finite = [h for h in health if h != float("inf")]
    return {
        "clients": clients,
        "requests": requests,
        "ok": len(ok),
        "errors": errors,
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(ok) / wall, 3) if wall else 0.0,
        "first_event_p50_s": round(percentile(firsts, 50), 3),
        "first_event_p95_s": round(percentile(firsts, 95), 3),
        "latency_p50_s": round(percentile(totals, 50), 3),
        "latency_p95_s": round(percentile(totals, 95), 3),
        "latency_max_s": round(max(totals), 3) if totals else 0.0,
        "health_p50_ms": round(percentile(finite, 50), 1),
        "health_max_ms": round(max(finite), 1) if finite else 0.0,
        "health_failures": len(health) - len(finite),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, wait_s: float) -> subprocess.Popen:
    """`qa serve` on `port`; returns once /api/health says ready."""
    env = {**os.environ, "QA_PORT": str(port), "QA_HOST": "127.0.0.1"}
    server = subprocess.Popen([sys.executable, "-m", "qa", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"qa serve exited with status {server.returncode}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"qa serve was not ready within {wait_s} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860", help="server to test (default http://127.0.0.1:7860)")
    parser.add_argument("--start-server", action="store_true", help="start `qa serve` on a free port for the run")
    parser.add_argument("--clients", default="1,4,8", help="comma-separated client counts (default 1,4,8)")
    parser.add_argument("--requests", type=int, default=16, help="requests per client count (default 16)")
    parser.add_argument("--questions", type=Path, default=ROOT / "tests" / "data" / "dev.jsonl")
    parser.add_argument("--timeout", type=float, default=120, help="per-request timeout in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    server = None
    url = args.url.rstrip("/")
    if args.start_server:
        port = free_port()
        server = start_server(port, wait_s=300)
        url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=args.timeout) as client:
            ask(client, url, questions[0])  # warm-up
        levels = [run_level(url, questions, int(c), args.requests, args.timeout) for c in args.clients.split(",")]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    load = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps({"url": url, "load_average": load, "levels": levels}))
        return 0
    print(f"{url}  load average {load}")
    print(f"{'clients':>7} {'ok':>4} {'rps':>6} {'first p50/p95 s':>16} {'answer p50/p95 s':>17} {'health p50/max ms':>18}  errors")
    for r in levels:
        print(
            f"{r['clients']:>7} {r['ok']:>4} {r['throughput_rps']:>6.2f} {r['first_event_p50_s']:>7.2f} /{r['first_event_p95_s']:>6.2f}"
            f"  {r['latency_p50_s']:>7.2f} /{r['latency_p95_s']:>6.2f}  {r['health_p50_ms']:>8.1f} /{r['health_max_ms']:>7.1f}  {r['errors'] or ''}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
