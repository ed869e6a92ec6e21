"""Deterministic stand-in vectors for the Gemini embedding models.

The vectors are **pseudo-random, not semantic**: two texts about the same subject are no
closer than two unrelated ones. What they do guarantee is what a sync manager's tests need:

- the same (model, text) always gives the same vector, in any process and after any restart:
  the numbers come from SHAKE-256 of the text, not from NumPy's random generators, whose
  streams NumPy does not promise to keep across versions (only the final log/cos/sin of the
  Box-Muller transform use the platform's maths library, whose last-bit differences almost
  always vanish in the rounding to float32);
- different texts give different vectors (for practical purposes: a collision needs SHAKE-256
  to collide);
- the geometry looks like the real model's: the full-size vector (3072 for
  `gemini-embedding-001`) has unit length, and a smaller `outputDimensionality` is the *first N
  components* of that vector, not renormalised (Matryoshka truncation). So a 768-d vector has a
  length of about 0.5 and callers must normalise it themselves, exactly as with Google's API.

`taskType` and `title` do not change the vector (the real model's vectors do depend on the task
type). Keeping them out means a test can compute the expected vector of a text with one call to
`embed_text` whatever task type the code under test chose.

Inputs longer than the model's 2,048-token window are cut silently, as Google does by default
(`autoTruncate`). Tokens are estimated as 4 characters each, so a text is embedded from its first
8,192 characters; two texts that only differ after that point get the same vector.

Values are float32, which keeps a 3072-d vector at about 33 KB of JSON, close to the ~35 KB that
Google's answers weigh.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

# Bump when the derivation below changes, so old and new vectors can never be mistaken for each
# other (they would silently disagree with vectors already stored in a vector database).
ALGORITHM_VERSION = b"gemini-emulator-embedding/1"

CHARS_PER_TOKEN = 4
"""Rough characters-per-token ratio used for truncation, quota and statistics."""


@dataclass(frozen=True)
class ModelSpec:
    """What the emulator knows about one embedding model."""

    name: str
    dimension: int
    """Full (and default) output size; the vector has unit length at this size."""
    min_dimension: int
    input_token_limit: int
    display_name: str
    version: str

    @property
    def input_char_limit(self) -> int:
        return self.input_token_limit * CHARS_PER_TOKEN


DEFAULT_MODEL = "gemini-embedding-001"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # Google documents 128-3072 output dimensions and a 2,048-token input for this model.
        ModelSpec("gemini-embedding-001", 3072, 128, 2048, "Gemini Embedding 001", "001"),
        # The experimental predecessor; Google has since retired it, kept for old configurations.
        ModelSpec(
            "gemini-embedding-exp-03-07",
            3072,
            128,
            8192,
            "Gemini Embedding Experimental",
            "exp-03-07",
        ),
        # The older 768-d model. Google has retired it on the Gemini API too (it answers 404 there
        # now); it is served here only so that code migrating away from it can be exercised.
        ModelSpec("text-embedding-004", 768, 1, 2048, "Text Embedding 004", "004"),
    )
}


def estimate_tokens(text: str) -> int:
    """Approximate token count of `text` (4 characters per token, rounded up)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def truncate(text: str, model: str = DEFAULT_MODEL) -> str:
    """`text` cut to the model's input window, as Google's default `autoTruncate` does."""
    return text[: MODELS[model].input_char_limit]


def _gaussian_block(model: str, texts: Sequence[str], size: int) -> np.ndarray:
    """A (len(texts), size) float64 block of standard normals derived from SHAKE-256.

    Box-Muller over uniforms taken from the hash output: cheap, vectorised, and defined only by
    the bytes of the hash, so it can never drift with a library upgrade.
    """
    half = (size + 1) // 2
    raw = bytearray()
    for text in texts:
        seed = ALGORITHM_VERSION + b"\0" + model.encode() + b"\0" + text.encode("utf-8")
        raw += hashlib.shake_256(seed).digest(half * 2 * 4)
    words = np.frombuffer(bytes(raw), dtype="<u4").reshape(len(texts), 2, half)
    # (k + 0.5) / 2**32 lies strictly inside (0, 1), so log() never sees zero.
    uniform = (words.astype(np.float64) + 0.5) / 4294967296.0
    radius = np.sqrt(-2.0 * np.log(uniform[:, 0, :]))
    angle = (2.0 * np.pi) * uniform[:, 1, :]
    block = np.concatenate((radius * np.cos(angle), radius * np.sin(angle)), axis=1)
    return block[:, :size]


def embed_texts(
    texts: Sequence[str], dimension: int | None = None, model: str = DEFAULT_MODEL
) -> np.ndarray:
    """Vectors of `texts` as a C-contiguous float32 array of shape (len(texts), dimension).

    This is what the emulator serves. `dimension` defaults to the model's full size; a smaller
    one is the leading slice of the full, unit-length vector (not renormalised).
    """
    spec = MODELS[model]
    dim = spec.dimension if dimension is None else dimension
    if not spec.min_dimension <= dim <= spec.dimension:
        raise ValueError(
            f"dimension must be between {spec.min_dimension} and {spec.dimension} for {model}"
        )
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    block = _gaussian_block(model, [truncate(text, model) for text in texts], spec.dimension)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    return np.ascontiguousarray(block[:, :dim], dtype=np.float32)


def embed_text(text: str, dimension: int | None = None, model: str = DEFAULT_MODEL) -> list[float]:
    """The vector the emulator answers for `text`, exactly as `google-genai` hands it back.

    The server sends float32 values in their shortest decimal form; this function returns the
    Python floats that parsing that JSON gives, so tests can compare with `==`, not only
    approximately. `dimension` defaults to the model's full size (3072).
    """
    row = embed_texts([text], dimension, model)[0]
    values: list[float] = orjson.loads(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY))
    return values
