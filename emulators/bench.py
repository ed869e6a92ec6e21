"""`python -m emulators.bench`: throughput of the Pinecone emulator, driven by the real SDK.

Starts the emulator in a separate process (`python -m emulators.pinecone --port 0 ...
--no-rate-limits`, one 3072-d index), then measures, with `pinecone.Index` over HTTP:

* upsert: 3072-d vectors per second accepted, in batches packed to just under the 2 MB
  request limit (as a real ingest must), `--threads` requests in flight;
* fetch: vectors per second served, in batches of `--fetch-batch` IDs (100 by default);
* list: IDs per second, following one pagination chain with pages of 100 (listing is a chain
  of dependent requests, so it is inherently sequential).

Values look like real embeddings on the wire (normalised, 8 decimal places, ~10 characters per
float), so a 3072-d vector is ~33 KB of JSON and ~50 fit in one request. Client and emulator
share the machine: on 2 cores the SDK's own JSON work competes with the server's.

Every phase is bounded by `--vectors` and by `--max-seconds`; the emulator is stopped at the end
whatever happens. `--json` prints the results as one JSON object instead of a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import numpy as np
import orjson

MAX_REQUEST_BYTES = 2 * 1024 * 1024
# Room for the request envelope ({"vectors": [...], "namespace": "..."}) and a safety margin.
BODY_BUDGET = MAX_REQUEST_BYTES - 4096
API_KEY = "bench-key"
INDEX = "bench"
NAMESPACE = "bench"


@dataclass
class PhaseResult:
    phase: str
    items: int
    requests: int
    seconds: float
    request_bytes: int
    response_bytes: int

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def row(self, unit: str) -> str:
        megabytes = (self.request_bytes + self.response_bytes) / self.seconds / 1e6
        return (
            f"{self.phase:<8} {self.items:>8} {unit:<8} {self.requests:>6} req "
            f"{self.seconds:>7.2f} s   {self.items_per_second:>9.0f} {unit}/s   "
            f"{self.requests / self.seconds:>7.1f} req/s   {megabytes:>6.1f} MB/s on the wire"
        )


class EmulatorProcess:
    """The emulator in a child process, started from the command line as a user would."""

    def __init__(self, dimension: int, extra: Sequence[str]) -> None:
        command = [
            sys.executable, "-m", "emulators.pinecone", "--port", "0",
            "--index", f"{INDEX}:{dimension}", "--api-key", API_KEY, "--no-rate-limits",
            *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.control_url = ""
        self.index_url = ""
        deadline = time.monotonic() + 30
        assert self.process.stdout is not None
        while not self.index_url:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("the emulator did not start (see its output above)")
            line = self.process.stdout.readline().strip()
            if line.startswith("pinecone control plane"):
                self.control_url = line.split()[-1]
            elif line.startswith(f"pinecone index {INDEX} "):
                self.index_url = line.split()[-1]

    def stats(self) -> dict[str, Any]:
        index_stats: dict[str, Any] = httpx.get(
            self.index_url + "/_emulator/stats", timeout=10
        ).json()["indexes"][INDEX]
        return index_stats

    def rss_megabytes(self) -> float | None:
        try:
            import psutil
        except ImportError:
            return None
        return float(psutil.Process(self.process.pid).memory_info().rss) / 1e6

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def embedding_like(rng: np.random.Generator, dimension: int) -> np.ndarray:
    """A unit vector with 8 decimals, the way embeddings arrive as JSON."""
    vector = rng.standard_normal(dimension)
    vector /= np.linalg.norm(vector)
    return np.round(vector, 8)


def packed_batches(
    count: int, dimension: int, metadata_bytes: int, seed: int
) -> Iterator[list[dict[str, Any]]]:
    """Vectors in batches whose encoded JSON stays under the 2 MB request limit.

    Values stay numpy arrays until they are sent (`as_sdk_vectors`), so a large run does not
    hold millions of Python floats; orjson renders a float64 array exactly as the list of
    Python floats the SDK will encode, so the sizes computed here are the sizes sent.
    """
    rng = np.random.default_rng(seed)
    batch: list[dict[str, Any]] = []
    size = 0
    for n in range(count):
        record = {
            "id": f"vec-{n:07d}",
            "values": embedding_like(rng, dimension),
            "metadata": {"n": n, "source": "bench", "text": "x" * metadata_bytes},
        }
        encoded = len(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)) + 1
        if batch and (size + encoded > BODY_BUDGET or len(batch) == 1000):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += encoded
    if batch:
        yield batch


def as_sdk_vectors(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a client holding parsed embeddings passes to `Index.upsert`: lists of floats."""
    return [{**record, "values": record["values"].tolist()} for record in batch]


def run_pool(
    tasks: Sequence[Any],
    work: Callable[[Any], int],
    threads: int,
    max_seconds: float,
) -> tuple[int, int, float]:
    """Run `work` over `tasks` on `threads` threads; stop submitting after `max_seconds`.

    Returns (items done, requests done, seconds).
    """
    started = time.monotonic()
    deadline = started + max_seconds
    lock = threading.Lock()
    totals = [0, 0]
    position = iter(tasks)

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                task = next(position, None)
            if task is None:
                return
            done = work(task)
            with lock:
                totals[0] += done
                totals[1] += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()
    return totals[0], totals[1], time.monotonic() - started


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from pinecone import Index

    print(
        f"generating {args.vectors} vectors of {args.dimension} dimensions...",
        file=sys.stderr,
        flush=True,
    )
    batches = list(packed_batches(args.vectors, args.dimension, args.metadata_bytes, args.seed))
    emulator = EmulatorProcess(args.dimension, args.emulator_arg or [])
    results: dict[str, Any] = {
        "dimension": args.dimension,
        "threads": args.threads,
        "cores": os.cpu_count(),
        "upsert_batch_vectors": round(args.vectors / len(batches), 1),
    }
    try:
        index = Index(host=emulator.index_url, api_key=API_KEY, connection_pool_maxsize=32)

        def upsert(batch: list[dict[str, Any]]) -> int:
            vectors = as_sdk_vectors(batch)
            return int(index.upsert(vectors=vectors, namespace=NAMESPACE).upserted_count)

        before = emulator.stats()
        items, requests, seconds = run_pool(batches, upsert, args.threads, args.max_seconds)
        after = emulator.stats()
        upserted = PhaseResult(
            "upsert", items, requests, seconds,
            after["bytes_in"] - before["bytes_in"], after["bytes_out"] - before["bytes_out"],
        )  # fmt: skip
        stored = [f"vec-{n:07d}" for n in range(items)]

        rng = random.Random(args.seed)
        fetch_ids = stored[:]
        rng.shuffle(fetch_ids)
        fetch_batches = [
            fetch_ids[i : i + args.fetch_batch] for i in range(0, len(fetch_ids), args.fetch_batch)
        ] * args.fetch_rounds

        def fetch(ids: list[str]) -> int:
            return len(index.fetch(ids=ids, namespace=NAMESPACE).vectors)

        before = emulator.stats()
        items, requests, seconds = run_pool(fetch_batches, fetch, args.threads, args.max_seconds)
        after = emulator.stats()
        fetched = PhaseResult(
            "fetch", items, requests, seconds,
            after["bytes_in"] - before["bytes_in"], after["bytes_out"] - before["bytes_out"],
        )  # fmt: skip

        before = emulator.stats()
        listed_ids = 0
        pages = 0
        started = time.monotonic()
        for _ in range(args.list_rounds):
            for page in index.list(namespace=NAMESPACE, limit=100):
                listed_ids += len(page.vectors)
                pages += 1
            if time.monotonic() - started > args.max_seconds:
                break
        seconds = time.monotonic() - started
        after = emulator.stats()
        listed = PhaseResult(
            "list", listed_ids, pages, seconds,
            after["bytes_in"] - before["bytes_in"], after["bytes_out"] - before["bytes_out"],
        )  # fmt: skip

        results["emulator_rss_mb"] = emulator.rss_megabytes()
        results["phases"] = {
            r.phase: {**asdict(r), "items_per_second": round(r.items_per_second, 1)}
            for r in (upserted, fetched, listed)
        }
        results["rows"] = [
            upserted.row("vectors"),
            fetched.row("vectors"),
            listed.row("ids"),
        ]
        index.close()
    finally:
        emulator.stop()
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.bench",
        description="Measure the Pinecone emulator's upsert/fetch/list throughput with the SDK.",
    )
    parser.add_argument("--vectors", type=int, default=2000, help="vectors to upsert (2000)")
    parser.add_argument("--dimension", type=int, default=3072, help="index dimension (3072)")
    parser.add_argument("--threads", type=int, default=4, help="client threads in flight (4)")
    parser.add_argument("--fetch-batch", type=int, default=100, help="IDs per fetch (100)")
    parser.add_argument(
        "--fetch-rounds", type=int, default=1, help="times every vector is fetched (1)"
    )
    parser.add_argument(
        "--list-rounds", type=int, default=5, help="times the whole namespace is listed (5)"
    )
    parser.add_argument(
        "--metadata-bytes", type=int, default=200, help="text metadata per vector (200)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="cap on each phase's duration (60)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--emulator-arg",
        action="append",
        metavar="ARG",
        help="extra flag for the emulator, e.g. --emulator-arg=--data-dir=/tmp/x (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.vectors < 1 or args.threads < 1 or not 1 <= args.fetch_batch <= 1000:
        build_parser().error("--vectors and --threads must be >= 1, --fetch-batch 1-1000")
    with contextlib.suppress(KeyboardInterrupt):
        results = bench(args)
        if args.json:
            print(json.dumps({k: v for k, v in results.items() if k != "rows"}, indent=2))
        else:
            print(
                f"Pinecone emulator, {results['dimension']}-d, {results['threads']} client "
                f"threads, {results['cores']} cores; upsert batches of "
                f"~{results['upsert_batch_vectors']} vectors (< 2 MB)"
            )
            for row in results["rows"]:
                print("  " + row)
            if results.get("emulator_rss_mb") is not None:
                print(f"  emulator RSS after the run: {results['emulator_rss_mb']:.0f} MB")
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
