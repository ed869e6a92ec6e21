"""Exceptions shared by the engine and the adapters that feed it.

The engine never imports an SDK, so adapters translate SDK exceptions into the two kinds the
engine knows how to react to (the healthchecks pattern of one error type with a
``permanent`` flag):

* :class:`TransientError`: worth trying again later (HTTP 408/429/5xx, timeouts, connection
  failures) *after* the adapter's own retries gave up. The engine retries the batch a few more
  times with backoff, then counts the records as failed and moves on.
* :class:`PermanentError`: retrying the same request cannot help (HTTP 400 bad request,
  413 payload too large, 401/403 auth). For an upsert the engine bisects the batch to find the
  offending record so its neighbours are still written.

Anything else raised by an adapter is treated as a bug: the run stops (after finishing the
batches already in flight) and the exception propagates to the caller.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AdapterError",
    "EngineError",
    "PermanentError",
    "PreflightError",
    "TransientError",
]


class EngineError(Exception):
    """The engine refuses to go on: corrupted listing, misconfiguration, too many failures."""


class PreflightError(EngineError):
    """A configuration value makes the run impossible; raised before any request is made.

    ``setting`` names the offending configuration field so the Django layer can point the
    user at the right form field or environment variable.
    """

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class AdapterError(Exception):
    """Base for errors raised by source/target/embedder adapters.

    ``status`` is the HTTP status when there was one (for logs only: the engine decides on the
    class, never on the number).
    """

    permanent: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(AdapterError):
    """A failure that may go away on its own (rate limit, 5xx, timeout)."""

    permanent = False


class PermanentError(AdapterError):
    """A failure that repeating the identical request cannot fix (bad request, size, auth)."""

    permanent = True
