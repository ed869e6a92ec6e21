"""Throughput of the Gemini emulator: `python -m emulators.gemini.bench [--calls N] [--threads T]`.

Measures two numbers: how fast the vector function alone runs (the ceiling), and how many texts
per second a google-genai client receives end to end from an emulator running in its own
process, the way `make demo` runs it (100 texts of about 1,000 characters per call, 3072-d).
The client side (the SDK parsing ~3.4 MB of JSON per call) costs about as much as the server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .embedding import embed_texts
from .validation import MAX_BATCH

TEXT_CHARS = 1000


def _texts(call: int) -> list[str]:
    filler = "lorem ipsum dolor sit amet " * (TEXT_CHARS // 27 + 1)
    return [f"{call}-{i} {filler}"[:TEXT_CHARS] for i in range(MAX_BATCH)]


def bench_function(calls: int) -> float:
    """Texts per second of `embed_texts` alone, 100 at a time, at 3072 dimensions."""
    start = time.perf_counter()
    for call in range(calls):
        embed_texts(_texts(call))
    return calls * MAX_BATCH / (time.perf_counter() - start)


def bench_sdk(calls: int, threads: int) -> float:
    """Texts per second through google-genai against an emulator in a child process."""
    from google import genai  # the emulator itself does not need the SDK
    from google.genai import types

    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "-m", "emulators.gemini", "--port", "0", "--rpm", "0"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().split(" on ", 1)[1].split(" ", 1)[0]
        client = genai.Client(
            vertexai=False,
            api_key="gem-key",
            http_options=types.HttpOptions(base_url=base_url, api_version="v1"),
        )

        def one(call: int) -> int:
            response = client.models.embed_content(
                model="gemini-embedding-001", contents=_texts(call)
            )
            return len(response.embeddings or [])

        one(-1)  # warm up the connection pool and both processes
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            embedded = sum(pool.map(one, range(calls)))
        return embedded / (time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.gemini.bench")
    parser.add_argument("--calls", type=int, default=40, help="calls of 100 texts (default 40)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    args = parser.parse_args(argv)
    print(f"vector function alone:        {bench_function(args.calls):8.0f} texts/s")
    print(f"google-genai, 1 thread:       {bench_sdk(args.calls, 1):8.0f} texts/s")
    rate = bench_sdk(args.calls, args.threads)
    print(f"google-genai, {args.threads} threads:      {rate:8.0f} texts/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
