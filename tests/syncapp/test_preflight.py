"""A run that cannot work fails before it reads a record: a clear error naming the setting,
status `failed`, and nothing written or embedded."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from syncapp.models import Namespace, SyncRun
from syncapp.services.config import index_upsert, namespace_upsert
from syncapp.services.errors import ServiceError
from tests.syncapp.conftest import (
    GEMINI_KEY_ENV,
    NAMESPACE,
    SOURCE_INDEX,
    SOURCE_KEY_ENV,
    TARGET_INDEX,
    TARGET_KEY_ENV,
    MirrorEnv,
    rec,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def env(mirror_env: MirrorEnv) -> Iterator[MirrorEnv]:
    """A namespace with work to do, so that a run that got past preflight would write."""
    mirror_env.seed_source([rec("a", "alpha"), rec("b", "bravo")])
    mirror_env.reset_counters()
    yield mirror_env


def assert_failed_before_any_work(env: MirrorEnv, run: SyncRun, *phrases: str) -> None:
    assert run.status == "failed"
    assert run.error.startswith("Preflight failed: "), run.error
    for phrase in phrases:
        assert phrase in run.error, (phrase, run.error)
    assert run.finished_at is not None
    assert run.records_written == run.total_source_vectors == 0
    assert env.writes_received(TARGET_INDEX) == 0
    assert env.writes_received(SOURCE_INDEX) == 0
    assert env.embed_requests() == 0
    assert env.target_snapshot() == {}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- keys -----------------------------------------------------------------------------------


def test_it_fails_without_a_target_key(env: MirrorEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TARGET_KEY_ENV)
    run = env.mirror()
    assert_failed_before_any_work(env, run, "target API key", TARGET_KEY_ENV, "is not set")


def test_it_fails_without_any_source_key(env: MirrorEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SOURCE_KEY_ENV)
    monkeypatch.delenv(TARGET_KEY_ENV)
    run = env.analyze()
    assert_failed_before_any_work(
        env, run, "source API key", f"{SOURCE_KEY_ENV} or {TARGET_KEY_ENV} is not set"
    )


def test_it_names_the_source_index_own_key_variable(
    env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_upsert(name=SOURCE_INDEX, api_key_env="GFLOPS_READ_KEY")
    monkeypatch.delenv("GFLOPS_READ_KEY", raising=False)
    run = env.mirror()
    assert_failed_before_any_work(env, run, "source API key", "GFLOPS_READ_KEY is not set")


def test_a_real_mirror_needs_a_gemini_key_but_analysis_does_not(
    env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(GEMINI_KEY_ENV)

    mirror = env.mirror()
    assert_failed_before_any_work(env, mirror, "Gemini API key", GEMINI_KEY_ENV)

    for run in (env.analyze(), env.dry_run()):
        assert (run.status, run.missing_in_target, run.would_migrate) == ("succeeded", 2, 2)
    assert env.writes_received(TARGET_INDEX) == 0


@pytest.mark.parametrize("variable", [TARGET_KEY_ENV, SOURCE_KEY_ENV])
def test_it_fails_when_pinecone_rejects_a_key(
    env: MirrorEnv, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "not-a-pinecone-key")
    run = env.mirror()
    role = "target" if variable == TARGET_KEY_ENV else "source"
    assert_failed_before_any_work(env, run, f"{role} API key", "rejected the key", variable)


# --- indexes and hosts ------------------------------------------------------------------------


def test_it_fails_for_an_index_pinecone_does_not_have(env: MirrorEnv) -> None:
    index_upsert(name="no-such-index")
    env.namespace = namespace_upsert(
        name=NAMESPACE,
        source_index=SOURCE_INDEX,
        target_index="no-such-index",
        source_namespace=NAMESPACE,
    )[0]
    run = env.mirror()
    assert_failed_before_any_work(env, run, "target index", "no index named 'no-such-index'")


def test_it_fails_for_an_unreachable_host(env: MirrorEnv) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    index_upsert(name=TARGET_INDEX, host=host)
    run = env.mirror()
    assert_failed_before_any_work(env, run, "target index", "cannot reach askdona", host)


def test_it_fails_when_the_target_dimension_is_not_the_embedding_dimension(
    env: MirrorEnv,
) -> None:
    env.configure(embedding_dimension=256)
    run = env.mirror()
    assert_failed_before_any_work(
        env, run, "embedding_dimension", "askdona has dimension 128", "configured for 256"
    )


def test_the_same_index_and_namespace_cannot_be_configured_as_source_and_target(
    env: MirrorEnv,
) -> None:
    with pytest.raises(ServiceError, match="Source and target are the same index and namespace"):
        namespace_upsert(
            name="loop", source_index=SOURCE_INDEX, target_index=SOURCE_INDEX, source_namespace="x"
        )
    assert not Namespace.objects.filter(name="loop").exists()
    # Another namespace of the same index is a legitimate target.
    namespace_upsert(
        name="copy",
        source_index=SOURCE_INDEX,
        target_index=SOURCE_INDEX,
        source_namespace="x",
        target_namespace="y",
        clearance_level="internal",
    )


def test_two_index_rows_resolving_to_the_same_host_are_refused(env: MirrorEnv) -> None:
    # Two names, one index: the target row's host override points at the source's data plane.
    index_upsert(name=TARGET_INDEX, host=env.pinecone.index_host(SOURCE_INDEX))
    run = env.mirror()
    assert_failed_before_any_work(env, run, "same host and namespace")


# --- nonsense settings ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1001, -5])
def test_a_run_refuses_a_batch_size_outside_1_to_1000(env: MirrorEnv, size: int) -> None:
    with pytest.raises(ServiceError, match=f"batch size must be from 1 to 1000, not {size}"):
        env.create("mirror", batch_size=size)
    with pytest.raises(CommandError, match=f"not {size}"):
        call_command("mirror_namespace", NAMESPACE, "--batch-size", str(size))
    with pytest.raises(ServiceError, match="batch_size"):
        env.configure(batch_size=size)
    assert not SyncRun.objects.exists()


def test_preflight_refuses_a_stored_batch_size_outside_1_to_1000(env: MirrorEnv) -> None:
    # A row changed behind the services' back (a data migration, the shell): the run, not
    # the form, is the last line of defence.
    Namespace.objects.filter(pk=env.namespace.pk).update(batch_size=5000)
    env.namespace.refresh_from_db()
    run = env.mirror()
    assert_failed_before_any_work(env, run, "batch_size", "from 1 to 1000", "5000")


def test_preflight_refuses_a_namespace_without_a_clearance_level(env: MirrorEnv) -> None:
    Namespace.objects.filter(pk=env.namespace.pk).update(clearance_level="")
    env.namespace.refresh_from_db()
    run = env.mirror()
    assert_failed_before_any_work(env, run, "clearance_level", "no safe default")
