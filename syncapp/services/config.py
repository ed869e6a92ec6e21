"""Services that create and change the configuration: indexes and mirrored namespaces.

The management commands call these directly; the admin's forms enforce the same rules through
the models' validators and `full_clean()`, so a namespace saved from either place is valid.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from syncapp.models import Index, Namespace, ReembedPolicy
from syncapp.services.errors import ServiceError


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        parts = []
        for field, messages in exc.message_dict.items():
            label = "" if field == "__all__" else f"{field}: "
            parts.extend(f"{label}{message}" for message in messages)
        return "; ".join(parts)
    return "; ".join(exc.messages)


def _save(obj: Index | Namespace) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ServiceError(_validation_message(exc)) from exc
    obj.save()


@transaction.atomic
def index_upsert(*, name: str, host: str = "", api_key_env: str = "") -> tuple[Index, bool]:
    """Create the index `name`, or update its host and key variable. Returns (index, created)."""
    index = Index.objects.filter(name=name).first()
    created = index is None
    if index is None:
        index = Index(name=name)
    index.host = host
    index.api_key_env = api_key_env
    _save(index)
    return index, created


def _index_by_name(name: str, role: str) -> Index:
    try:
        return Index.objects.get(name=name)
    except Index.DoesNotExist:
        known = ", ".join(Index.objects.values_list("name", flat=True)) or "none yet"
        raise ServiceError(
            f"{role} index {name!r} is not registered (known: {known}). "
            f"Add it first: python manage.py add_index {name}"
        ) from None


def namespace_get(*, name: str) -> Namespace:
    try:
        return Namespace.objects.select_related("source_index", "target_index").get(name=name)
    except Namespace.DoesNotExist:
        known = ", ".join(Namespace.objects.values_list("name", flat=True)) or "none yet"
        raise ServiceError(f"No mirrored namespace named {name!r} (known: {known}).") from None


@transaction.atomic
def namespace_upsert(
    *,
    name: str,
    source_index: str,
    target_index: str,
    source_namespace: str = "",
    target_namespace: str | None = None,
    **options: Any,
) -> tuple[Namespace, bool]:
    """Create or update a mirrored namespace; the target namespace defaults to the source's.

    `options` are the remaining `Namespace` settings (text_field, clearance_level, batch_size,
    reembed_policy, managed_keys, embedding_model, embedding_dimension, task_type,
    concurrency); unknown names are refused rather than ignored.
    """
    allowed = {
        "text_field",
        "clearance_level",
        "batch_size",
        "reembed_policy",
        "managed_keys",
        "embedding_model",
        "embedding_dimension",
        "task_type",
        "concurrency",
    }
    unknown = set(options) - allowed
    if unknown:
        raise ServiceError(f"Unknown namespace setting(s): {', '.join(sorted(unknown))}")
    policy = options.get("reembed_policy")
    if policy is not None and policy not in ReembedPolicy.values:
        raise ServiceError(
            f"reembed_policy must be one of {', '.join(ReembedPolicy.values)}, not {policy!r}"
        )
    managed = options.get("managed_keys")
    if managed is not None and (
        not isinstance(managed, list) or not all(isinstance(k, str) and k for k in managed)
    ):
        raise ServiceError("managed_keys must be a list of metadata key names")

    namespace = Namespace.objects.filter(name=name).first()
    created = namespace is None
    if namespace is None:
        namespace = Namespace(name=name)
    namespace.source_index = _index_by_name(source_index, "Source")
    namespace.target_index = _index_by_name(target_index, "Target")
    namespace.source_namespace = source_namespace
    namespace.target_namespace = source_namespace if target_namespace is None else target_namespace
    for key, value in options.items():
        if value is not None:
            setattr(namespace, key, value)
    if created and not namespace.managed_keys:
        namespace.managed_keys = ["clearance_level"]
    if namespace.text_field in (namespace.managed_keys or []):
        raise ServiceError(
            f"text_field {namespace.text_field!r} cannot also be a managed key: the target "
            "would keep its own text instead of the source's"
        )
    _save(namespace)
    return namespace, created
