"""The run history, the run page with its JSON feed, the changed records (list, filters,
record page with word diff), the CSV export and the namespace page with its chart."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from syncapp.models import RecordDiff, RunStatus, SyncRun
from syncapp.services.runs import sync_run_create, sync_run_execute
from tests.admin.conftest import Mirror, make_run


def execute(mirror: Mirror, kind: str = "mirror", **kwargs: object) -> SyncRun:
    run = sync_run_create(namespace=mirror.namespace, kind=kind, trigger="command", **kwargs)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def run_url(run: SyncRun) -> str:
    return reverse("admin:syncapp_syncrun_change", args=[run.pk])


def progress_url(run: SyncRun) -> str:
    return reverse("admin:syncapp_syncrun_progress", args=[run.pk])


DIFFS = reverse("admin:syncapp_recorddiff_changelist")
HISTORY = reverse("admin:syncapp_syncrun_changelist")


# --- run page and its JSON feed ------------------------------------------------------------


@pytest.mark.django_db
def test_the_run_page_shows_the_statistics_verification_and_log(
    auditor_client: Client, mirror: Mirror
) -> None:
    run = execute(mirror)
    response = auditor_client.get(run_url(run))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Mirror #{run.pk} of docs" in html
    for label in (
        "Source records",
        "Target records (before the run)",
        "Missing in target",
        "Matching IDs",
        "Metadata matches",
        "Metadata differs",
        "Migrated",
        "Updated",
        "Failed (migration)",
        "Skipped: no text",
        "Orphans in target (untouched)",
        "Texts embedded",
        "Source read requests",
        "Target write requests",
    ):
        assert f"<td>{label}</td>" in html, label
    assert "Would migrate" not in html  # a real mirror shows what it did, not what it would do
    assert 'data-stat="successfully_migrated">2<' in html
    assert "In sync" in html and "z-orphan" in html
    assert "verification: source and target agree" in html  # the log
    assert 'data-active="false"' in html
    assert "Cancel run" not in html
    assert "syncapp/run_detail.js" in html


@pytest.mark.django_db
def test_an_analysis_page_shows_what_a_mirror_would_do(
    auditor_client: Client, mirror: Mirror
) -> None:
    run = execute(mirror, "analyze")
    html = auditor_client.get(run_url(run)).content.decode()
    assert 'data-stat="would_migrate">2<' in html
    assert 'data-stat="would_update">1<' in html
    assert "<td>Migrated</td>" not in html


@pytest.mark.django_db
def test_the_progress_feed_reports_a_running_run_with_rate_and_eta(
    auditor_client: Client, bare_namespace: object
) -> None:
    now = timezone.now()
    run = make_run(
        bare_namespace,
        status=RunStatus.RUNNING,
        started_at=now - timedelta(seconds=30),
        phase="mirror",
        phase_started_at=now - timedelta(seconds=20),
        heartbeat_at=now,
        progress_done=400,
        progress_total=1000,
        successfully_migrated=350,
        log="12:00:00 INFO    phase mirror",
    )
    data = auditor_client.get(progress_url(run)).json()
    assert data["active"] is True and data["stale"] is False
    assert data["status"] == "running" and data["phase"] == "mirror"
    assert data["percent"] == 40.0
    assert 15 <= data["rate"] <= 25  # ~400 records in ~20 s
    assert 20 <= data["eta_seconds"] <= 40  # 600 left at ~20/s
    assert data["stats"]["successfully_migrated"] == 350
    assert data["log"] == "12:00:00 INFO    phase mirror"
    assert "final_html" not in data
    assert "sync-progress__bar" in data["status_html"]
    # The page sends the log fingerprint it has: an unchanged log is not sent again.
    again = auditor_client.get(progress_url(run), {"log_etag": data["log_etag"]}).json()
    assert "log" not in again


@pytest.mark.django_db
def test_the_progress_feed_of_a_finished_run_carries_the_final_results(
    auditor_client: Client, mirror: Mirror
) -> None:
    run = execute(mirror)
    data = auditor_client.get(progress_url(run)).json()
    assert data["active"] is False
    assert data["status"] == "succeeded"
    assert "In sync" in data["final_html"]
    assert data["diff_count"] == RecordDiff.objects.filter(run=run).count() > 0


@pytest.mark.django_db
def test_the_progress_feed_needs_the_view_permission(client: Client, mirror: Mirror) -> None:
    from django.contrib.auth.models import User

    run = execute(mirror, "analyze")
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.get(progress_url(run)).status_code == 403
    client.logout()
    assert client.get(progress_url(run)).status_code == 302  # to the login page


# --- history ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_history_lists_runs_newest_first_with_filters(
    auditor_client: Client, operator: object, bare_namespace: object
) -> None:
    old = make_run(bare_namespace, kind="analyze", status=RunStatus.SUCCEEDED)
    SyncRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    failed = make_run(
        bare_namespace,
        status=RunStatus.FAILED,
        trigger="admin",
        requested_by=operator,
        failed_migration=3,
        failed_update=1,
    )
    skipped = make_run(
        bare_namespace, status=RunStatus.SKIPPED, trigger="schedule", blocked_by=failed
    )
    response = auditor_client.get(HISTORY)
    html = response.content.decode()
    rows = [row.pk for row in response.context["cl"].result_list]
    assert rows == [skipped.pk, failed.pk, old.pk]
    assert "sync-badge--failed" in html and "admin: operator" in html
    assert "management command" in html and "schedule" in html
    assert f"mirror #{failed.pk} was running" in html

    def ids(query: dict[str, str]) -> list[int]:
        return [r.pk for r in auditor_client.get(HISTORY, query).context["cl"].result_list]

    assert ids({"status__exact": "failed"}) == [failed.pk]
    assert ids({"run_kind": "analyze"}) == [old.pk]
    assert ids({"trigger__exact": "schedule"}) == [skipped.pk]
    assert ids({"namespace__id__exact": str(bare_namespace.pk)}) == rows  # type: ignore[attr-defined]
    this_year = str(timezone.now().year)
    assert set(ids({"created_at__year": this_year})) >= {failed.pk, skipped.pk}


# --- changed records -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_diffs_of_a_run_can_be_filtered_and_searched(
    auditor_client: Client, mirror: Mirror
) -> None:
    run = execute(mirror)
    other = execute(mirror, "analyze")  # a second run: its diffs must not leak into the filter

    def ids(**query: str) -> set[str]:
        response = auditor_client.get(DIFFS, {"run": str(run.pk), **query})
        assert response.status_code == 200, response.content
        return {d.record_id for d in response.context["cl"].result_list}

    assert ids() == {"a-new", "b-new", "c-changed", "e-notext"}
    assert ids(kind__exact="missing") == {"a-new", "b-new"}
    assert ids(kind__exact="changed") == {"c-changed"}
    assert ids(action__exact="created") == {"a-new", "b-new"}
    assert ids(action__exact="updated") == {"c-changed"}
    assert ids(action__exact="skipped") == {"e-notext"}
    assert ids(changed_key="author") == {"c-changed"}
    assert ids(changed_key="text") == {"c-changed"}
    assert ids(changed_key="auth") == set()  # a whole key, not a fragment
    assert ids(q="new") == {"a-new", "b-new"}
    assert ids(text_changed__exact="1") == {"c-changed"}
    page = auditor_client.get(DIFFS, {"run": str(run.pk)}).content.decode()
    assert f"Changed records of Mirror #{run.pk} of docs" in page
    assert reverse("admin:syncapp_syncrun_export", args=[run.pk]) in page
    # The key filter offers the keys that changed in the run.
    assert "?changed_key=author" in page or "changed_key=author" in page
    assert other.pk != run.pk


@pytest.mark.django_db
def test_the_changed_key_filter_matches_whole_keys_only(
    auditor_client: Client, bare_namespace: object
) -> None:
    run = make_run(bare_namespace, status=RunStatus.SUCCEEDED)
    for record_id, keys in {
        "r1": ["author"],
        "r2": ["co-author"],
        "r3": ["author_id", "tags"],
        "r4": ["tags", "author"],
        "r5": ["naïve"],
    }.items():
        RecordDiff.objects.create(
            run=run, record_id=record_id, kind="changed", action="updated", changed_keys=keys
        )
    from syncapp.services.selectors import diffs_with_changed_key

    def ids(key: str) -> set[str]:
        return set(
            diffs_with_changed_key(RecordDiff.objects.filter(run=run), key).values_list(
                "record_id", flat=True
            )
        )

    assert ids("author") == {"r1", "r4"}
    assert ids("tags") == {"r3", "r4"}
    assert ids("naïve") == {"r5"}
    assert ids("thor") == set()


@pytest.mark.django_db
def test_the_diff_list_pages_without_counting_every_run(
    auditor_client: Client, bare_namespace: object
) -> None:
    run = make_run(bare_namespace, status=RunStatus.SUCCEEDED)
    RecordDiff.objects.bulk_create(
        RecordDiff(run=run, record_id=f"id-{i:04d}", kind="missing", action="created")
        for i in range(250)
    )
    response = auditor_client.get(DIFFS, {"run": str(run.pk), "p": "2"})
    cl = response.context["cl"]
    assert cl.show_full_result_count is False
    assert cl.result_count == 250 and len(cl.result_list) == 100
    assert cl.result_list[0].record_id == "id-0100"


@pytest.mark.django_db
def test_a_record_page_shows_values_side_by_side_and_a_word_diff(
    auditor_client: Client, mirror: Mirror
) -> None:
    run = execute(mirror)
    diff = RecordDiff.objects.get(run=run, record_id="c-changed")
    html = auditor_client.get(
        reverse("admin:syncapp_recorddiff_change", args=[diff.pk])
    ).content.decode()
    assert "<code>author</code>" in html
    assert '<pre class="sync-value">old</pre>' in html
    assert '<pre class="sync-value">chen</pre>' in html
    worddiff = html.split('<div class="sync-worddiff">', 1)[1].split("</div>", 1)[0]
    assert worddiff == (
        "the <del>slow</del><ins>quick</ins> brown fox <del>sleeps</del><ins>jumps</ins>"
    )


@pytest.mark.django_db
def test_a_record_page_escapes_values_and_notes_truncation(
    auditor_client: Client, bare_namespace: object
) -> None:
    run = make_run(bare_namespace, status=RunStatus.SUCCEEDED)
    long_text = "<script>alert(1)</script> " + "x" * 480
    diff = RecordDiff.objects.create(
        run=run,
        record_id="<b>id</b>",
        kind="changed",
        action="updated",
        changed_keys=["text", "tags"],
        text_changed=True,
        values={
            "text": {
                "source": {"value": long_text, "length": 9000, "truncated": True},
                "target": {"value": "<i>old</i> words", "length": 16, "truncated": False},
            },
            "tags": {
                "source": {"value": ["a", "b"], "length": 10, "truncated": False},
                "target": None,
            },
        },
    )
    html = auditor_client.get(
        reverse("admin:syncapp_recorddiff_change", args=[diff.pk])
    ).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<i>old</i>" not in html and "&lt;i&gt;old&lt;/i&gt;" in html
    assert "&lt;b&gt;id&lt;/b&gt;" in html
    assert "truncated: first 506 of 9,000 characters" in html
    assert "Compared on the first characters only" in html
    assert '<pre class="sync-value">[&quot;a&quot;, &quot;b&quot;]</pre>' in html
    assert '<span class="sync-absent">absent</span>' in html


@pytest.mark.django_db
def test_the_csv_export_streams_every_diff_with_values_as_json(
    auditor_client: Client, mirror: Mirror
) -> None:
    run = execute(mirror)
    response = auditor_client.get(reverse("admin:syncapp_syncrun_export", args=[run.pk]))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="run-{run.pk}-docs-diffs.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_id = {row["record_id"]: row for row in rows}
    assert set(by_id) == {"a-new", "b-new", "c-changed", "e-notext"}
    assert list(rows[0])[:7] == [
        "record_id",
        "kind",
        "action",
        "changed_keys",
        "text_changed",
        "error",
        "truncated_keys",
    ]
    changed = by_id["c-changed"]
    assert (changed["kind"], changed["action"], changed["text_changed"]) == (
        "changed",
        "updated",
        "yes",
    )
    assert json.loads(changed["changed_keys"]) == ["author", "text"]
    assert json.loads(changed["author (source)"]) == "chen"
    assert json.loads(changed["author (target)"]) == "old"
    assert json.loads(changed["text (source)"]) == "the quick brown fox jumps"
    assert by_id["a-new"]["author (source)"] == ""  # not a changed key of that record
    assert by_id["e-notext"]["error"].startswith("no text")


# --- namespace page --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_namespace_page_shows_sync_state_last_runs_and_a_chart(
    auditor_client: Client, mirror: Mirror
) -> None:
    before = auditor_client.get(
        reverse("admin:syncapp_namespace_overview", args=[mirror.namespace.pk])
    ).content.decode()
    assert "Unknown" in before and "No mirror has run yet" in before

    analysis = execute(mirror, "analyze")
    page = auditor_client.get(
        reverse("admin:syncapp_namespace_overview", args=[mirror.namespace.pk])
    ).content.decode()
    assert "Out of sync" in page and f"run #{analysis.pk}" in page

    mirrored = execute(mirror)
    page = auditor_client.get(
        reverse("admin:syncapp_namespace_overview", args=[mirror.namespace.pk])
    ).content.decode()
    assert "In sync" in page and f"Verified after mirror #{mirrored.pk}" in page
    svg = re.search(r'<svg class="sync-chart".*?</svg>', page, re.S)
    assert svg is not None
    chart = svg.group(0)
    assert chart.count('class="chart-run"') == 1  # analyses are not charted
    assert f"Run #{mirrored.pk}" in chart and "2 migrated, 1 updated, 0 failed" in chart
    assert 'class="chart-migrated"' in chart
    assert "<script" not in chart and "http://" not in chart.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert f"#{analysis.pk}" in page  # in the last runs table
    assert "Analyze" not in page.split('<ul class="object-tools">')[1].split("</ul>")[0]


@pytest.mark.django_db
def test_the_chart_covers_the_last_30_mirrors(
    auditor_client: Client, bare_namespace: object
) -> None:
    for i in range(35):
        make_run(bare_namespace, status=RunStatus.SUCCEEDED, successfully_migrated=i)
    make_run(bare_namespace, status=RunStatus.SKIPPED)
    page = auditor_client.get(
        reverse("admin:syncapp_namespace_overview", args=[bare_namespace.pk])  # type: ignore[attr-defined]
    ).content.decode()
    assert page.count('class="chart-run"') == 30
    assert "Records written by the last 30 mirrors" in page
    assert "34 migrated" in page and ", 4 migrated" not in page


def test_csv_text_cells_cannot_run_as_spreadsheet_formulas() -> None:
    from syncapp.admin.runs import _text_cell

    assert _text_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _text_cell("@SUM(A1)") == "'@SUM(A1)"
    assert _text_cell("-1+2") == "'-1+2"
    assert _text_cell("kb-api-00012") == "kb-api-00012"
