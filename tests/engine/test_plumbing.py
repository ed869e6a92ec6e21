"""The small concurrency helpers: vector leases, read-ahead listing, retries."""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Iterator

import pytest

from syncengine import PermanentError, TransientError
from syncengine.prefetch import Prefetcher
from syncengine.retry import backoff_delay, call_with_retry
from syncengine.vectors import VectorCache


def vec(x: float) -> array[float]:
    return array("d", [x, x])


def test_a_lease_claims_each_text_once_and_later_leases_wait_or_hit() -> None:
    cache = VectorCache(capacity=2)
    first = cache.lease(["a", "b", "a"])
    assert first.claims == ["a", "b"] and not first.hits and not first.waits
    second = cache.lease(["a", "c"])
    assert list(second.waits) == ["a"] and second.claims == ["c"]
    cache.fulfil("a", vec(1))
    assert second.waits["a"].result(timeout=1) == vec(1)
    third = cache.lease(["a"])
    assert third.hits == {"a": vec(1)}


def test_an_abandoned_claim_fails_its_waiters_and_can_be_claimed_again() -> None:
    cache = VectorCache(capacity=0)
    cache.lease(["a"])
    waiter = cache.lease(["a"])
    cache.abandon("a", PermanentError("boom"))
    with pytest.raises(PermanentError):
        waiter.waits["a"].result(timeout=1)
    assert cache.lease(["a"]).claims == ["a"]


def test_fulfilled_vectors_stay_available_until_released_even_without_an_lru() -> None:
    cache = VectorCache(capacity=0)
    cache.lease(["a"])
    cache.fulfil("a", vec(1))
    assert cache.lease(["a"]).hits == {"a": vec(1)}  # not yet in the ledger: still here
    cache.release(["a"])
    assert cache.lease(["a"]).claims == ["a"]  # from now on the ledger is the memory


def test_the_lru_is_bounded() -> None:
    cache = VectorCache(capacity=2)
    for key in "abc":
        cache.lease([key])
        cache.fulfil(key, vec(1))
        cache.release([key])
    assert len(cache) == 2
    assert cache.lease(["a"]).claims == ["a"]


def test_abandon_all_wakes_every_waiter() -> None:
    cache = VectorCache(capacity=4)
    cache.lease(["a", "b"])
    waits = cache.lease(["a", "b"]).waits
    cache.abandon_all(RuntimeError("stop"))
    for future in waits.values():
        with pytest.raises(RuntimeError):
            future.result(timeout=1)


def test_prefetcher_yields_everything_in_order() -> None:
    assert list(Prefetcher(lambda: iter(range(50)), depth=3, name="t")) == list(range(50))


def test_prefetcher_hands_the_producers_exception_to_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise TransientError("list failed")

    items = Prefetcher(failing, depth=2, name="t")
    assert next(items) == 1
    with pytest.raises(TransientError, match="list failed"):
        next(items)


def test_prefetcher_stops_reading_ahead_when_closed() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    items = Prefetcher(endless, depth=2, name="t")
    assert next(items) == 0
    items.close()
    time.sleep(0.3)
    settled = len(produced)
    time.sleep(0.3)
    assert len(produced) == settled <= 5
    assert not any(t.name == "t" and t.is_alive() for t in threading.enumerate())


def test_retries_only_transient_errors_a_bounded_number_of_times() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise TransientError("503")
        return "ok"

    sleeps: list[float] = []
    assert (
        call_with_retry(flaky, attempts=3, base_delay=1, max_delay=10, sleep=sleeps.append) == "ok"
    )
    assert len(attempts) == 3 and len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1 <= sleeps[1] <= 2

    def always() -> None:
        attempts.append(1)
        raise TransientError("503")

    attempts.clear()
    with pytest.raises(TransientError):
        call_with_retry(always, attempts=4, base_delay=0, max_delay=0)
    assert len(attempts) == 4

    def permanent() -> None:
        attempts.append(1)
        raise PermanentError("400")

    attempts.clear()
    with pytest.raises(PermanentError):
        call_with_retry(permanent, attempts=4, base_delay=0, max_delay=0)
    assert len(attempts) == 1


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_delay(1, 0, 10) == 0
    assert 4 <= backoff_delay(4, 1, 8) <= 8
    assert 4 <= backoff_delay(30, 1, 8) <= 8
