from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from syncengine import (
    DiffAction,
    DiffKind,
    EngineError,
    MirrorConfig,
    MirrorEngine,
    PreflightError,
    Record,
    RunOutcome,
    SourceReader,
    TargetStore,
)

from .fakes import (
    Crash,
    FakeEmbedder,
    Faults,
    InMemoryLedger,
    ReadOnlySource,
    RecordingSink,
    fake_vector,
    rec,
)
from .harness import CLEARANCE, assert_mirrored, make


def many(n: int, prefix: str = "r", text: str = "text {i}", **metadata: Any) -> list[Record]:
    return [rec(f"{prefix}{i:05d}", text.format(i=i), **metadata) for i in range(n)]


# --- what is written ------------------------------------------------------------------------


def test_it_adds_clearance_level_on_create_and_keeps_it_on_update() -> None:
    h = make(
        [rec("new", "n"), rec("kept", "k", v=2), rec("unset", "u", v=2)],
        [rec("kept", "k", v=1, clearance_level="top"), rec("unset", "u", v=1)],
    )
    h.engine().mirror()
    assert h.target["new"].metadata["clearance_level"] == CLEARANCE
    assert h.target["kept"].metadata["clearance_level"] == "top"
    # A target record without one gets the configured value when it is rewritten.
    assert h.target["unset"].metadata["clearance_level"] == CLEARANCE


def test_a_different_clearance_level_alone_is_not_a_change() -> None:
    h = make([rec("a", "t")], [rec("a", "t", clearance_level="anything")])
    result = h.engine().mirror()
    assert result.stats.metadata_matches == 1 and result.stats.records_written == 0


def test_a_key_removed_in_the_source_disappears_from_the_target() -> None:
    h = make([rec("a", "t")], [rec("a", "t", author="bob", clearance_level="x")])
    h.engine().mirror()
    assert dict(h.target["a"].metadata) == {"text": "t", "clearance_level": "x"}


def test_int_and_float_are_equal_but_bool_and_number_are_not() -> None:
    h = make(
        [rec("n", "t", year=2019), rec("b", "t2", flag=True)],
        [rec("n", "t", year=2019.0), rec("b", "t2", flag=1)],
        source_float64=False,
    )
    result = h.engine().analyze()
    assert result.stats.metadata_matches == 1 and result.stats.metadata_differs == 1
    assert [d.record_id for d in h.sink.diff_rows] == ["b"]
    assert h.sink.diff_rows[0].changed_keys == ["flag"]


def test_lists_are_compared_elementwise() -> None:
    h = make(
        [rec("same", "t", tags=["a", "b"]), rec("order", "t2", tags=["a", "b"])],
        [rec("same", "t", tags=["a", "b"]), rec("order", "t2", tags=["b", "a"])],
    )
    h.engine().mirror()
    assert list(h.target["order"].metadata["tags"]) == ["a", "b"]
    assert h.target.upserted_ids == {"order": 1}


# --- embedding policy -----------------------------------------------------------------------


def test_a_metadata_only_change_costs_no_embedding_under_text_changed() -> None:
    h = make([rec("a", "same text", v=2)], [rec("a", "same text", v=1)])
    result = h.engine().mirror()
    assert h.embedder.calls == 0
    assert result.stats.vectors_reused == 1 and result.stats.successfully_updated == 1
    assert h.sink.diff_rows[0].action is DiffAction.METADATA_ONLY
    assert h.target["a"].metadata["v"] == 2


def test_a_metadata_only_change_is_re_embedded_once_under_always() -> None:
    h = make([rec("a", "same text", v=2)], [rec("a", "same text", v=1)])
    h.ledger.record([])  # nothing known: reuse from earlier runs is off anyway under "always"
    result = h.engine(reembed_policy="always").mirror()
    assert h.embedder.calls == 1 and result.stats.embeddings_requested == 1
    assert result.stats.vectors_reused == 0
    assert h.sink.diff_rows[0].action is DiffAction.UPDATED


def test_always_does_not_reuse_vectors_from_earlier_runs() -> None:
    h = make([rec("a", "t", v=1)])
    h.engine().mirror()
    h.source_index._put(rec("a", "t", v=2))
    h.engine(reembed_policy="always").mirror()
    assert h.embedder.embedded["t"] == 2


def test_a_target_vector_of_the_wrong_dimension_is_not_reused() -> None:
    h = make([rec("a", "t", v=2)], [rec("a", "t", v=1, dimension=4)])
    h.target.dimension = None
    result = h.engine().mirror()
    assert h.embedder.calls == 1 and result.stats.vectors_reused == 0
    assert h.target["a"].values == fake_vector("t", 8)


def test_a_target_vector_of_another_model_is_not_reused() -> None:
    h = make([rec("a", "t", v=1)])
    h.engine(embedder=FakeEmbedder(8, model="old-model")).mirror()
    h.source_index._put(rec("a", "t", v=2))
    h.engine().mirror()  # the harness's embedder: fake-embedding-001
    assert h.embedder.calls == 1
    assert h.ledger.entries["a"].model == "fake-embedding-001"


# --- records without text -------------------------------------------------------------------


def test_it_skips_records_without_text() -> None:
    h = make(
        [
            rec("blank", "   "),
            rec("none", None, title="x"),
            Record("num", [0.1] * 8, {"text": 5}),
            rec("ok", "t"),
        ],
    )
    result = h.engine().mirror()
    s = result.stats
    assert s.skipped_no_text == 3 and s.successfully_migrated == 1
    assert h.target.ids() == ["ok"]
    skipped = [d for d in h.sink.diff_rows if d.kind is DiffKind.SKIPPED_NO_TEXT]
    assert sorted(d.record_id for d in skipped) == ["blank", "none", "num"]
    assert all(d.action is DiffAction.SKIPPED for d in skipped)
    assert result.outcome is RunOutcome.SUCCEEDED
    check = h.engine().verify()
    assert check.in_sync and check.no_text == 3 and check.no_text_sample == ["blank", "none", "num"]


def test_an_update_whose_source_text_is_gone_is_skipped_not_written_with_a_stale_vector() -> None:
    h = make([rec("a", None, v=2)], [rec("a", "old text", v=1, clearance_level="x")])
    result = h.engine().mirror()
    assert result.stats.metadata_differs == 1 and result.stats.skipped_no_text == 1
    assert result.stats.records_written == 0
    assert h.target["a"].metadata["text"] == "old text"
    diff = h.sink.diff_rows[0]
    assert diff.kind is DiffKind.SKIPPED_NO_TEXT and diff.changed_keys == ["text", "v"]


# --- orphans and the source -----------------------------------------------------------------


def test_orphans_are_counted_sampled_and_untouched() -> None:
    orphans = many(30, prefix="zz")
    h = make([rec("a", "t")], orphans, orphan_sample_size=5)
    before = {r.id: h.target.get(r.id) for r in orphans}
    result = h.engine().mirror()
    assert result.stats.orphaned_in_target == 30
    assert result.orphan_sample == [f"zz{i:05d}" for i in range(5)]
    assert {r.id: h.target.get(r.id) for r in orphans} == before
    assert set(h.target.upserted_ids) == {"a"}


def test_the_source_reader_type_has_no_write_method() -> None:
    assert not hasattr(SourceReader, "upsert")
    assert not any(name for name in dir(SourceReader) if "upsert" in name or "delete" in name)
    assert hasattr(TargetStore, "upsert")
    h = make([rec("a", "t")])
    assert isinstance(h.source, SourceReader) and not isinstance(h.source, TargetStore)
    assert isinstance(ReadOnlySource(h.target), SourceReader)


# --- limits and failures --------------------------------------------------------------------


def test_an_over_40kb_record_fails_alone_while_the_others_are_written() -> None:
    source = many(20)
    source[7] = rec("r00007", "text 7", body="é" * 20_500)  # 41,000 bytes of UTF-8
    h = make(source)
    result = h.engine().mirror()
    s = result.stats
    assert s.failed_migration == 1 and s.successfully_migrated == 19
    assert result.outcome is RunOutcome.COMPLETED_WITH_ERRORS
    assert h.target.get("r00007") is None and len(h.target) == 19
    (failed,) = [d for d in h.sink.diff_rows if d.kind is DiffKind.FAILED]
    assert failed.record_id == "r00007" and failed.action is DiffAction.FAILED
    assert "'r00007'" in (failed.error or "") and "41" in (failed.error or "")
    assert "embedding" not in (failed.error or "")
    assert "text 7" not in h.embedder.embedded  # rejected before paying for an embedding


def test_metadata_that_only_the_clearance_level_pushes_over_40kb_fails() -> None:
    # 40,950 bytes without the managed key, over 40,960 with it.
    filler = "x" * (40_950 - len('{"text":"t","pad":""}'))
    h = make([rec("edge", "t", pad=filler)])
    result = h.engine(dry_run=True).mirror()
    assert result.stats.failed_migration == 1
    assert "including managed keys" in (h.sink.diff_rows[0].error or "")


def test_a_permanent_upsert_failure_is_isolated_to_its_record() -> None:
    h = make(many(100))
    h.target.reject_ids = {"r00037"}
    result = h.engine().mirror()
    s = result.stats
    assert s.successfully_migrated == 99 and s.failed_migration == 1
    assert sorted(set(h.target.ids())) == [f"r{i:05d}" for i in range(100) if i != 37]
    (failed,) = [d for d in h.sink.diff_rows if d.action is DiffAction.FAILED]
    assert failed.record_id == "r00037" and "r00037" in (failed.error or "")
    assert s.target_write_requests <= 1 + 2 * 7  # bisection, not one request per record
    assert "r00037" not in h.ledger.entries and len(h.ledger.entries) == 99
    h.target.reject_ids = set()
    again = h.engine().mirror()
    # Its text was embedded but never written, so nothing remembers that vector: one call.
    assert again.stats.successfully_migrated == 1 and again.stats.embeddings_requested == 1


def test_a_text_the_embedder_rejects_fails_only_its_record() -> None:
    h = make(many(20), embedder=FakeEmbedder(8, max_batch=10, fail_texts={"text 12"}))
    result = h.engine().mirror()
    assert result.stats.failed_migration == 1 and result.stats.successfully_migrated == 19
    (failed,) = [d for d in h.sink.diff_rows if d.kind is DiffKind.FAILED]
    assert failed.record_id == "r00012" and "embedding failed" in (failed.error or "")
    assert h.embedder.calls <= 2 + 2 * 4  # bisection of the one call holding the bad text
    h.embedder.fail_texts = set()
    h.engine().mirror()
    assert_mirrored(h.source_index, h.target, dimension=8)


def test_an_embedding_outage_fails_that_batchs_records_without_splitting() -> None:
    h = make(many(20), embedder=FakeEmbedder(8, max_batch=10), retry_attempts=2, concurrency=1)
    h.embedder.faults = Faults(1.0, {"embed"})
    result = h.engine(abort_after_failed_batches=0).mirror()
    assert result.stats.failed_migration == 20 and h.embedder.calls == 2 * 2
    assert result.stats.embedding_calls == 4 and result.stats.target_write_requests == 0


def test_a_vector_of_the_wrong_dimension_fails_its_record() -> None:
    h = make(many(3), embedder=FakeEmbedder(8, wrong_dimension_texts={"text 1"}))
    result = h.engine().mirror()
    assert result.stats.failed_migration == 1 and result.stats.successfully_migrated == 2
    assert h.target.get("r00001") is None


def test_transient_faults_still_converge_exactly() -> None:
    source = many(300, v=1) + many(100, prefix="s", text="shared {i}")
    target = [rec(f"r{i:05d}", f"text {i}" if i % 3 else f"old {i}", v=0) for i in range(0, 300, 2)]
    h = make(source, target, batch_size=20, retry_attempts=10)
    faults = Faults(0.1, {"fetch", "upsert", "embed"})
    h.source_index.faults = faults
    h.target.faults = faults
    h.embedder.faults = faults
    result = h.engine().mirror()
    assert sum(faults.injected.values()) > 10
    assert result.outcome is RunOutcome.SUCCEEDED, h.sink.diff_rows[:3]
    assert result.stats.successfully_migrated == 250 and result.stats.successfully_updated == 150
    assert_mirrored(h.source_index, h.target, dimension=8)
    assert max(h.embedder.embedded.values()) == 1
    faults.rate = 0.0
    assert h.engine().verify().in_sync
    assert h.engine().mirror().stats.records_written == 0


def test_a_transient_failure_outlasting_the_retries_fails_the_batch_and_the_run_goes_on() -> None:
    h = make(many(40), batch_size=10, retry_attempts=2, concurrency=1)
    h.target.faults = Faults(1.0, {"upsert"})
    result = h.engine(abort_after_failed_batches=0).mirror()
    assert (
        result.stats.failed_migration == 40 and result.outcome is RunOutcome.COMPLETED_WITH_ERRORS
    )
    assert result.stats.target_write_requests == 8  # 4 batches x 2 attempts
    assert h.ledger.entries == {}


@pytest.mark.parametrize("failure", ["embedder_key", "target_key", "embedder_down"])
def test_it_aborts_when_the_service_keeps_failing(failure: str) -> None:
    h = make(many(200), batch_size=10, concurrency=1, max_in_flight=1)
    if failure == "embedder_key":
        h.embedder.refuse_status = 401
    elif failure == "target_key":
        h.target.refuse_status = 403
    else:
        h.embedder.faults = Faults(1.0, {"embed"})
    with pytest.raises(EngineError, match="consecutive batches failed"):
        h.engine(abort_after_failed_batches=3).mirror()
    assert h.source_index.calls["fetch"] < 10  # stopped early instead of reading all 20 batches
    assert h.target.calls["upsert"] <= 3  # refusals are not bisected record by record
    assert h.sink.progress_reports[-1][0].failed_migration == 30


def test_sparse_bad_records_do_not_abort_the_run() -> None:
    h = make(many(100), batch_size=10, concurrency=1, max_in_flight=1)
    h.embedder.fail_texts = {f"text {i}" for i in range(0, 100, 10)}  # one per batch
    h.target.reject_ids = {f"r{i:05d}" for i in range(5, 100, 10)}  # and one more per batch
    result = h.engine(abort_after_failed_batches=2).mirror()
    assert result.outcome is RunOutcome.COMPLETED_WITH_ERRORS
    assert result.stats.failed_migration == 20 and result.stats.successfully_migrated == 80


def test_reads_that_keep_failing_abort_the_run() -> None:
    h = make(many(200), batch_size=10, concurrency=1, retry_attempts=1)
    h.source_index.faults = Faults(1.0, {"fetch"})
    with pytest.raises(EngineError, match="fetch failed"):
        h.engine(abort_after_failed_batches=4).mirror()
    assert h.source_index.calls["fetch"] < 20


def test_an_unreadable_batch_fails_its_records_and_the_run_goes_on() -> None:
    h = make(many(30), batch_size=10, concurrency=1, retry_attempts=1)
    calls = {"n": 0}
    original = h.source_index.fetch

    def flaky_fetch(ids: Sequence[str]) -> dict[str, Record]:
        calls["n"] += 1
        if calls["n"] == 2:
            from syncengine import TransientError

            raise TransientError("503")
        return original(ids)

    h.source_index.fetch = flaky_fetch  # type: ignore[method-assign,assignment]
    result = h.engine().mirror()
    assert result.stats.failed_migration == 10 and result.stats.successfully_migrated == 20
    assert all("could not be fetched" in (d.error or "") for d in h.sink.diff_rows if d.error)


# --- crash, cancel, consistency -------------------------------------------------------------


def test_a_run_killed_part_way_then_rerun_converges_without_re_embedding() -> None:
    source = many(1000)
    h = make(source, batch_size=50, concurrency=4)
    crashing = FakeEmbedder(8, crash_after_calls=6)
    with pytest.raises(Crash):
        h.engine(embedder=crashing).mirror()
    written_first = set(h.target.ids())
    assert 0 < len(written_first) < 1000
    # Everything written is in the ledger: progress was saved batch by batch.
    assert set(h.ledger.entries) == written_first
    rerun = FakeEmbedder(8)
    result = h.engine(embedder=rerun).mirror()
    assert result.outcome is RunOutcome.SUCCEEDED
    assert_mirrored(h.source_index, h.target, dimension=8)
    # Texts embedded (successfully) before the crash were written and never embedded again.
    assert not set(crashing.embedded) & set(rerun.embedded)
    assert set(crashing.embedded) | set(rerun.embedded) == {f"text {i}" for i in range(1000)}
    assert result.stats.successfully_migrated == 1000 - len(written_first)


def test_the_same_text_is_never_embedded_twice_in_a_run() -> None:
    source = [rec(f"r{i:04d}", f"text {i % 30}") for i in range(300)]
    h = make(source, batch_size=10, concurrency=4, embedding_cache_size=0)
    result = h.engine().mirror()
    assert result.stats.successfully_migrated == 300
    assert len(h.embedder.embedded) == 30 and max(h.embedder.embedded.values()) == 1
    assert result.stats.embeddings_requested == 30 and result.stats.vectors_reused == 270
    assert_mirrored(h.source_index, h.target, dimension=8)


def test_identical_texts_in_a_later_run_reuse_target_vectors() -> None:
    h = make([rec("a", "shared text")])
    h.engine().mirror()
    h.source_index._put(rec("b", "shared text"))
    result = h.engine().mirror()
    assert h.embedder.embedded["shared text"] == 1
    assert result.stats.vectors_reused == 1 and h.target["b"].values == fake_vector(
        "shared text", 8
    )


def test_cancellation_stops_between_batches_and_keeps_what_was_written() -> None:
    h = make(many(1000), batch_size=10, concurrency=2)
    result = h.engine(cancel_after=3).mirror()
    assert result.outcome is RunOutcome.CANCELLED and result.cancelled
    written = set(h.target.ids())
    assert 3 <= len(written) // 10 <= 3 + 2 * 2 * 2
    assert set(h.ledger.entries) == written
    first_embedded = set(h.embedder.embedded)
    h.embedder.embedded.clear()
    again = h.engine().mirror()
    assert again.outcome is RunOutcome.SUCCEEDED
    assert not first_embedded & set(h.embedder.embedded)
    assert_mirrored(h.source_index, h.target, dimension=8)


def test_a_lagging_target_listing_does_not_cause_rewrites() -> None:
    h = make([rec("D", "delta"), rec("E", "echo")])
    h.target.lag_writes = True
    h.engine().mirror()
    second = h.engine().mirror()
    s = second.stats
    assert s.missing_in_target == 2 and s.already_migrated == 2
    assert s.records_written == 0 and s.embedding_calls == 0
    check = h.engine().verify()
    assert check.in_sync and check.not_yet_visible == 2
    h.target.settle()
    assert h.engine().mirror().stats.metadata_matches == 2


def test_a_stale_target_read_after_an_update_does_not_cause_a_rewrite() -> None:
    h = make([rec("C", "charlie v2")], [rec("C", "charlie", clearance_level="x")])
    h.target.lag_writes = True
    h.engine().mirror()
    second = h.engine().mirror()  # the target still returns the old C
    s = second.stats
    assert s.metadata_differs == 1 and s.already_migrated == 1
    assert s.records_written == 0 and s.embedding_calls == 0
    assert h.embedder.embedded["charlie v2"] == 1
    h.target.settle()
    assert h.engine().verify().in_sync


def test_after_the_consistency_window_the_listing_is_believed_again() -> None:
    h = make([rec("D", "delta"), rec("E", "echo")])
    h.target.lag_writes = True
    h.engine().mirror()
    h.target._unsettled.clear()  # the writes were lost (or deleted by someone) after all
    h.clock.advance(3600)
    third = h.engine().mirror()
    assert third.stats.successfully_migrated == 2 and third.stats.already_migrated == 0
    assert third.stats.embedding_calls == 1  # nothing in the target to reuse: re-embedded


def test_a_changed_source_record_is_rewritten_even_if_the_ledger_knows_an_older_write() -> None:
    h = make([rec("D", "delta", v=1)])
    h.target.lag_writes = True
    h.engine().mirror()
    h.source_index._put(rec("D", "delta", v=2))
    result = h.engine().mirror()
    assert result.stats.already_migrated == 0 and result.stats.successfully_migrated == 1
    h.target.settle()
    assert h.target["D"].metadata["v"] == 2


def test_an_out_of_order_listing_stops_the_run() -> None:
    h = make([rec("a", "t"), rec("b", "u")])
    h.target.listing_override = [["b", "a"]]
    with pytest.raises(EngineError, match="bytewise"):
        h.engine().mirror()
    assert h.target.calls["upsert"] == 0


def test_a_source_deleted_meanwhile_is_counted_as_vanished() -> None:
    h = make([rec("a", "t"), rec("b", "u")])
    original = h.source_index.fetch
    h.source_index.fetch = lambda ids: {  # type: ignore[method-assign]
        k: v for k, v in original(ids).items() if k != "b"
    }
    result = h.engine().mirror()
    assert result.stats.vanished == 1 and result.stats.successfully_migrated == 1


# --- contracts ------------------------------------------------------------------------------


def test_sink_and_ledger_are_only_called_from_the_calling_thread() -> None:
    h = make(many(200) + many(50, prefix="s"), many(50, prefix="s", v=1), batch_size=10)
    h.engine().mirror()
    me = threading.get_ident()
    assert h.sink.threads == {me}
    assert h.ledger.threads == {me}


def test_progress_is_reported_after_every_batch_with_totals() -> None:
    h = make(many(95), batch_size=10)
    h.engine().mirror()
    reports = h.sink.progress_reports
    assert len(reports) == 10 + 1  # ten batches, then the final report
    assert reports[-1][1] == 95 and reports[-1][2] == 95
    assert reports[-1][0].successfully_migrated == 95
    assert [done for _, done, _ in reports] == sorted(done for _, done, _ in reports)


def test_progress_total_is_none_when_the_source_cannot_count() -> None:
    h = make(many(5))
    h.source_index.count_value = None
    h.source_index.count = lambda: None  # type: ignore[method-assign]
    h.engine().analyze()
    assert h.sink.phases == [("analyze", None)]


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001}, "batch_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"text_field": ""}, "text_field"),
        ({"text_field": "   "}, "text_field"),
        ({"managed_keys": ("clearance_level", "text")}, "managed_keys"),
        ({"managed_keys": ()}, "managed_keys"),
        ({"reembed_policy": "sometimes"}, "reembed_policy"),
        ({"upsert_max_records": 1001}, "upsert_max_records"),
        ({"upsert_max_bytes": 3 * 1024 * 1024}, "upsert_max_bytes"),
        ({"fetch_max": 0}, "fetch_max"),
        ({"retry_attempts": 0}, "retry_attempts"),
        ({"clearance_level": {"nested": 1}}, "clearance_level"),
    ],
)
def test_nonsense_settings_are_refused_before_any_request(
    overrides: dict[str, object], setting: str
) -> None:
    h = make([rec("a", "t")])
    with pytest.raises(PreflightError) as raised:
        h.engine(**overrides)
    assert raised.value.setting == setting
    assert setting in str(raised.value)
    assert h.source_index.calls == {}


def test_mirroring_needs_a_clearance_level_and_an_embedder() -> None:
    h = make([rec("a", "t")])
    with pytest.raises(PreflightError, match="clearance_level"):
        h.engine(clearance_level=None).mirror()
    with pytest.raises(PreflightError, match="clearance_level"):
        h.engine(clearance_level=None, dry_run=True).mirror()
    assert h.engine(clearance_level=None).analyze().stats.missing_in_target == 1
    engine = MirrorEngine(
        h.source,
        h.target,
        None,
        RecordingSink(),
        InMemoryLedger(),
        MirrorConfig(clearance_level="x"),
    )
    with pytest.raises(PreflightError, match="embedder"):
        engine.mirror()
    assert engine.analyze().stats.missing_in_target == 1
    assert h.source_index.calls["fetch"] == 2 and h.target.calls["upsert"] == 0


def test_full_size_vectors_are_written_in_requests_under_two_megabytes() -> None:
    source = [rec(f"r{i:03d}", f"text {i} " + "words " * 300, dimension=3072) for i in range(120)]
    h = make(source, dimension=3072, embedder=FakeEmbedder(3072))
    result = h.engine().mirror()
    assert result.stats.successfully_migrated == 120
    assert result.stats.target_write_requests >= 3  # ~65 KB per record: not one request
    assert h.target.max_body_seen <= 2 * 1024 * 1024
    assert result.stats.embedding_calls == 2  # 120 texts, at most 100 per call


def test_a_listing_failure_fails_the_run_and_a_rerun_recovers() -> None:
    from syncengine import TransientError

    h = make(many(300), batch_size=10, page_size=50)
    original = h.source_index.list_id_pages

    def failing_listing() -> Iterator[list[str]]:
        for n, page in enumerate(original()):
            if n == 3:
                raise TransientError("list timed out")
            yield page

    h.source_index.list_id_pages = failing_listing  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        h.engine().mirror()
    assert set(h.ledger.entries) == set(h.target.ids())
    h.source_index.list_id_pages = original  # type: ignore[method-assign]
    h.embedder.embedded.clear()
    h.engine().mirror()
    assert_mirrored(h.source_index, h.target, dimension=8)
    assert max(h.embedder.embedded.values()) == 1
