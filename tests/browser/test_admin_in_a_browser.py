"""The admin as a person uses it: a real Chromium, driven by Playwright, against the whole demo
stack (`python -m mirrorsite.demo --skip-job`: emulators, django-q2 cluster, web server), each in
its own process as `make demo` runs them.

The numbers the pages show are checked against what the emulators actually hold, read back
through the Pinecone SDK.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pinecone import Pinecone

from tests.ports import free_port_run

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NAMESPACE = "kb-articles"
RW_KEY = "local-pinecone-key"  # the demo emulator's read-write key (mirrorsite.demo)
# The README's screenshot is refreshed only on request (UPDATE_SCREENSHOT=1), so that running
# the tests does not change the work tree; otherwise it goes to the git-ignored var/.
SCREENSHOT = (
    ROOT / "docs" / "run-page.png"
    if os.environ.get("UPDATE_SCREENSHOT")
    else ROOT / "var" / "run-page.png"
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium for the browser tests: `make chromium` installs it")
    pytest.skip(
        "chromium is not installed (`make chromium` or apt-get install chromium)",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Stack:
    admin_url: str
    password: str
    pinecone: Pinecone


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"demo never printed {pattern!r}; output:\n{''.join(seen[-60:])}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    pinecone_port = free_port_run(3)
    web_port = free_port_run(1)
    database = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DEMO_PINECONE_PORT": str(pinecone_port),
        "DEMO_GEMINI_PORT": str(free_port_run(1)),
        "DEMO_WEB_PORT": str(web_port),
        # Each Pinecone request takes ~10 ms, as over a network: the mirror lasts long enough
        # for the page to show it moving.
        "DEMO_LATENCY_MS": "10",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirrorsite.demo", "--skip-job"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        password = _wait_for_line(proc, r"Password:\s+(\S+)", timeout=180).group(1)
        _wait_for_line(proc, r"Ctrl-C stops everything", timeout=30)
        pinecone = Pinecone(api_key=RW_KEY, host=f"http://127.0.0.1:{pinecone_port}")
        yield Stack(f"http://127.0.0.1:{web_port}/admin/", password, pinecone)
    finally:
        # The demo stops every process it started on SIGTERM, as on Ctrl-C.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def page(stack: Stack) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(stack.admin_url)
            page.fill("#id_username", "admin")
            page.fill("#id_password", stack.password)
            page.click("input[type=submit]")
            page.wait_for_selector("#user-tools")
            yield page
        finally:
            browser.close()


def _ids(stack: Stack, index: str) -> set[str]:
    idx = stack.pinecone.Index(name=index)
    return {item.id for page in idx.list(namespace=NAMESPACE) for item in page.vectors}


def _start(page: object, stack: Stack, action_label: str) -> str:
    """Select the demo namespace, run an action through its confirmation page; returns the URL
    of the run page it lands on."""
    page.goto(stack.admin_url + "syncapp/namespace/")
    page.locator("tr", has_text=NAMESPACE).locator("input.action-select").check()
    page.select_option("select[name=action]", label=action_label)
    page.click("button[name=index]")
    # The intermediate confirmation page: what will happen, then the start button.
    page.wait_for_selector("input[type=submit][value^='Start']")
    assert NAMESPACE in page.inner_text("#content")
    page.click("input[type=submit][value^='Start']")
    page.wait_for_url(re.compile(r"/syncrun/\d+/change/"))
    return page.url


def _stat(page: object, name: str) -> int:
    return int(page.inner_text(f"[data-stat={name}]").replace(",", "").strip())


def _wait_until_finished(page: object, timeout_ms: int = 120_000) -> None:
    page.wait_for_function(
        "document.querySelector('#sync-run').dataset.active === 'false'", timeout=timeout_ms
    )


def test_an_operator_analyses_mirrors_and_audits_a_change_in_the_browser(
    stack: Stack, page: object
) -> None:
    source_ids = _ids(stack, "gflops-serverless")
    target_before = _ids(stack, "askdona")
    navigations: list[str] = []

    # --- Analyze ---
    run_url = _start(page, stack, "Analyze selected namespaces")
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    _wait_until_finished(page)
    assert navigations == [], "the run page reloaded instead of updating itself"
    assert "Succeeded" in page.inner_text("#sync-status")
    assert _stat(page, "total_source_vectors") == len(source_ids)
    assert _stat(page, "total_target_vectors") == len(target_before)
    assert _stat(page, "missing_in_target") == len(source_ids - target_before)
    assert _stat(page, "matching_ids") == len(source_ids & target_before)
    assert _stat(page, "orphaned_in_target") == len(target_before - source_ids)
    assert run_url

    # --- Mirror, watched without reloading ---
    _start(page, stack, "Mirror selected namespaces")
    navigations.clear()
    seen_progress: set[str] = set()
    deadline = time.monotonic() + 120
    while page.get_attribute("#sync-run", "data-active") == "true":
        assert time.monotonic() < deadline, "the mirror did not finish in 2 minutes"
        seen_progress.add(page.inner_text("#sync-status"))
        page.wait_for_timeout(250)
    assert [u for u in navigations if "/syncrun/" in u] == []
    assert len(seen_progress) >= 2, "the progress shown never changed while the run went on"
    status = page.inner_text("#sync-status")
    assert "Succeeded" in status, status

    target_after = _ids(stack, "askdona")
    migrated = len((target_after - target_before) & source_ids)
    assert _stat(page, "successfully_migrated") == migrated
    assert target_after - target_before <= source_ids  # nothing but source records was added
    assert target_before - target_after == set()  # nothing was deleted: orphans stay
    assert _stat(page, "failed_migration") + _stat(page, "failed_update") == 0
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)

    # --- Audit a record whose text changed ---
    page.click("text=Browse changed records")
    page.wait_for_url(re.compile(r"/recorddiff/"))
    # Records whose text changed (filters of the list: kind "changed", text changed "yes").
    query = "kind__exact=changed&text_changed__exact=1"
    page.goto(page.url + ("&" if "?" in page.url else "?") + query)
    first = page.locator("#result_list tbody tr a").first
    record_id = first.inner_text().strip()
    first.click()
    page.wait_for_selector(".sync-worddiff")
    assert page.locator(".sync-worddiff ins").count() > 0
    source = stack.pinecone.Index(name="gflops-serverless").fetch(
        ids=[record_id], namespace=NAMESPACE
    )
    text = source.vectors[record_id].metadata["text"]
    # The word diff read without its deletions is the source's text.
    shown = page.evaluate(
        "() => { const d = document.querySelector('.sync-worddiff').cloneNode(true);"
        " d.querySelectorAll('del').forEach(e => e.remove()); return d.textContent; }"
    )
    assert " ".join(shown.split()) == " ".join(text.split())
    target = stack.pinecone.Index(name="askdona").fetch(ids=[record_id], namespace=NAMESPACE)
    assert target.vectors[record_id].metadata["text"] == text
