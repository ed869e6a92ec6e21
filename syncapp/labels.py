"""How a run's statistics are named and which of them mean something for a kind of run.

Shared by the management commands' table (`syncapp.management.runcommand`) and the admin's run
page, so the two always list the same rows, in the seed plan's order, under the same names.
"""

from __future__ import annotations

from syncapp.models import RunKind

# Rows of the statistics table: the seed plan's MirroringStats first, in its order.
STAT_LABELS = {
    "total_source_vectors": "Source records",
    "total_target_vectors": "Target records (before the run)",
    "missing_in_target": "Missing in target",
    "matching_ids": "Matching IDs",
    "metadata_matches": "Metadata matches",
    "metadata_differs": "Metadata differs",
    "would_migrate": "Would migrate (analysis / dry run)",
    "would_update": "Would update (analysis / dry run)",
    "successfully_migrated": "Migrated",
    "successfully_updated": "Updated",
    "failed_migration": "Failed (migration)",
    "failed_update": "Failed (update)",
    "skipped_no_text": "Skipped: no text",
    "orphaned_in_target": "Orphans in target (untouched)",
    "embeddings_requested": "Texts embedded",
    "embedding_calls": "Embedding calls",
    "vectors_reused": "Vectors reused (metadata-only updates)",
    "records_written": "Records written",
    "already_migrated": "Already written (listing lag)",
    "vanished": "Vanished while running",
    "source_read_requests": "Source read requests",
    "target_read_requests": "Target read requests",
    "target_write_requests": "Target write requests",
}
# Rows that stay 0 unless the run writes: left out of the table for analyses and dry runs.
WRITE_ONLY_ROWS = frozenset(
    {
        "successfully_migrated",
        "successfully_updated",
        "embeddings_requested",
        "embedding_calls",
        "vectors_reused",
        "records_written",
        "target_write_requests",
        "already_migrated",
    }
)
# Rows that only analyses and dry runs fill in.
PREVIEW_ONLY_ROWS = frozenset({"would_migrate", "would_update"})


def stat_names_for(*, kind: str, dry_run: bool) -> list[str]:
    """The statistics that mean something for this kind of run, in table order."""
    left_out = WRITE_ONLY_ROWS if kind == RunKind.ANALYZE or dry_run else PREVIEW_ONLY_ROWS
    return [name for name in STAT_LABELS if name not in left_out]
