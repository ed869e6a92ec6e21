"""Request bodies, the service's hard limits, and the checks that enforce them.

Request bodies are decoded with msgspec into typed structs. That is both the fastest decoder
available here (a 2 MB upsert of 3072-d vectors is ~120,000 floats) and the strictest: like
Pinecone's JSON-to-protobuf gateway it refuses `true` or `"1.5"` where a float belongs, with a
message that names the path (``Expected `float`, got `str` - at `$.vectors[3].values[7]` ``).

The limits are Pinecone serverless's (FACTS.md, the data-plane spec). Where the real message is
known from the wire it is reproduced; the rest follow the same style and always name the
offending vector ID, so an error in a 1,000-vector batch can be traced to its record.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from emulators.pinecone.errors import invalid

MAX_ID_LENGTH = 512
MAX_VECTORS_PER_UPSERT = 1000
MAX_UPSERT_BODY_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_FETCH_IDS = 1000
MAX_DELETE_IDS = 1000
MAX_TOP_K = 10_000
LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 100
NAMESPACE_LIMIT_MAX = 100
FETCH_BY_METADATA_LIMIT_MAX = 10_000
MAX_DIMENSION = 20_000
MAX_SPARSE_VALUES = 1000
MAX_FILTER_IN_VALUES = 10_000
ZERO_EPSILON = 1e-8
METRICS = ("cosine", "euclidean", "dotproduct")

#: The namespace requests address when they omit one, as the 2025-04+ API names it in listings.
DEFAULT_NAMESPACE_ALIAS = "__default__"


# --- request bodies -------------------------------------------------------------------------
# `rename="camel"` maps `top_k` <-> `topK` etc. Unknown fields are ignored, as the gateway does.


class SparseValuesIn(msgspec.Struct, rename="camel"):
    indices: list[int]
    values: list[float]


class VectorIn(msgspec.Struct, rename="camel"):
    id: str
    values: list[float] = []
    sparse_values: SparseValuesIn | None = None
    metadata: dict[str, Any] | None = None


class UpsertIn(msgspec.Struct, rename="camel"):
    vectors: list[VectorIn]
    namespace: str = ""


class UpdateIn(msgspec.Struct, rename="camel"):
    id: str | None = None
    values: list[float] | None = None
    sparse_values: SparseValuesIn | None = None
    set_metadata: dict[str, Any] | None = None
    namespace: str = ""
    filter: dict[str, Any] | None = None
    dry_run: bool = False


class DeleteIn(msgspec.Struct, rename="camel"):
    ids: list[str] | None = None
    delete_all: bool = False
    namespace: str = ""
    filter: dict[str, Any] | None = None


class QueryIn(msgspec.Struct, rename="camel"):
    top_k: int
    namespace: str = ""
    filter: dict[str, Any] | None = None
    include_values: bool = False
    include_metadata: bool = False
    queries: list[Any] | None = None
    vector: list[float] | None = None
    sparse_vector: SparseValuesIn | None = None
    id: str | None = None
    scan_factor: float | None = None
    max_candidates: int | None = None


class DescribeStatsIn(msgspec.Struct, rename="camel"):
    filter: dict[str, Any] | None = None


class CreateNamespaceIn(msgspec.Struct, rename="camel"):
    name: str
    schema: dict[str, Any] | None = None


class FetchByMetadataIn(msgspec.Struct, rename="camel"):
    namespace: str = ""
    filter: dict[str, Any] | None = None
    limit: int = 100
    pagination_token: str | None = None


def decode_body(body: bytes, kind: type[msgspec.Struct]) -> Any:
    """Decode a JSON request body, answering 400 with msgspec's path-precise message."""
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise invalid(f"Invalid request body: {exc}") from exc


# --- identifiers ----------------------------------------------------------------------------


def echo(value: str, limit: int = 64) -> str:
    """`repr` of an ID, elided in the middle so a 100 KB bogus ID cannot flood a message."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[: limit // 2]!r}...{value[-limit // 2 :]!r} ({len(value)} characters)"


def id_problem(vector_id: str) -> str | None:
    """Why `vector_id` is not a legal record ID (ASCII 0x01-0x7F, 1-512 characters), or None."""
    if not vector_id:
        return "Vector ID must not be empty"
    if len(vector_id) > MAX_ID_LENGTH:
        return (
            f"Vector ID exceeds the maximum length of {MAX_ID_LENGTH} characters "
            f"(got {len(vector_id)}): {echo(vector_id)}"
        )
    if not vector_id.isascii() or "\x00" in vector_id:
        return (
            f"Vector ID must contain only ASCII characters (code points 1-127): {echo(vector_id)}"
        )
    return None


def check_id(vector_id: str) -> None:
    problem = id_problem(vector_id)
    if problem is not None:
        raise invalid(problem)


def canonical_namespace(namespace: str) -> str:
    """Requests may name the default namespace `""` or `"__default__"`; store both as `""`."""
    return "" if namespace == DEFAULT_NAMESPACE_ALIAS else namespace


def display_namespace(namespace: str) -> str:
    """How listings and stats name a namespace: the default one appears as `__default__`."""
    return namespace or DEFAULT_NAMESPACE_ALIAS


def check_namespace_name(namespace: str) -> None:
    if len(namespace) > MAX_ID_LENGTH or not namespace.isascii() or "\x00" in namespace:
        raise invalid(
            f"Namespace must be ASCII without NUL and at most {MAX_ID_LENGTH} characters: "
            f"{echo(namespace)}"
        )


# --- metadata -------------------------------------------------------------------------------


def _as_doubles(value: Any) -> Any:
    """Numbers as floats, as the service's protobuf `Struct` holds them when it renders them."""
    if type(value) is int:
        return float(value)
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    return value


def _render(value: Any) -> str:
    """A rejected value in an error message: compact JSON, cut at 100 characters."""
    text = orjson.dumps(_as_doubles(value), option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= 100 else text[:100] + "..."


def normalize_metadata(metadata: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    """Validate one record's metadata and return it as stored (numbers as 64-bit floats).

    Pinecone keeps metadata in a protobuf `Struct`, whose only number type is a double: that is
    why `2019` comes back as `2019.0`. Null values are stripped on write rather than rejected
    (the SDK documents the server's `NullHandling::Strip`), which also means `setMetadata` can
    never remove a key. An empty result is stored as "no metadata". `where` names the record in
    error messages, e.g. "vector ID 'doc-1'".
    """
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if key.startswith("$"):
            raise invalid(
                f"Metadata key {key!r} is invalid: keys may not start with '$', which is "
                f"reserved for filter operators ({where})"
            )
        kind = type(value)
        if kind is str or kind is bool or kind is float:
            out[key] = value
        elif kind is int:
            try:
                out[key] = float(value)
            except OverflowError:
                raise invalid(
                    f"Metadata value for field {key!r} is out of the range of a 64-bit float "
                    f"({where})"
                ) from None
        elif value is None:
            continue
        elif kind is list and all(type(item) is str for item in value):
            out[key] = value
        else:
            raise invalid(
                "Metadata value must be a string, number, boolean or list of strings, "
                f"got '{_render(value)}' for field '{key}' ({where})"
            )
    return out or None


def encoded_metadata(metadata: dict[str, Any] | None, where: str) -> bytes | None:
    """The record's metadata as JSON, refusing more than 40 KB (the limit counts these bytes)."""
    if metadata is None:
        return None
    encoded = orjson.dumps(metadata)
    if len(encoded) > MAX_METADATA_BYTES:
        raise invalid(
            f"Metadata size is {len(encoded)} bytes, which exceeds the limit of "
            f"{MAX_METADATA_BYTES} bytes per vector ({where})"
        )
    return encoded


# --- sparse values --------------------------------------------------------------------------


def check_sparse(sparse: SparseValuesIn, where: str, metric: str) -> None:
    """Validate sparse values; `where` names the record ("vector ID 'x'", "query")."""
    where = f" ({where})"
    if metric != "dotproduct":
        raise invalid(
            "Sparse values are supported only for indexes using the dotproduct metric, "
            f"this index uses {metric}{where}"
        )
    if len(sparse.indices) != len(sparse.values):
        raise invalid(
            f"Sparse vector indices ({len(sparse.indices)}) and values "
            f"({len(sparse.values)}) must have the same length{where}"
        )
    if len(sparse.indices) > MAX_SPARSE_VALUES:
        raise invalid(
            f"Sparse vector has {len(sparse.indices)} non-zero values, more than the "
            f"maximum of {MAX_SPARSE_VALUES}{where}"
        )
    if len(set(sparse.indices)) != len(sparse.indices):
        raise invalid(f"Sparse vector indices must be unique{where}")
    for index in sparse.indices:
        if not 0 <= index < 2**32:
            raise invalid(f"Sparse vector index {index} is out of range [0, 2^32){where}")
    for value in sparse.values:
        if not math.isfinite(value):
            raise invalid(f"Sparse vector values must be finite{where}")


# --- pagination tokens ----------------------------------------------------------------------


def encode_token(after: str) -> str:
    """An opaque continuation token: where the next page starts (exclusive)."""
    return base64.urlsafe_b64encode(orjson.dumps({"v": 1, "after": after})).decode("ascii")


def decode_token(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = data["after"]
        if data.get("v") != 1 or not isinstance(after, str):
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise invalid(f"Invalid pagination token: {echo(token)}") from None
    return after


def parse_limit(raw: str | None, *, default: int | None, maximum: int, name: str = "limit") -> int:
    if raw is None or raw == "":
        if default is None:
            return maximum
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"Invalid value for {name}: {echo(raw)}, expected an integer") from None
    if not 1 <= value <= maximum:
        raise invalid(f"Invalid value for {name}: {value}, it must be between 1 and {maximum}")
    return value


def record_ref(vector_id: str) -> str:
    """How messages name a record: "vector ID 'doc-1'"."""
    return f"vector ID {echo(vector_id)}"
