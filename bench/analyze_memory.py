"""Peak memory of analysing a namespace through the real stack, for growing namespace sizes.

    .venv/bin/python bench/analyze_memory.py --records 10000 50000

The question it answers: does analysing a namespace need memory in proportion to its size?
The engine streams (a merge-join of the two ID listings, a bounded number of batches in
flight), so the answer should be no; this measures it with everything real: the service
layer (`sync_run_create` + `sync_run_execute`), the SDK adapters, the pinecone SDK over HTTP,
the Django ORM writing the run row and its diff rows.

For each size N:

1. The Pinecone emulator starts in a **separate process** (`python -m emulators pinecone`), so
   the records it holds are not counted. This process seeds it through the SDK: N source
   records (8-d vectors), and a target holding every other one (128-d, the smallest Gemini
   size), 1 % of those with changed metadata, plus a few orphans. An analysis then finds N/2
   missing, N/2 matching and writes one diff row per missing or changed record.
2. A **fresh worker process** (this script with `--worker`) sets Django up on a throwaway
   SQLite database in a temporary directory (migrated there, deleted afterwards: the database
   named in your settings or `.env` is never opened), with DEBUG off (DEBUG keeps every SQL
   query in memory), registers the indexes and the namespace through the services, runs a
   small warm-up analysis (imports, SDK clients), then analyses the namespace twice:

   * once sampling its own resident set size every 5 ms on a thread (psutil): the reported
     growth is the peak minus the RSS just before the run;
   * once under `tracemalloc`: the peak of Python allocations during the run, which is
     insensitive to allocator caching but slows the run down (so it is not timed).

   A fresh process per size keeps one size's freed-but-cached heap from hiding the next
   one's growth.

Nothing here is a pass/fail check (`tests/syncapp/test_analysis_memory.py` asserts a fixed
bound); it prints numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent

SOURCE_INDEX = "gflops-serverless"
TARGET_INDEX = "askdona"
SOURCE_DIMENSION = 8
TARGET_DIMENSION = 128
NAMESPACE = "bench"
WARMUP_NAMESPACE = "warmup"
WARMUP_RECORDS = 500
RW_KEY = "bench-rw-key"
RO_KEY = "bench-ro-key"
ORPHANS = 100
SEED_CHUNK = 500  # records per upsert: ~0.6 MB with 128-d vectors, under the 2 MB limit


# --- the emulator, in a process of its own ------------------------------------------------------


@dataclass(frozen=True)
class EmulatorAddresses:
    control_url: str
    hosts: dict[str, str]


@contextlib.contextmanager
def pinecone_emulator_process(
    *, source_dimension: int = SOURCE_DIMENSION, target_dimension: int = TARGET_DIMENSION
) -> Iterator[EmulatorAddresses]:
    """`python -m emulators pinecone` on free ports, rate limits off; stopped on exit."""
    command = [
        sys.executable,
        "-m",
        "emulators",
        "pinecone",
        "--port",
        "0",
        "--index",
        f"{SOURCE_INDEX}:{source_dimension}",
        "--index",
        f"{TARGET_INDEX}:{target_dimension}",
        "--api-key",
        RW_KEY,
        "--read-only-api-key",
        RO_KEY,
        "--no-rate-limits",
    ]
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        control = ""
        hosts: dict[str, str] = {}
        while len(hosts) < 2:
            line = process.stdout.readline()
            if not line:
                stderr = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"the Pinecone emulator did not start:\n{stderr}")
            words = line.split()
            if line.startswith("pinecone control plane"):
                control = words[-1]
            elif line.startswith("pinecone index"):
                hosts[words[2]] = words[-1]
        yield EmulatorAddresses(control, hosts)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- seeding, through the SDK ----------------------------------------------------------------


def _vector(i: int, dimension: int) -> list[float]:
    # Non-zero (Pinecone refuses all-zero vectors), exactly representable in float32.
    return [((i + k) % 16 + 1) / 16 for k in range(dimension)]


def source_metadata(i: int) -> dict[str, Any]:
    return {
        "text": f"Document {i}: a paragraph of a few dozen words standing in for a real chunk.",
        "n": i,
        "source": "bench",
        "tags": ["alpha", "beta"],
    }


def seed(
    hosts: dict[str, str],
    records: int,
    *,
    namespace: str = NAMESPACE,
    target_dimension: int = TARGET_DIMENSION,
) -> None:
    """N source records; in the target every other one (1 % of those changed) and orphans."""
    from pinecone import Index

    source = Index(host=hosts[SOURCE_INDEX], api_key=RW_KEY)
    target = Index(host=hosts[TARGET_INDEX], api_key=RW_KEY)

    def send(index: Any, rows: Iterator[dict[str, Any]]) -> None:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == SEED_CHUNK:
                index.upsert(vectors=chunk, namespace=namespace)
                chunk = []
        if chunk:
            index.upsert(vectors=chunk, namespace=namespace)

    def source_rows() -> Iterator[dict[str, Any]]:
        for i in range(records):
            yield {
                "id": f"doc-{i:07d}",
                "values": _vector(i, SOURCE_DIMENSION),
                "metadata": source_metadata(i),
            }

    def target_rows() -> Iterator[dict[str, Any]]:
        for i in range(0, records, 2):
            metadata = {**source_metadata(i), "clearance_level": "internal"}
            if i % 200 == 0:
                metadata["n"] = -1  # changed in the source since it was mirrored
            yield {
                "id": f"doc-{i:07d}",
                "values": _vector(i, target_dimension),
                "metadata": metadata,
            }
        for i in range(ORPHANS):
            yield {
                "id": f"orphan-{i:04d}",
                "values": _vector(i, target_dimension),
                "metadata": {"text": f"orphan {i}", "clearance_level": "internal"},
            }

    try:
        send(source, source_rows())
        send(target, target_rows())
    finally:
        source.close()
        target.close()


# --- measuring (the worker process, or a test with Django already set up) ----------------------


class RssSampler:
    """Samples this process's resident set size on a daemon thread; `peak` is the maximum."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def register(control_url: str, *, namespaces: Sequence[str] = (NAMESPACE,)) -> dict[str, Any]:
    """Index and Namespace rows through the services; the keys go into the environment."""
    from django.conf import settings

    from syncapp.services.config import index_upsert, namespace_upsert

    os.environ["PINECONE_API_KEY"] = RW_KEY
    os.environ["PINECONE_SOURCE_API_KEY"] = RO_KEY
    settings.PINECONE_CONTROLLER_HOST = control_url
    index_upsert(name=SOURCE_INDEX)
    index_upsert(name=TARGET_INDEX)
    rows = {}
    for name in namespaces:
        rows[name], _ = namespace_upsert(
            name=name,
            source_index=SOURCE_INDEX,
            target_index=TARGET_INDEX,
            source_namespace=name,
            clearance_level="internal",
            embedding_dimension=TARGET_DIMENSION,
        )
    return rows


def analyse(namespace: Any) -> Any:
    """One analysis through the service layer, as the admin or a command starts it."""
    from syncapp.services.runs import sync_run_create, sync_run_execute

    run = sync_run_create(namespace=namespace, kind="analyze", trigger="command")
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    if run.status != "succeeded":
        raise RuntimeError(f"analysis ended {run.status}: {run.error}")
    return run


def traced_peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes of Python allocations (all threads) while `fn` runs, and its result."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def measure(namespace: Any) -> dict[str, Any]:
    gc.collect()
    started = time.perf_counter()
    with RssSampler() as rss:
        run = analyse(namespace)
    seconds = time.perf_counter() - started
    traced, _ = traced_peak(lambda: analyse(namespace))
    return {
        "records": run.total_source_vectors,
        "missing": run.missing_in_target,
        "matching": run.matching_ids,
        "differs": run.metadata_differs,
        "orphans": run.orphaned_in_target,
        "seconds": seconds,
        "rss_baseline": rss.baseline,
        "rss_peak": rss.peak,
        "rss_growth": rss.growth,
        "traced_peak": traced,
    }


def worker(control_url: str) -> None:
    """Entry point of the measuring process: Django on a throwaway database, then measure."""
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "mirrorsite.settings",
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
                "ENV_FILE": str(Path(tmp) / "no.env"),  # a developer's .env must not apply
                "DEBUG": "false",  # DEBUG keeps every SQL query in memory
                "LOG_LEVEL": "WARNING",
            }
        )
        os.environ.setdefault("SECRET_KEY", "benchmark-only-not-secret")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        rows = register(control_url, namespaces=(WARMUP_NAMESPACE, NAMESPACE))
        analyse(rows[WARMUP_NAMESPACE])  # imports, SDK clients, first queries
        result = measure(rows[NAMESPACE])
        from django.db import connections

        connections.close_all()
    print(json.dumps(result), flush=True)


# --- the orchestrating process ------------------------------------------------------------------


def run_size(records: int) -> dict[str, Any]:
    with pinecone_emulator_process() as emulator:
        started = time.perf_counter()
        seed(emulator.hosts, records)
        seed(emulator.hosts, WARMUP_RECORDS, namespace=WARMUP_NAMESPACE)
        seeded = time.perf_counter() - started
        done = subprocess.run(
            [sys.executable, __file__, "--worker", emulator.control_url],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the measuring process failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["seed_seconds"] = seeded
        return result


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):8.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--worker", metavar="CONTROL_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    print(
        "analysis of N source records (target: every other one, 1 % of those changed, "
        f"{ORPHANS} orphans); MiB"
    )
    header = (
        f"{'records':>9} {'missing':>8} {'differ':>7} {'seconds':>8} {'rec/s':>8} "
        f"{'RSS before':>10} {'RSS peak':>8} {'RSS growth':>10} {'traced peak':>11}"
    )
    print(header)
    rows = []
    for records in args.records:
        r = run_size(records)
        rows.append(r)
        print(
            f"{r['records']:>9,} {r['missing']:>8,} {r['differs']:>7,} {r['seconds']:>8.1f} "
            f"{r['records'] / r['seconds']:>8,.0f} {mib(r['rss_baseline']):>10} "
            f"{mib(r['rss_peak']):>8} {mib(r['rss_growth']):>10} {mib(r['traced_peak']):>11}",
            flush=True,
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"from {first['records']:,} to {last['records']:,} records "
            f"(x{last['records'] / first['records']:.0f}): RSS growth "
            f"{mib(first['rss_growth']).strip()} -> {mib(last['rss_growth']).strip()} MiB, "
            f"traced peak {mib(first['traced_peak']).strip()} -> "
            f"{mib(last['traced_peak']).strip()} MiB"
        )
    return 0


if __name__ == "__main__":
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    sys.exit(main())
