"""Plumbing shared by the emulators: a background event loop, rate limiting, latency and faults.

Both emulators are aiohttp applications. Tests start them in-process on a background thread
(`BackgroundLoop`), the command line runs them on the main thread's loop (`serve_forever`).
Nothing here imports Django: the emulators are a standalone package users run on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")

# The real services accept bodies of a few MB; aiohttp's default cap is 1 MB. We accept up to 8 MB
# so that the emulator itself can answer the services' own "request too large" errors (Pinecone's
# 2 MB upsert limit) instead of aiohttp's generic one.
CLIENT_MAX_SIZE = 8 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenBucket:
    """A token bucket refilled continuously at `rate` tokens/s, holding at most `burst` tokens.

    `take()` returns 0.0 when the request may proceed, otherwise the seconds until it could,
    which the emulators send back as `Retry-After`.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self, cost: float = 1.0) -> float:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            # A single request costing more than the whole bucket (a 60 MB upsert against a
            # 50 MB/s budget) is let through when the bucket is full, as a real limiter would.
            if self.tokens >= min(cost, self.capacity):
                self.tokens -= cost
                return 0.0
            return (min(cost, self.capacity) - self.tokens) / self.rate


class RateLimiter:
    """Token buckets created on first use, one per key (e.g. `(index, namespace, "upsert")`)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[Any, ...], TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[Any, ...], rate: float | None, cost: float = 1.0) -> float:
        """Seconds to wait before retrying, or 0.0 if allowed. `rate=None` means unlimited."""
        if rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate:
                bucket = self._buckets[key] = TokenBucket(rate)
        return bucket.take(cost)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


def latency_middleware(
    latency_ms: float, jitter: float = 0.25, rng: random.Random | None = None
) -> Any:
    """Delay every request by `latency_ms` +/- `jitter` (a fraction), like a network round trip.

    `rng` makes the jitter reproducible (an emulator started with a seed passes its own).
    """
    draw = rng.uniform if rng is not None else random.uniform

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if latency_ms > 0:
            spread = latency_ms * jitter
            await asyncio.sleep(max(0.0, latency_ms + draw(-spread, spread)) / 1000)
        return await handler(request)

    return middleware


FaultResponder = Callable[[int], web.StreamResponse]


def fault_middleware(
    fault_rate: float,
    respond: FaultResponder,
    applies: Callable[[web.Request], bool] = lambda request: True,
    rng: random.Random | None = None,
) -> Any:
    """Answer a fraction of requests with 500, 503, 429 or a dropped connection.

    `respond(status)` builds the error body in the emulated service's own shape. A dropped
    connection closes the socket before any response byte, which clients see as a transport
    error (the failure mode that google-genai does not retry and that shows up as `httpx`
    exceptions).
    """
    rng = rng or random.Random()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if fault_rate > 0 and applies(request) and rng.random() < fault_rate:
            kind = rng.choice(("500", "503", "429", "drop"))
            if kind == "drop":
                # Read the body first so the client has finished sending, then hang up.
                await request.read()
                if request.transport is not None:
                    request.transport.abort()
                raise ConnectionResetError("emulated dropped connection")
            response = respond(int(kind))
            if kind == "429":
                response.headers["Retry-After"] = "1"
            return response
        return await handler(request)

    return middleware


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; port 0 picks a free one (used by tests)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def start_app(
    app: web.Application, sock: socket.socket, **runner_kwargs: Any
) -> web.AppRunner:
    """Serve `app` on an already bound socket; returns the runner to clean up later.

    `runner_kwargs` reach aiohttp's `AppRunner` (e.g. `max_line_size` for long query strings,
    `shutdown_timeout` for a quick stop).
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_kwargs)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


class BackgroundLoop:
    """An asyncio loop on a daemon thread, for running emulators inside a test process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="emulator-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class BackgroundServer:
    """`start_background()` / `stop()` for an emulator that has async `start()` / `close()`.

    Tests run the emulators in-process on a private event loop thread; the command line awaits
    `start()` / `close()` on its own loop instead.
    """

    _background: BackgroundLoop | None = None

    async def start(self, host: str, port: int) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def start_background(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve from a daemon thread of this process; port 0 picks free ports. Returns self."""
        if self._background is not None:
            raise RuntimeError("the emulator is already started")
        background = BackgroundLoop()
        try:
            background.run(self.start(host, port))
        except BaseException:
            background.close()
            raise
        self._background = background
        return self

    def stop(self) -> None:
        """Stop a `start_background()` emulator (closing it first); safe to call twice."""
        background, self._background = self._background, None
        if background is None:
            return
        try:
            background.run(self.close())
        finally:
            background.close()


async def serve_forever() -> None:
    """Park the command-line process until it is interrupted (Ctrl-C / SIGTERM).

    SIGTERM cancels the task that awaits this, so its `finally:` blocks run and the emulators
    close cleanly (the Pinecone emulator flushes its `--data-dir` there).
    """
    task = asyncio.current_task()
    if task is not None:
        # Not possible off the main thread or on Windows; Ctrl-C still works there.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await asyncio.Event().wait()
