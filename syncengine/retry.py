"""Bounded retries with exponential backoff for ``TransientError``.

Adapters already retry (the pinecone SDK four times, honouring ``Retry-After``), so the engine
adds only a few attempts with a longer pause: enough to ride out a short outage without
turning one rate-limit episode into a storm of requests.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import TransientError

__all__ = ["backoff_delay", "call_with_retry"]

T = TypeVar("T")


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Delay before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped,
    with "equal jitter" (between half and all of it) so concurrent workers do not retry in
    lockstep."""
    if base <= 0:
        return 0.0
    delay: float = min(cap, base * 2.0 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def call_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    on_attempt: Callable[[], None] | None = None,
    on_retry: Callable[[int, TransientError], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` up to ``attempts`` times while it raises ``TransientError``.

    ``on_attempt`` runs before every call (request counting); ``on_retry(attempt, error)``
    before each pause (logging). The last ``TransientError`` is re-raised; any other exception
    propagates at once.
    """
    attempt = 1
    while True:
        if on_attempt is not None:
            on_attempt()
        try:
            return fn()
        except TransientError as error:
            if attempt >= attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, error)
            sleep(backoff_delay(attempt, base_delay, max_delay))
            attempt += 1
