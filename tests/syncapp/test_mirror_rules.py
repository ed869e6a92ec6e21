"""The mirroring rules, through the service layer, the real SDKs and the emulators: what is
compared, what is written, what is left alone, and what costs an embedding."""

from __future__ import annotations

import pytest

from syncapp.models import RecordDiff, SyncRun
from tests.syncapp.conftest import (
    SOURCE_INDEX,
    TARGET_INDEX,
    MirrorEnv,
    Rec,
    gemini_vector,
    rec,
    same_vector,
    target_rec,
)

pytestmark = pytest.mark.django_db


def diff(run: SyncRun, record_id: str) -> RecordDiff:
    return RecordDiff.objects.get(run=run, record_id=record_id)


# --- clearance_level --------------------------------------------------------------------------


def test_clearance_level_is_ignored_added_and_kept(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source(
        [
            rec("equal", "same text", n=1),
            rec("changed", "new text"),
            rec("new", "brand new"),
            # A source must never have one; if it does, it must not leak into the target.
            rec("leaky", "leaky text", clearance_level="public"),
        ]
    )
    env.seed_target(
        [
            target_rec("equal", "same text", n=1, clearance_level="secret"),
            target_rec("changed", "old text", clearance_level="secret"),
        ]
    )

    run = env.mirror()

    assert run.status == "succeeded"
    # Only the target has a clearance level: not a difference.
    assert (run.metadata_matches, run.metadata_differs) == (1, 1)
    assert diff(run, "changed").changed_keys == ["text"]
    target = env.target_snapshot()
    assert target["equal"].metadata == {"text": "same text", "n": 1.0, "clearance_level": "secret"}
    # Kept on update: the target's own value, not the namespace's.
    assert target["changed"].metadata == {"text": "new text", "clearance_level": "secret"}
    # Added on create: the namespace's value.
    assert target["new"].metadata == {"text": "brand new", "clearance_level": "internal"}
    assert target["leaky"].metadata == {"text": "leaky text", "clearance_level": "internal"}


def test_a_new_clearance_level_on_the_namespace_applies_to_new_records_only(
    mirror_env: MirrorEnv,
) -> None:
    env = mirror_env
    env.seed_source([rec("old", "old record")])
    env.mirror()
    env.configure(clearance_level="restricted")
    env.seed_source([rec("later", "later record")])

    run = env.mirror()

    assert (run.successfully_migrated, run.successfully_updated, run.metadata_matches) == (1, 0, 1)
    target = env.target_snapshot()
    assert target["old"].metadata["clearance_level"] == "internal"
    assert target["later"].metadata["clearance_level"] == "restricted"


# --- dry runs and reruns ----------------------------------------------------------------------


def test_a_dry_run_writes_and_embeds_nothing(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source(
        [
            rec("m1", "missing one"),
            rec("m2", "missing two"),
            rec("m3", "missing three"),
            rec("m4"),  # no text: would be skipped, so not a "would migrate"
            rec("u1", "updated text"),
            rec("u2", "same text", extra="new"),
            rec("eq", "equal"),
        ]
    )
    env.seed_target(
        [
            target_rec("u1", "old text", clearance_level="internal"),
            target_rec("u2", "same text", clearance_level="internal"),
            target_rec("eq", "equal", clearance_level="internal"),
        ]
    )
    before = env.target_snapshot()
    env.reset_counters()

    run = env.dry_run()

    assert (run.status, run.dry_run) == ("succeeded", True)
    assert (run.would_migrate, run.would_update, run.skipped_no_text) == (3, 2, 1)
    assert (run.missing_in_target, run.metadata_differs, run.metadata_matches) == (4, 2, 1)
    assert (run.successfully_migrated, run.successfully_updated, run.records_written) == (0, 0, 0)
    assert (run.embeddings_requested, run.target_write_requests) == (0, 0)
    assert env.writes_received(TARGET_INDEX) == 0
    assert env.texts_embedded() == 0 and env.embed_requests() == 0
    assert env.target_snapshot() == before
    assert env.ledger() == {}
    assert set(RecordDiff.objects.filter(run=run).values_list("action", flat=True)) == {"none"}


def test_a_second_mirror_writes_and_embeds_nothing(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec(f"doc-{i:03d}", f"text {i}", n=i) for i in range(30)])
    env.seed_target([target_rec(f"doc-{i:03d}", f"stale {i}") for i in range(0, 30, 2)])
    first = env.mirror()
    assert (first.status, first.records_written) == ("succeeded", 30)
    writes, texts = env.writes_received(TARGET_INDEX), env.texts_embedded()
    after_first = env.target_snapshot()

    second = env.mirror()

    assert second.status == "succeeded"
    assert (second.matching_ids, second.metadata_matches, second.metadata_differs) == (30, 30, 0)
    assert (second.missing_in_target, second.records_written, second.embedding_calls) == (0, 0, 0)
    assert second.target_write_requests == 0
    assert not RecordDiff.objects.filter(run=second).exists()
    assert env.writes_received(TARGET_INDEX) == writes
    assert env.texts_embedded() == texts
    assert env.target_snapshot() == after_first
    assert second.verification is not None and second.verification["in_sync"] is True


# --- what is skipped and what is never touched -------------------------------------------------


def test_it_skips_records_without_text(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source(
        [
            rec("no-key", title="no text key at all"),
            rec("empty", ""),
            rec("blank", " \n\t "),
            rec("number", text=42),  # not a string: nothing to embed
            rec("good", "has text"),
            # In the target with text, but the source lost it: not overwritten with a vector
            # that no longer describes the record.
            rec("lost", title="text removed"),
        ]
    )
    env.seed_target([target_rec("lost", "old text", title="text removed", clearance_level="x")])
    before = env.target_snapshot()
    env.reset_counters()

    run = env.mirror()

    assert run.status == "succeeded"  # a record without text is not an error
    assert run.skipped_no_text == 5
    assert (run.successfully_migrated, run.records_written, run.failed_migration) == (1, 1, 0)
    assert env.texts_embedded() == 1
    skipped = RecordDiff.objects.filter(run=run, kind="skipped_no_text")
    assert sorted(skipped.values_list("record_id", flat=True)) == [
        "blank",
        "empty",
        "lost",
        "no-key",
        "number",
    ]
    assert set(skipped.values_list("action", flat=True)) == {"skipped"}
    assert all("text" in d.error for d in skipped)
    target = env.target_snapshot()
    assert set(target) == {"good", "lost"}
    assert target["lost"] == before["lost"]
    # Records that cannot be mirrored do not make the namespaces "out of sync".
    assert run.verification is not None
    assert run.verification["in_sync"] is True
    assert run.verification["no_text"] == 5


def test_it_leaves_orphans_untouched(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec("a", "alpha"), rec("c", "charlie")])
    orphans = [
        Rec("b-orphan", tuple(gemini_vector("odd vector")), {"text": "mine", "n": 3.5}),
        target_rec("z-orphan", "zulu", tags=["p", "q"], clearance_level="secret"),
        target_rec("0-orphan", flag=False),
    ]
    env.seed_target(orphans)
    before = env.target_snapshot()
    env.reset_counters()

    run = env.mirror()

    assert run.status == "succeeded"
    assert run.orphaned_in_target == 3
    assert sorted(run.orphan_sample) == ["0-orphan", "b-orphan", "z-orphan"]
    assert not RecordDiff.objects.filter(run=run, record_id__endswith="orphan").exists()
    after = env.target_snapshot()
    for orphan in orphans:
        assert after[orphan.id] == before[orphan.id]  # same values and metadata, exactly
    assert env.index_stats(TARGET_INDEX, "docs")["vectors_written"] == 2


def test_the_source_is_never_written(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source(
        [
            rec("a", "alpha", year=2019),
            rec("b", "bravo", tags=["t"]),
            rec("c", ""),
            rec("d", "delta", clearance_level="public"),
        ]
    )
    env.seed_target([target_rec("b", "old bravo"), target_rec("o", "orphan")])
    before = env.source_snapshot()
    env.reset_counters()

    for run in (env.analyze(), env.dry_run(), env.mirror(), env.mirror()):
        assert run.status == "succeeded", run.error

    assert env.source_snapshot() == before
    # Counted before authentication: any write that reached the source's port would show,
    # even one the read-only key would have had refused.
    assert env.writes_received(SOURCE_INDEX) == 0
    assert env.index_stats(SOURCE_INDEX)["requests"].keys() <= {
        "describe_index_stats",
        "list",
        "fetch",
    }
    assert env.writes_received(TARGET_INDEX) > 0  # the target was written meanwhile


# --- what changed and what it costs -------------------------------------------------------------


def test_a_metadata_only_change_keeps_the_vector_without_calling_gemini(
    mirror_env: MirrorEnv,
) -> None:
    env = mirror_env
    env.seed_source([rec("r", "the text", status="published")])
    # A vector that is not what Gemini would give for the text, so keeping it is visible.
    original = Rec(
        "r",
        tuple(gemini_vector("an older embedding")),
        {"text": "the text", "clearance_level": "x"},
    )
    env.seed_target([Rec(original.id, original.values, {**original.metadata, "status": "draft"})])
    stored = env.target_snapshot()["r"].values  # as Pinecone keeps it (float32)
    env.reset_counters()

    run = env.mirror()

    assert (run.status, run.successfully_updated, run.vectors_reused) == ("succeeded", 1, 1)
    assert (run.embeddings_requested, run.embedding_calls) == (0, 0)
    assert env.embed_requests() == 0
    d = diff(run, "r")
    assert (d.kind, d.action, d.changed_keys, d.text_changed) == (
        "changed",
        "metadata_only",
        ["status"],
        False,
    )
    record = env.target_snapshot()["r"]
    assert record.values == stored
    assert record.metadata == {"text": "the text", "status": "published", "clearance_level": "x"}


def test_a_metadata_only_change_is_re_embedded_under_the_always_policy(
    mirror_env: MirrorEnv,
) -> None:
    env = mirror_env
    env.configure(reembed_policy="always")
    env.seed_source([rec("r", "the text", status="published"), rec("same", "unchanged")])
    env.seed_target(
        [
            Rec(
                "r",
                tuple(gemini_vector("an older embedding")),
                {"text": "the text", "n": 1, "clearance_level": "x"},
            ),
            target_rec("same", "unchanged", clearance_level="internal"),
        ]
    )
    env.reset_counters()

    run = env.mirror()

    assert (run.status, run.successfully_updated, run.metadata_matches) == ("succeeded", 1, 1)
    assert (run.embeddings_requested, run.vectors_reused) == (1, 0)
    assert env.texts_embedded() == 1
    assert diff(run, "r").action == "updated"
    record = env.target_snapshot()["r"]
    assert same_vector(record.values, gemini_vector("the text"))
    assert record.metadata == {"text": "the text", "status": "published", "clearance_level": "x"}


def test_a_key_removed_from_the_source_disappears_from_the_target(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec("r", "text", kept="yes")])
    env.seed_target(
        [target_rec("r", "text", kept="yes", obsolete="drop me", tags=["a"], clearance_level="c")]
    )

    run = env.mirror()

    assert run.status == "succeeded"
    assert diff(run, "r").changed_keys == ["obsolete", "tags"]
    assert env.target_snapshot()["r"].metadata == {
        "text": "text",
        "kept": "yes",
        "clearance_level": "c",
    }


def test_numbers_compare_as_pinecone_stores_them(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    # Ints go in; Pinecone (and the emulator) hand back 64-bit floats: 2019 == 2019.0.
    env.seed_source([rec("int", "t", year=2019, big=2**53, zero=0, neg=-7)])
    env.seed_target([target_rec("int", "t", year=2019.0, big=2.0**53, zero=0.0, neg=-7.0)])
    assert env.source_snapshot()["int"].metadata["year"] == 2019.0

    run = env.analyze()

    assert (run.metadata_matches, run.metadata_differs) == (1, 0)
    assert not RecordDiff.objects.filter(run=run).exists()


def test_a_bool_is_not_the_number_one(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec("b", "t", flag=True, off=False, count=1, labels=["1"])])
    env.seed_target([target_rec("b", "t", flag=1, off=0, count=True, labels=["1"])])

    run = env.mirror()

    assert (run.metadata_differs, run.successfully_updated) == (1, 1)
    d = diff(run, "b")
    assert d.changed_keys == ["count", "flag", "off"]
    assert d.values["flag"] == {
        "source": {"value": True, "length": 4, "truncated": False},
        "target": {"value": 1.0, "length": 3, "truncated": False},
    }
    metadata = env.target_snapshot()["b"].metadata
    assert metadata["flag"] is True and metadata["off"] is False
    assert metadata["count"] == 1.0 and type(metadata["count"]) is float


# --- namespaces and IDs -----------------------------------------------------------------------


def test_it_mirrors_into_a_target_namespace_of_another_name(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.configure(target_namespace="mirrored-docs")
    # IDs whose bytewise order differs from a case-insensitive or "natural" one: the merge-join
    # of the two listings relies on Pinecone's order, which the engine checks on every ID.
    ids = ["a", "B", "_x", "Z9", "z", "a-b", "a_b", "a.b", "~", "0", " sp", "10", "9"]
    env.seed_source([rec(i, f"text of {i}") for i in ids])
    env.seed_target([target_rec("B", "unrelated record in the source's namespace name")])
    docs_before = env.target_snapshot()

    run = env.mirror()

    assert (run.status, run.successfully_migrated, run.total_target_vectors) == (
        "succeeded",
        len(ids),
        0,
    )
    assert env.target_snapshot() == docs_before  # the namespace named like the source's
    env.pinecone_namespace = "mirrored-docs"
    mirrored = env.target_snapshot()
    assert sorted(mirrored) == sorted(ids)
    assert mirrored["Z9"].metadata == {"text": "text of Z9", "clearance_level": "internal"}
    assert env.mirror().metadata_matches == len(ids)


def test_it_mirrors_the_default_namespace(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.configure(source_namespace="", target_namespace="")
    env.pinecone_namespace = ""
    env.seed_source([rec(f"d{i}", f"text {i}") for i in range(5)])

    run = env.mirror()

    assert (run.status, run.successfully_migrated, run.progress_total) == ("succeeded", 5, 5)
    assert sorted(env.target_snapshot()) == [f"d{i}" for i in range(5)]
