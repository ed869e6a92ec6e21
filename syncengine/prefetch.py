"""Read a blocking iterator ahead on a background thread.

Listing a namespace is a chain of sequential page requests (10 M IDs = 100,000 requests per
index). Running the source and target listings each on its own thread lets them proceed in
parallel with each other and with the coordinating thread's bookkeeping, while a small bounded
queue keeps memory at a few pages.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Prefetcher"]

T = TypeVar("T")

_POLL_SECONDS = 0.1


class _End:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetcher(Generic[T], Iterator[T]):
    """Iterate ``factory()`` on a daemon thread, at most ``depth`` items ahead.

    Exceptions raised by the producer are re-raised to the consumer at the point they occurred.
    ``close()`` stops the producer (after its current item) so a run that stops early does not
    keep listing; the thread is a daemon so a hung request cannot block interpreter exit.
    """

    def __init__(self, factory: Callable[[], Iterator[T]], *, depth: int, name: str) -> None:
        self._queue: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(factory,), name=name)
        self._thread.daemon = True
        self._thread.start()

    def _put(self, item: T | _End | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, factory: Callable[[], Iterator[T]]) -> None:
        try:
            iterator = factory()
            for item in iterator:
                if not self._put(item):
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                    return
            self._put(_End())
        except BaseException as error:  # handed to the consumer, re-raised there
            self._put(_Failed(error))

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            raise StopIteration
        if isinstance(item, _Failed):
            self._done = True
            raise item.error
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
