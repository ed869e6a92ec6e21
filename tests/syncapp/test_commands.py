"""The management commands end to end: configuration, analysis and mirroring, their output and
their exit status, against the emulators."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from pinecone import Index as SdkIndex

from emulators.gemini import GeminiEmulator
from emulators.pinecone import IndexSpec, PineconeEmulator
from syncapp.management.runcommand import STAT_LABELS
from syncapp.models import Index, Namespace, SyncRun
from tests.fixtures_gemini import GEMINI_TEST_KEY
from tests.fixtures_pinecone import PINECONE_RO_KEY, PINECONE_RW_KEY
from tests.syncapp.conftest import (
    EMBEDDING_DIMENSION,
    GEMINI_KEY_ENV,
    SOURCE_DIMENSION,
    SOURCE_INDEX,
    SOURCE_KEY_ENV,
    TARGET_INDEX,
    TARGET_KEY_ENV,
    MirrorEnv,
    rec,
    target_rec,
    upsert_all,
)
from tests.syncapp.test_limits import oversized_record_text

# The seed plan's MirroringStats, by its names: what --json must carry.
SEED_FIELDS = (
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
)


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- in-process (call_command), on the test database -------------------------------------------


@pytest.mark.django_db
def test_add_index_registers_and_updates_an_index() -> None:
    assert "Added index askdona" in run_command("add_index", TARGET_INDEX)
    output = run_command(
        "add_index", TARGET_INDEX, "--host", "http://127.0.0.1:9", "--api-key-env", "ASKDONA_KEY"
    )
    assert "Updated index askdona (host: http://127.0.0.1:9; key: ASKDONA_KEY)" in output
    index = Index.objects.get()
    assert (index.host, index.api_key_env) == ("http://127.0.0.1:9", "ASKDONA_KEY")
    with pytest.raises(CommandError, match="lowercase letters"):
        run_command("add_index", "Not_An_Index")


@pytest.mark.django_db
def test_add_namespace_defaults_the_namespaces_to_its_name() -> None:
    run_command("add_index", SOURCE_INDEX)
    run_command("add_index", TARGET_INDEX)

    output = run_command(
        "add_namespace",
        "docs",
        "--source-index",
        SOURCE_INDEX,
        "--target-index",
        TARGET_INDEX,
        "--clearance-level",
        "internal",
    )

    assert "Added namespace docs: gflops-serverless/docs -> askdona/docs" in output
    namespace = Namespace.objects.get()
    assert (namespace.source_namespace, namespace.target_namespace) == ("docs", "docs")
    assert (namespace.text_field, namespace.batch_size, namespace.managed_keys) == (
        "text",
        100,
        ["clearance_level"],
    )
    run_command(
        "add_namespace",
        "docs",
        "--source-index",
        SOURCE_INDEX,
        "--target-index",
        TARGET_INDEX,
        "--source-namespace",
        "src-ns",
        "--batch-size",
        "50",
    )
    namespace.refresh_from_db()
    # The target namespace follows the source's unless given; other settings are kept.
    assert (namespace.source_namespace, namespace.target_namespace) == ("src-ns", "src-ns")
    assert (namespace.batch_size, namespace.clearance_level) == (50, "internal")


@pytest.mark.django_db
def test_add_namespace_refuses_an_unknown_index() -> None:
    run_command("add_index", SOURCE_INDEX)
    with pytest.raises(CommandError) as error:
        run_command(
            "add_namespace",
            "docs",
            "--source-index",
            SOURCE_INDEX,
            "--target-index",
            "nope",
            "--clearance-level",
            "internal",
        )
    assert str(error.value) == (
        "Target index 'nope' is not registered (known: gflops-serverless). "
        "Add it first: python manage.py add_index nope"
    )
    assert not Namespace.objects.exists()


def seed_example(env: MirrorEnv) -> None:
    env.seed_source([rec("A", "alpha", year=2019), rec("B", "bravo", v=2), rec("C", "charlie")])
    env.seed_target(
        [target_rec("A", "alpha", year=2019.0), target_rec("B", "bravo", v=1), target_rec("F", "f")]
    )


@pytest.mark.django_db
def test_analyze_namespace_json_prints_one_object_with_the_seed_field_names(
    mirror_env: MirrorEnv,
) -> None:
    seed_example(mirror_env)

    output = run_command("analyze_namespace", "docs", "--json")

    data = json.loads(output)  # the whole output is one JSON document
    assert isinstance(data, dict)
    run = SyncRun.objects.get()
    assert (run.kind, run.trigger, run.status) == ("analyze", "command", "succeeded")
    assert {k: data[k] for k in SEED_FIELDS} == {k: getattr(run, k) for k in SEED_FIELDS}
    assert (data["missing_in_target"], data["metadata_matches"], data["metadata_differs"]) == (
        1,
        1,
        1,
    )
    assert (data["run_id"], data["status"], data["kind"], data["error"]) == (
        run.pk,
        "succeeded",
        "analyze",
        None,
    )
    assert data["orphan_sample"] == ["F"]


@pytest.mark.django_db
def test_mirror_namespace_dry_run_json_reports_what_it_would_do(mirror_env: MirrorEnv) -> None:
    seed_example(mirror_env)
    mirror_env.reset_counters()

    data = json.loads(run_command("mirror_namespace", "docs", "--dry-run", "--json"))

    assert (data["kind"], data["dry_run"], data["status"]) == ("mirror", True, "succeeded")
    assert (data["would_migrate"], data["would_update"], data["records_written"]) == (1, 1, 0)
    assert mirror_env.writes_received(TARGET_INDEX) == 0
    assert mirror_env.embed_requests() == 0
    run = SyncRun.objects.get()
    assert (run.dry_run, run.trigger) == (True, "command")


@pytest.mark.django_db
def test_mirror_namespace_prints_a_table_of_the_statistics(mirror_env: MirrorEnv) -> None:
    seed_example(mirror_env)

    output = run_command("mirror_namespace", "docs", "--batch-size", "2")

    run = SyncRun.objects.get()
    assert (run.status, run.trigger, run.options["batch_size"]) == ("succeeded", "command", 2)
    lines = output.splitlines()
    assert lines[0] == f"Run #{run.pk}: #{run.pk} mirror of docs"
    # "<label>  <count>" rows, labels as the command defines them
    rows: dict[str, str] = {}
    for line in lines:
        if "  " in line:
            label, count = line.rsplit(" ", 1)
            rows[label.strip()] = count
    for name, expected in {
        "total_source_vectors": "3",
        "missing_in_target": "1",
        "successfully_migrated": "1",
        "successfully_updated": "1",
        "records_written": "2",
    }.items():
        assert rows[STAT_LABELS[name]] == expected, name
    assert "Verification: IN SYNC (source 3, target 4, missing 0, differing 0" in output
    assert lines[-1] == f"Run #{run.pk} succeeded"
    assert mirror_env.target_snapshot()["B"].metadata["v"] == 2.0


@pytest.mark.django_db
def test_a_failed_run_makes_the_command_fail(
    mirror_env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_example(mirror_env)
    monkeypatch.delenv(GEMINI_KEY_ENV)

    with pytest.raises(CommandError) as error:
        run_command("mirror_namespace", "docs")

    run = SyncRun.objects.get()
    assert run.status == "failed"
    assert str(error.value) == f"Run #{run.pk} failed: {run.error}"
    assert "GEMINI_API_KEY is not set" in run.error


@pytest.mark.django_db
def test_a_run_with_failed_records_exits_with_status_2(mirror_env: MirrorEnv) -> None:
    seed_example(mirror_env)
    mirror_env.seed_source([rec("huge", oversized_record_text())])

    with pytest.raises(SystemExit) as exit_status:
        run_command("mirror_namespace", "docs")

    assert exit_status.value.code == 2
    run = SyncRun.objects.get()
    assert (run.status, run.failed_migration, run.successfully_migrated) == (
        "completed_with_errors",
        1,
        1,
    )


@pytest.mark.django_db
def test_an_unknown_namespace_is_an_error_that_starts_no_run() -> None:
    with pytest.raises(CommandError, match="No mirrored namespace named 'nope'"):
        run_command("analyze_namespace", "nope")
    assert not SyncRun.objects.exists()


# --- as a user runs them: separate processes, real exit statuses ------------------------------


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_the_commands_exit_with_the_run_status(
    tmp_path: Path,
    make_pinecone_emulator: Callable[..., PineconeEmulator],
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    pinecone = make_pinecone_emulator(
        indexes=[
            IndexSpec(SOURCE_INDEX, SOURCE_DIMENSION),
            IndexSpec(TARGET_INDEX, EMBEDDING_DIMENSION),
        ]
    )
    gemini = make_gemini_emulator()
    source = SdkIndex(host=pinecone.index_host(SOURCE_INDEX), api_key=PINECONE_RW_KEY)
    upsert_all(source, [rec("a", "alpha"), rec("b", "bravo")], "docs")
    # Its own throwaway database: the test database is not visible to another process.
    env: dict[str, Any] = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PINECONE", "GEMINI"))},
        "DJANGO_SETTINGS_MODULE": "mirrorsite.settings",
        "ENV_FILE": str(tmp_path / "no.env"),
        "SECRET_KEY": "commands-test-only",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PINECONE_CONTROLLER_HOST": pinecone.control_url,
        "GEMINI_BASE_URL": gemini.base_url,
        TARGET_KEY_ENV: PINECONE_RW_KEY,
        SOURCE_KEY_ENV: PINECONE_RO_KEY,
        GEMINI_KEY_ENV: GEMINI_TEST_KEY,
    }
    assert manage(env, "migrate", "--verbosity", "0").returncode == 0
    assert manage(env, "add_index", SOURCE_INDEX).returncode == 0
    assert manage(env, "add_index", TARGET_INDEX).returncode == 0
    added = manage(
        env,
        "add_namespace",
        "docs",
        "--source-index",
        SOURCE_INDEX,
        "--target-index",
        TARGET_INDEX,
        "--clearance-level",
        "internal",
        "--embedding-dimension",
        "128",
    )
    assert added.returncode == 0, added.stderr

    analysis = manage(env, "analyze_namespace", "docs", "--json")
    assert analysis.returncode == 0, analysis.stderr
    data = json.loads(analysis.stdout)  # nothing else on stdout
    assert (data["missing_in_target"], data["status"]) == (2, "succeeded")

    no_gemini = {k: v for k, v in env.items() if k != GEMINI_KEY_ENV}
    failed = manage(no_gemini, "mirror_namespace", "docs")
    assert failed.returncode == 1
    assert "failed: Preflight failed: Gemini API key" in failed.stderr

    upsert_all(source, [rec("huge", oversized_record_text())], "docs")
    partial = manage(env, "mirror_namespace", "docs", "--json")
    assert partial.returncode == 2, partial.stderr
    result = json.loads(partial.stdout)
    assert (result["status"], result["successfully_migrated"], result["failed_migration"]) == (
        "completed_with_errors",
        2,
        1,
    )
    assert manage(env, "analyze_namespace", "nope").returncode == 1
