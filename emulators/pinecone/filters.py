"""Pinecone's metadata filter language, compiled once into a Python predicate.

Grammar (https://docs.pinecone.io/guides/index-data/indexing-overview#metadata):

* ``{"genre": "drama"}`` is ``{"genre": {"$eq": "drama"}}``; several keys in one object, or
  several operators on one field, are ANDed.
* ``$eq $ne`` take a string, number or boolean; ``$in $nin`` a list of those (at most 10,000);
  ``$gt $gte $lt $lte`` a number; ``$exists`` a boolean; ``$and $or`` a non-empty list of
  filter objects.

Semantics reproduced from the service:

* A list-valued field (list of strings) matches ``$eq``/``$in`` when ANY element matches, and
  ``$ne``/``$nin`` only when NO element does.
* Numbers are compared as 64-bit floats (``2019`` equals ``2019.0``); booleans are their own
  type, so ``True`` never equals ``1``; range operators only ever match numbers.
* A record without the field fails every operator except ``$ne``, ``$nin`` and
  ``$exists: false`` (Pinecone evaluates those as the complement of the positive match).

A malformed filter raises `FilterError`, which the server answers with 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from emulators.pinecone.validation import MAX_FILTER_IN_VALUES

Metadata = Mapping[str, Any] | None
Predicate = Callable[[Metadata], bool]

_EMPTY: Mapping[str, Any] = {}


class FilterError(ValueError):
    """The filter does not follow the grammar; the message says where and why."""


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _is_scalar(value: Any) -> bool:
    return type(value) is str or type(value) is bool or _is_number(value)


class _ValueSet:
    """Operand(s) of `$eq`/`$in`, split by type so membership is one hash lookup."""

    __slots__ = ("bools", "numbers", "strings")

    def __init__(self, values: list[Any]) -> None:
        self.strings: set[str] = {v for v in values if type(v) is str}
        self.numbers: set[float] = {float(v) for v in values if _is_number(v)}
        self.bools: set[bool] = {v for v in values if type(v) is bool}

    def contains(self, stored: Any) -> bool:
        kind = type(stored)
        if kind is str:
            return stored in self.strings
        if kind is float or kind is int:
            return float(stored) in self.numbers
        if kind is bool:
            return stored in self.bools
        if kind is list:
            strings = self.strings
            return any(item in strings for item in stored)
        return False


def _membership(field: str, values: _ValueSet, negate: bool) -> Predicate:
    if negate:

        def absent_or_differs(md: Metadata) -> bool:
            stored = (md or _EMPTY).get(field)
            return stored is None or not values.contains(stored)

        return absent_or_differs

    def present_and_equal(md: Metadata) -> bool:
        stored = (md or _EMPTY).get(field)
        return stored is not None and values.contains(stored)

    return present_and_equal


def _range(field: str, op: str, bound: float) -> Predicate:
    def check(md: Metadata) -> bool:
        stored = (md or _EMPTY).get(field)
        kind = type(stored)
        if kind is not float and kind is not int:
            return False
        if op == "$gt":
            return stored > bound
        if op == "$gte":
            return stored >= bound
        if op == "$lt":
            return stored < bound
        return stored <= bound

    return check


def _exists(field: str, wanted: bool) -> Predicate:
    def check(md: Metadata) -> bool:
        return ((md or _EMPTY).get(field) is not None) is wanted

    return check


def _all(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda md: all(p(md) for p in predicates)


def _any(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda md: any(p(md) for p in predicates)


def _match_all(md: Metadata) -> bool:
    return True


def _compile_operator(field: str, op: str, operand: Any, where: str) -> Predicate:
    if op in ("$eq", "$ne"):
        if not _is_scalar(operand):
            raise FilterError(
                f"{where}: {op} requires a string, number or boolean, got {type(operand).__name__}"
            )
        return _membership(field, _ValueSet([operand]), negate=op == "$ne")
    if op in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise FilterError(f"{where}: {op} requires an array, got {type(operand).__name__}")
        if len(operand) > MAX_FILTER_IN_VALUES:
            raise FilterError(
                f"{where}: {op} accepts at most {MAX_FILTER_IN_VALUES} values, got {len(operand)}"
            )
        for item in operand:
            if not _is_scalar(item):
                raise FilterError(
                    f"{where}: {op} values must be strings, numbers or booleans, "
                    f"got {type(item).__name__}"
                )
        return _membership(field, _ValueSet(operand), negate=op == "$nin")
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not _is_number(operand):
            raise FilterError(f"{where}: {op} requires a number, got {type(operand).__name__}")
        return _range(field, op, float(operand))
    if op == "$exists":
        if type(operand) is not bool:
            raise FilterError(f"{where}: $exists requires a boolean, got {type(operand).__name__}")
        return _exists(field, operand)
    raise FilterError(
        f"{where}: unknown operator {op!r}; supported: $eq, $ne, $in, $nin, $gt, $gte, $lt, "
        "$lte, $exists (and $and, $or at the top of a filter object)"
    )


def _compile_field(field: str, condition: Any, where: str) -> Predicate:
    if isinstance(condition, dict):
        if not condition:
            raise FilterError(f"{where}: the condition for field {field!r} has no operator")
        predicates = []
        for op, operand in condition.items():
            if not op.startswith("$"):
                raise FilterError(
                    f"{where}: expected an operator such as $eq for field {field!r}, got {op!r} "
                    "(metadata values cannot be nested objects)"
                )
            predicates.append(_compile_operator(field, op, operand, f"{where}.{op}"))
        return _all(predicates)
    if _is_scalar(condition):
        return _compile_operator(field, "$eq", condition, where)
    raise FilterError(
        f"{where}: the value for field {field!r} must be a string, number, boolean or an "
        f"operator object, got {type(condition).__name__}"
    )


def _compile_object(obj: Mapping[str, Any], where: str) -> Predicate:
    predicates: list[Predicate] = []
    for key, condition in obj.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise FilterError(f"{where}.{key}: requires a non-empty array of filter objects")
            parts = []
            for position, part in enumerate(condition):
                if not isinstance(part, dict):
                    raise FilterError(
                        f"{where}.{key}[{position}]: expected a filter object, "
                        f"got {type(part).__name__}"
                    )
                parts.append(_compile_object(part, f"{where}.{key}[{position}]"))
            predicates.append(_all(parts) if key == "$and" else _any(parts))
        elif key.startswith("$"):
            raise FilterError(
                f"{where}: unknown top-level operator {key!r}; only $and and $or combine filters"
            )
        else:
            predicates.append(_compile_field(key, condition, f"{where}.{key}"))
    if not predicates:
        return _match_all
    return _all(predicates)


def compile_filter(flt: Any) -> Predicate | None:
    """Compile a filter; `None` (and the empty filter `{}`) mean "no filter"."""
    if flt is None:
        return None
    if not isinstance(flt, dict):
        raise FilterError(f"filter must be a JSON object, got {type(flt).__name__}")
    if not flt:
        return None
    return _compile_object(flt, "filter")
