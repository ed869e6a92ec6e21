"""Print the engine's peak traced memory for namespaces of growing size.

    python -m tests.engine.bench_memory [N ...]

Analysis peaks should stay flat as N grows (the engine streams; it never holds all IDs).
Mirroring writes into a target that forgets what it receives, so only the engine is measured.
"""

from __future__ import annotations

import sys
import time

from .test_memory import analyze_peak, mirror_peak


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000, 50_000]
    for n in sizes:
        started = time.perf_counter()
        peak, _ = analyze_peak(n)
        report("analyze", n, peak, time.perf_counter() - started)
    for n in sizes:
        started = time.perf_counter()
        peak = mirror_peak(n // 5)
        report("mirror", n // 5, peak, time.perf_counter() - started)


def report(kind: str, n: int, peak: int, seconds: float) -> None:
    print(f"{kind:<8}{n:>9,} records: peak {peak / 1024:8.0f} KiB ({seconds:.1f} s traced)")


if __name__ == "__main__":
    main(sys.argv[1:])
