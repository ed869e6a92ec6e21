"""What the product stores: indexes, mirrored namespaces, runs, the per-record diffs of each
run, and a ledger of what was last written to each target record.

Behaviour that changes these rows lives in `syncapp.services`; the admin, the management commands
and the django-q2 tasks all call it. API keys are never stored: an `Index` names the environment
variable that holds its key.
"""

from __future__ import annotations

import os
from typing import Any

from croniter import croniter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

# Pinecone index names: lowercase letters, digits and hyphens, at most 45 characters.
index_name_validator = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$",
    "Pinecone index names use lowercase letters, digits and hyphens (at most 45 characters).",
)
env_var_validator = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]*$", "Enter the name of an environment variable, e.g. PINECONE_API_KEY."
)
# Namespaces are ASCII like record IDs; "" is Pinecone's default namespace.
namespace_validator = RegexValidator(
    r"^[\x20-\x7E]*$", "Namespace names are printable ASCII (empty means the default namespace)."
)

DEFAULT_TARGET_KEY_ENV = "PINECONE_API_KEY"
DEFAULT_SOURCE_KEY_ENV = "PINECONE_SOURCE_API_KEY"


class Index(models.Model):
    """A Pinecone index, by name. Its host is resolved through the control plane unless given."""

    name = models.CharField(max_length=45, unique=True, validators=[index_name_validator])
    host = models.URLField(
        blank=True,
        help_text="Data-plane URL, e.g. https://askdona-abc123.svc.pinecone.io. "
        "Leave empty to look it up through the control plane.",
    )
    api_key_env = models.CharField(
        "API key variable",
        max_length=100,
        blank=True,
        validators=[env_var_validator],
        help_text="Name of the environment variable holding this index's API key (never the key "
        f"itself). Empty: {DEFAULT_SOURCE_KEY_ENV} when read as a source (falling back to "
        f"{DEFAULT_TARGET_KEY_ENV}), {DEFAULT_TARGET_KEY_ENV} when written as a target.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "indexes"

    def __str__(self) -> str:
        return self.name

    def key_env_candidates(self, *, as_source: bool) -> list[str]:
        """Environment variables tried for this index's key, in order."""
        if self.api_key_env:
            return [self.api_key_env]
        if as_source:
            return [DEFAULT_SOURCE_KEY_ENV, DEFAULT_TARGET_KEY_ENV]
        return [DEFAULT_TARGET_KEY_ENV]

    def key_env_in_use(self, *, as_source: bool) -> str | None:
        """The variable that would supply the key now, or None if none of them is set."""
        for name in self.key_env_candidates(as_source=as_source):
            if os.environ.get(name):
                return name
        return None


def validate_cron(value: str) -> None:
    """A cron expression django-q2's scheduler (croniter) accepts: 5 fields, or 6 with seconds."""
    if not croniter.is_valid(value):
        raise ValidationError(
            "%(value)s is not a valid cron expression (e.g. */30 * * * * for every 30 minutes).",
            params={"value": value},
        )


class ScheduleMode(models.TextChoices):
    OFF = "off", "Off"
    INTERVAL = "interval", "Every N minutes"
    CRON = "cron", "Cron expression"


class ReembedPolicy(models.TextChoices):
    TEXT_CHANGED = "text_changed", "Re-embed only when the text changed"
    ALWAYS = "always", "Re-embed every changed record"


class Namespace(models.Model):
    """A mirrored namespace: which source namespace is copied into which target namespace, how."""

    name = models.SlugField(
        max_length=100, unique=True, help_text="A short label for this mirror, used by commands."
    )
    source_index = models.ForeignKey(
        Index, on_delete=models.PROTECT, related_name="mirrored_from", help_text="Read only."
    )
    source_namespace = models.CharField(
        max_length=512, blank=True, validators=[namespace_validator]
    )
    target_index = models.ForeignKey(Index, on_delete=models.PROTECT, related_name="mirrored_to")
    target_namespace = models.CharField(
        max_length=512, blank=True, validators=[namespace_validator]
    )
    text_field = models.CharField(
        max_length=100, default="text", help_text="Metadata key holding the text to embed."
    )
    managed_keys = models.JSONField(
        default=list,
        blank=True,
        help_text="Metadata keys the target manages itself: ignored when comparing, kept on "
        'update. Default ["clearance_level"].',
    )
    # No default on purpose: it is an access-control label, and a guessed one (say "public")
    # could expose records. Every namespace states it.
    clearance_level = models.CharField(
        max_length=200, help_text="clearance_level given to new records (an access label)."
    )
    embedding_model = models.CharField(max_length=100, default="gemini-embedding-001")
    embedding_dimension = models.PositiveIntegerField(
        default=3072, validators=[MinValueValidator(128), MaxValueValidator(3072)]
    )
    task_type = models.CharField(max_length=40, default="RETRIEVAL_DOCUMENT")
    batch_size = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    reembed_policy = models.CharField(
        max_length=20, choices=ReembedPolicy.choices, default=ReembedPolicy.TEXT_CHANGED
    )
    concurrency = models.PositiveIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(32)],
        help_text="Batches read, embedded and written at the same time.",
    )
    # Continuous sync: django-q2 starts a mirror on this schedule. Kept in step with a
    # django_q Schedule row by `syncapp.services.schedules.namespace_schedule_sync`.
    schedule_mode = models.CharField(
        "continuous sync",
        max_length=10,
        choices=ScheduleMode.choices,
        default=ScheduleMode.OFF,
        help_text="Start a mirror automatically. A start is skipped (and recorded as skipped) "
        "while another mirror of this namespace is queued or running.",
    )
    schedule_minutes = models.PositiveIntegerField(
        "every N minutes",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(10080)],
        help_text="1 to 10080 (a week). For longer or calendar-based periods use cron.",
    )
    schedule_cron = models.CharField(
        "cron expression",
        max_length=100,
        blank=True,
        validators=[validate_cron],
        help_text="minute hour day-of-month month day-of-week, e.g. 15 2 * * * for 02:15 daily "
        "(in the TIME_ZONE setting's time zone).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(
                    source_index=F("target_index"), source_namespace=F("target_namespace")
                ),
                name="namespace_source_differs_from_target",
                violation_error_message="Source and target are the same index and namespace.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.managed_keys and self._state.adding:
            self.managed_keys = ["clearance_level"]
        super().save(*args, **kwargs)


class RunKind(models.TextChoices):
    ANALYZE = "analyze", "Analyze"
    MIRROR = "mirror", "Mirror"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # A scheduled mirror that did not start because another mirror of the namespace was
    # queued or running; `blocked_by` names it. Created directly in this final state.
    SKIPPED = "skipped", "Skipped"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_STATUSES = (
    RunStatus.SUCCEEDED,
    RunStatus.COMPLETED_WITH_ERRORS,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.SKIPPED,
)
# Runs that went through to the end: their statistics describe the whole namespace.
COMPLETED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.COMPLETED_WITH_ERRORS)


class RunTrigger(models.TextChoices):
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Management command"
    SCHEDULE = "schedule", "Schedule"


# Counters a run reports; the first eleven are the seed plan's MirroringStats, by its names.
STAT_FIELDS = (
    "total_source_vectors",
    "total_target_vectors",
    "missing_in_target",
    "matching_ids",
    "metadata_matches",
    "metadata_differs",
    "successfully_migrated",
    "successfully_updated",
    "failed_migration",
    "failed_update",
    "skipped_no_text",
    "orphaned_in_target",
    "embeddings_requested",
    "embedding_calls",
    "vectors_reused",
    "records_written",
    "source_read_requests",
    "target_read_requests",
    "target_write_requests",
    "already_migrated",
    "vanished",
    "would_migrate",
    "would_update",
)


def _stat_field() -> models.PositiveBigIntegerField:
    return models.PositiveBigIntegerField(default=0)


class SyncRun(models.Model):
    """One analysis or mirror of a namespace: its lifecycle, progress, statistics and log."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=10, choices=RunKind.choices)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=24, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # What the run was started with (batch size, policy, ...), kept for the audit trail.
    options = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # How many times a worker claimed the run: 1 normally, more after a resume (cancelling a
    # stale run bumps it too). A worker writes only while the row still carries its own number
    # (a fencing token), so a worker thought dead that wakes up after a resume or a cancel
    # cannot overwrite what happened since.
    attempt = models.PositiveIntegerField(default=0)
    # Skipped scheduled mirrors: the mirror that was queued or running at the time.
    blocked_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    phase = models.CharField(max_length=60, blank=True)
    phase_started_at = models.DateTimeField(null=True, blank=True)  # for rate and ETA
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)

    total_source_vectors = _stat_field()
    total_target_vectors = _stat_field()
    missing_in_target = _stat_field()
    matching_ids = _stat_field()
    metadata_matches = _stat_field()
    metadata_differs = _stat_field()
    successfully_migrated = _stat_field()
    successfully_updated = _stat_field()
    failed_migration = _stat_field()
    failed_update = _stat_field()
    skipped_no_text = _stat_field()
    orphaned_in_target = _stat_field()
    embeddings_requested = _stat_field()
    embedding_calls = _stat_field()
    vectors_reused = _stat_field()
    records_written = _stat_field()
    source_read_requests = _stat_field()
    target_read_requests = _stat_field()
    target_write_requests = _stat_field()
    # Written by an earlier run or phase but not yet visible in the target's listing.
    already_migrated = _stat_field()
    # Listed, then gone when fetched (deleted meanwhile).
    vanished = _stat_field()
    # Analyses and dry runs: what a real mirror would write now.
    would_migrate = _stat_field()
    would_update = _stat_field()

    orphan_sample = models.JSONField(default=list, blank=True)
    verification = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("start_sync", "Can start and cancel analyses and mirrors")]
        constraints = [
            # At most one real mirror per namespace is queued or running: enforced by the
            # database so two concurrent requests cannot both start one. Dry runs write
            # nothing and may run beside it.
            models.UniqueConstraint(
                fields=["namespace"],
                condition=Q(kind="mirror", dry_run=False, status__in=["queued", "running"]),
                name="one_active_mirror_per_namespace",
                violation_error_message="A mirror of this namespace is already queued or running.",
            ),
        ]

    def __str__(self) -> str:
        label = "dry run" if self.dry_run and self.kind == RunKind.MIRROR else self.kind
        return f"#{self.pk} {label} of {self.namespace}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def stats_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in STAT_FIELDS}


class DiffKind(models.TextChoices):
    MISSING = "missing", "Missing in target"
    CHANGED = "changed", "Metadata differs"
    SKIPPED_NO_TEXT = "skipped_no_text", "Skipped: no text"
    FAILED = "failed", "Failed"


class DiffAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated (re-embedded)"
    METADATA_ONLY = "metadata_only", "Updated (metadata only)"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    NONE = "none", "None (analysis or dry run)"


class RecordDiff(models.Model):
    """A record a run found missing, changed, skipped or failed. Orphans get no row."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="diffs")
    record_id = models.CharField(max_length=512)
    kind = models.CharField(max_length=20, choices=DiffKind.choices)
    action = models.CharField(max_length=20, choices=DiffAction.choices)
    changed_keys = models.JSONField(default=list, blank=True)
    # {key: {"source": {"value", "length", "truncated"}, "target": {...}}}; long values are
    # truncated for display, their full length kept.
    values = models.JSONField(default=dict, blank=True)
    text_changed = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "kind"]),
            models.Index(fields=["run", "action"]),
            models.Index(fields=["run", "record_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} ({self.kind}, {self.action})"


class SyncedRecord(models.Model):
    """Ledger: what this product last wrote to each target record, and from what source state.

    Used by the engine to avoid rewriting a record whose write a lagging target listing does not
    show yet, and to reuse an embedding of the same text instead of paying for it twice.
    """

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="ledger")
    record_id = models.CharField(max_length=512)
    metadata_hash = models.CharField(max_length=64)
    text_hash = models.CharField(max_length=64)
    embedding_model = models.CharField(max_length=100)
    embedding_dimension = models.PositiveIntegerField()
    written_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "record_id"], name="one_ledger_row_per_record"
            ),
        ]
        indexes = [models.Index(fields=["namespace", "text_hash"])]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.record_id}"
