"""Gemini adapter: the only module that touches the `google-genai` SDK.

The SDK leaves three things to its caller (FACTS.md), so this adapter does them:
- it sends whatever it is given in one request, and the API takes at most 100 texts per call,
  so texts are chunked;
- it does not retry by default, and even with retries enabled it ignores `Retry-After`, so we
  retry 429/5xx/transport failures ourselves with exponential backoff that honours the server's
  `Retry-After` header (or the `RetryInfo.retryDelay` of Google's error body);
- only 3072-d output is normalised by the model, so smaller outputs are normalised here.
Timeouts and dropped connections surface as `httpx`/`httpx2` exceptions, not `APIError`.
"""

from __future__ import annotations

import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from syncengine import PermanentError, TransientError

try:  # google-genai uses httpx2 when it is installed, httpx otherwise.
    import httpx2

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx2.TransportError,)
except ImportError:  # pragma: no cover - depends on the installed SDK's extras
    _TRANSPORT_ERRORS = ()
import httpx

_TRANSPORT_ERRORS = (*_TRANSPORT_ERRORS, httpx.TransportError)

MAX_TEXTS_PER_CALL = 100  # the API's limit for batchEmbedContents
FULL_DIMENSION = 3072  # gemini-embedding-001's native size; only it comes back normalised
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class EmbeddingAuthError(PermanentError):
    """The Gemini key is missing or rejected: every further call would fail the same way."""


def _retry_delay_from(exc: genai_errors.APIError) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` or a RetryInfo detail."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        value = headers.get("retry-after")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
    details = exc.details if isinstance(exc.details, dict) else {}
    error = details.get("error", details)
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and (match := re.fullmatch(r"([0-9.]+)s", delay)):
            return float(match.group(1))
    return None


def normalise(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in vector))
    if norm == 0:
        raise PermanentError("Gemini returned an all-zero embedding")
    return [v / norm for v in vector]


class GeminiEmbedder:
    """`syncengine.Embedder` over google-genai's `embed_content`."""

    max_batch = MAX_TEXTS_PER_CALL

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "gemini-embedding-001",
        dimension: int = FULL_DIMENSION,
        task_type: str = "RETRIEVAL_DOCUMENT",
        base_url: str = "",
        timeout_seconds: float = 60.0,
        max_attempts: int = 6,
        max_backoff_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 128 <= dimension <= FULL_DIMENSION:
            raise PermanentError(
                f"embedding dimension {dimension} is outside Gemini's 128-{FULL_DIMENSION}"
            )
        self.model = model
        self.dimension = dimension
        self.task_type = task_type
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_ms = int(timeout_seconds * 1000)
        self._max_attempts = max_attempts
        self._max_backoff = max_backoff_seconds
        self._sleep = sleep
        self._client: genai.Client | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> genai.Client:
        # Built on first use in the process that embeds (django-q2 forks its workers).
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # attempts=1: we retry ourselves, honouring Retry-After, which the SDK ignores.
                options: dict[str, Any] = {
                    "api_version": "v1",
                    "timeout": self._timeout_ms,
                    "retry_options": types.HttpRetryOptions(attempts=1),
                }
                if self._base_url:
                    options["base_url"] = self._base_url
                # vertexai=False: GOOGLE_GENAI_USE_VERTEXAI in the environment must not reroute us.
                self._client = genai.Client(
                    vertexai=False, api_key=self._api_key, http_options=types.HttpOptions(**options)
                )
                self._pid = os.getpid()
            return self._client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed `texts` (any number: chunked by 100), returning one vector per text in order."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), MAX_TEXTS_PER_CALL):
            vectors.extend(self._embed_chunk(texts[start : start + MAX_TEXTS_PER_CALL]))
        return vectors

    def _embed_chunk(self, texts: Sequence[str]) -> list[list[float]]:
        config = types.EmbedContentConfig(
            task_type=self.task_type, output_dimensionality=self.dimension
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._get_client().models.embed_content(
                    model=self.model, contents=list(texts), config=config
                )
                break
            except genai_errors.APIError as exc:
                status = int(exc.code or 0)
                if status in (401, 403) or (status == 400 and "API key" in str(exc.message)):
                    # Google answers an unknown key with 400 API_KEY_INVALID. The engine tells
                    # "the service refuses us" from "a text is bad" by status (401/403/404):
                    # passed on as 400 it would bisect every batch down to single texts and
                    # never abort the run, so it is reported as the 401 it means.
                    raise EmbeddingAuthError(
                        f"Gemini rejected the API key ({status}): {exc.message}",
                        status=status if status in (401, 403) else 401,
                    ) from exc
                if status not in RETRYABLE_STATUSES:
                    raise PermanentError(
                        f"Gemini embed failed ({status}): {exc.message}", status=status
                    ) from exc
                if attempt >= self._max_attempts:
                    raise TransientError(
                        f"Gemini embed failed after {attempt} attempts ({status}): {exc.message}",
                        status=status,
                    ) from exc
                self._sleep(self._backoff(attempt, _retry_delay_from(exc)))
            except _TRANSPORT_ERRORS as exc:
                if attempt >= self._max_attempts:
                    raise TransientError(
                        f"Gemini embed failed after {attempt} attempts: {type(exc).__name__}: {exc}"
                    ) from exc
                self._sleep(self._backoff(attempt, None))
        embeddings = response.embeddings or []
        if len(embeddings) != len(texts):
            raise TransientError(
                f"Gemini returned {len(embeddings)} embeddings for {len(texts)} texts"
            )
        vectors: list[list[float]] = []
        for embedding in embeddings:
            values = list(embedding.values or ())
            if len(values) != self.dimension:
                raise PermanentError(
                    f"Gemini returned a {len(values)}-d vector, expected {self.dimension}"
                )
            # Only the full 3072-d output is normalised by the model (FACTS.md).
            vectors.append(values if self.dimension == FULL_DIMENSION else normalise(values))
        return vectors

    def _backoff(self, attempt: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, self._max_backoff)
        # Full jitter: spread retries of concurrent workers instead of synchronising them.
        return random.uniform(0, min(self._max_backoff, 0.5 * 2 ** (attempt - 1)))
