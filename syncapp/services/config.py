"""Services that create and change the configuration: indexes and mirrored namespaces.

The management commands call these directly; the admin's forms enforce the same rules through
the models' validators, `full_clean()` and `namespace_rule_errors` (the rules that span
fields), so a namespace saved from either place is valid. Both keep its django-q2 schedule in
step (`namespace_schedule_sync`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from syncapp.models import Index, Namespace, ReembedPolicy
from syncapp.services.errors import ServiceError
from syncapp.services.schedules import namespace_schedule_sync, schedule_errors


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        parts = []
        for field, messages in exc.message_dict.items():
            label = "" if field == "__all__" else f"{field}: "
            parts.extend(f"{label}{message}" for message in messages)
        return "; ".join(parts)
    return "; ".join(exc.messages)


def managed_keys_error(managed: Any) -> str | None:
    if not isinstance(managed, list) or not all(isinstance(k, str) and k for k in managed):
        return "managed_keys must be a list of metadata key names"
    return None


def text_field_error(text_field: str, managed: Any) -> str | None:
    if isinstance(managed, list) and text_field in managed:
        return (
            f"text_field {text_field!r} cannot also be a managed key: the target "
            "would keep its own text instead of the source's"
        )
    return None


def namespace_rule_errors(namespace: Namespace) -> dict[str, str]:
    """Rules a namespace must follow beyond its fields' own validators, keyed by field.

    Shared by `namespace_upsert` (commands) and the admin's namespace form.
    """
    errors: dict[str, str] = {}
    managed_error = managed_keys_error(namespace.managed_keys)
    if managed_error:
        errors["managed_keys"] = managed_error
    text_error = text_field_error(namespace.text_field, namespace.managed_keys)
    if text_error:
        errors["text_field"] = text_error
    if namespace.reembed_policy not in ReembedPolicy.values:
        errors["reembed_policy"] = (
            f"reembed_policy must be one of {', '.join(ReembedPolicy.values)}, "
            f"not {namespace.reembed_policy!r}"
        )
    errors.update(
        schedule_errors(
            mode=namespace.schedule_mode,
            minutes=namespace.schedule_minutes,
            cron=namespace.schedule_cron,
        )
    )
    return errors


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
        "schedule_mode",
        "schedule_minutes",
        "schedule_cron",
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
    if managed is not None and (error := managed_keys_error(managed)):
        raise ServiceError(error)

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
    errors = namespace_rule_errors(namespace)
    if errors:
        raise ServiceError("; ".join(errors.values()))
    _save(namespace)
    namespace_schedule_sync(namespace=namespace)
    return namespace, created
