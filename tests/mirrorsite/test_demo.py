"""`make demo`'s main job, end to end, as a new user runs it (without the web server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ports import free_port_run

ROOT = Path(__file__).resolve().parents[2]


def stat(section: str, label: str) -> int:
    match = re.search(rf"^{re.escape(label)}\s+([\d,]+)$", section, re.MULTILINE)
    assert match, f"{label!r} not in:\n{section}"
    return int(match.group(1).replace(",", ""))


@pytest.mark.slow
def test_the_demo_mirrors_the_sample_and_converges(tmp_path: Path) -> None:
    pinecone_port = free_port_run(3)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DEMO_PINECONE_PORT": str(pinecone_port),
        "DEMO_GEMINI_PORT": str(free_port_run(1)),
        "DEMO_WEB_PORT": str(free_port_run(1)),
    }
    result = subprocess.run(
        [sys.executable, "-m", "mirrorsite.demo", "--no-serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sections = result.stdout.split("\n=== ")[1:]
    assert [s.split(" ===")[0] for s in sections] == [
        "1. Analysis (read-only)",
        "2. Mirror, dry run (writes and embeds nothing)",
        "3. Mirror",
        "4. Mirror again (converged: zero writes, zero embeddings)",
    ]
    analysis, dry_run, mirror, again = sections
    # The sample's design (syncapp.services.demo.DemoPlan): 240 new records, 150 + 60 changed
    # (metadata / text), 15 without text, 12 orphans.
    assert stat(analysis, "Source records") == 3000
    assert stat(analysis, "Would migrate (analysis / dry run)") == 240
    assert stat(analysis, "Would update (analysis / dry run)") == 210
    assert stat(analysis, "Skipped: no text") == 15
    assert stat(analysis, "Orphans in target (untouched)") == 12
    assert stat(dry_run, "Would migrate (analysis / dry run)") == 240
    assert stat(mirror, "Migrated") == 240
    assert stat(mirror, "Updated") == 210
    assert stat(mirror, "Texts embedded") == 300  # 240 new + 60 rewritten texts
    assert stat(mirror, "Vectors reused (metadata-only updates)") == 150
    assert "Verification: IN SYNC" in mirror
    for label in ("Records written", "Texts embedded", "Target write requests", "Migrated"):
        assert stat(again, label) == 0
    # What still differs or is missing is exactly the records whose source has no text.
    assert stat(again, "Metadata differs") + stat(again, "Missing in target") == stat(
        again, "Skipped: no text"
    )
    assert "Verification: IN SYNC" in again
