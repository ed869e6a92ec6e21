"""Metadata comparison, canonical hashing and text extraction.

``compare_metadata`` implements the original plan's rule (managed keys ignored on both sides,
key sets must match, then every value must be equal) with the equality Pinecone actually
offers: numbers are stored as 64-bit floats, so ``2019`` written becomes ``2019.0`` read back
and must not count as a change, while ``True`` is a boolean, not the number 1 (Python's
``True == 1`` would hide a real type change).

``canonical_metadata_hash`` agrees with ``compare_metadata``: two metadata dicts that compare
equal hash alike, which is what lets the ledger stand in for a fetch.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any

from .stats import DisplayValue, display_value

__all__ = [
    "canonical_metadata_hash",
    "compare_metadata",
    "diff_values",
    "extract_text",
    "text_hash",
    "values_equal",
]


def _is_number(value: Any) -> bool:
    # bool is a subclass of int in Python; in metadata it is its own type.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_float64(value: Any) -> float | None:
    """The float64 Pinecone would store, or None for an int too large to represent."""
    try:
        return float(value)
    except OverflowError:
        return None


def values_equal(a: Any, b: Any) -> bool:
    """Equality of two metadata values under Pinecone's storage semantics.

    * numbers (not bools) are equal when they are the same float64: Pinecone stores every number
      as a float64, so an int it cannot represent exactly would otherwise differ forever;
      NaN equals NaN for the same reason (a value must always equal itself after a round trip);
    * bools equal only bools; strings only strings, exactly (no normalisation: a trailing space
      is a change of text);
    * lists (and tuples) are equal elementwise, in order, with this same rule;
    * mappings (not valid Pinecone metadata, handled for robustness) compare key by key.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        fa, fb = _as_float64(a), _as_float64(b)
        if fa is None or fb is None:
            return bool(a == b)
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if _is_number(a) or _is_number(b):
        return False
    return bool(a == b)


def compare_metadata(
    source: Mapping[str, Any], target: Mapping[str, Any], ignore_keys: Collection[str]
) -> list[str]:
    """Sorted keys whose presence or value differs; an empty list means "equal".

    ``ignore_keys`` (the managed keys, e.g. ``clearance_level``) are removed from both sides
    first: the source never has them and the target always should.
    """
    source_keys = set(source) - set(ignore_keys)
    target_keys = set(target) - set(ignore_keys)
    changed = source_keys ^ target_keys
    for key in source_keys & target_keys:
        if not values_equal(source[key], target[key]):
            changed.add(key)
    return sorted(changed)


def _canonical(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if _is_number(value):
        f = _as_float64(value)
        if f is None:
            return int(value)
        return 0.0 if f == 0 else f  # -0.0 == 0.0 compares equal, so must hash alike
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    return repr(value)


def canonical_metadata_hash(metadata: Mapping[str, Any], ignore_keys: Collection[str]) -> str:
    """sha256 hex of the canonical JSON of ``metadata`` without ``ignore_keys``.

    Canonical: keys sorted, compact separators, every number as its float64 (``2019`` and
    ``2019.0`` both become ``2019.0``), so the hash changes exactly when ``compare_metadata``
    would report a difference (bar hash collisions).
    """
    data = {k: _canonical(v) for k, v in metadata.items() if k not in ignore_keys}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def text_hash(text: str) -> str:
    """sha256 hex of the exact text sent to the embedder (model is tracked separately)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def extract_text(metadata: Mapping[str, Any], text_field: str) -> str | None:
    """The text to embed, or None when there is nothing worth embedding.

    None when the field is missing, not a string (a number or list cannot be embedded as
    written), empty or whitespace-only (Gemini rejects empty content, and a vector of blank
    text is meaningless for retrieval). The text itself is returned unstripped: it is what the
    record says, and stripping would make two different source texts share one vector.
    """
    value = metadata.get(text_field)
    if not isinstance(value, str) or not value.strip():
        return None
    return value


def diff_values(
    source: Mapping[str, Any],
    target: Mapping[str, Any],
    keys: Collection[str],
    max_chars: int = 500,
) -> dict[str, tuple[DisplayValue | None, DisplayValue | None]]:
    """Display values of ``keys`` on both sides (None where the key is absent)."""
    return {
        key: (
            display_value(source[key], max_chars) if key in source else None,
            display_value(target[key], max_chars) if key in target else None,
        )
        for key in keys
    }
