"""Settings come from the environment and refuse unsafe combinations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the real settings module in a clean interpreter with exactly `env`."""
    code = (
        "import json, mirrorsite.settings as s;"
        "print(json.dumps({'debug': s.DEBUG, 'db': s.DATABASES['default']['ENGINE'],"
        " 'name': str(s.DATABASES['default']['NAME']), 'hosts': s.ALLOWED_HOSTS,"
        " 'pinecone': s.PINECONE_CONTROLLER_HOST, 'gemini': s.GEMINI_BASE_URL}))"
    )
    base = {"PATH": os.environ.get("PATH", ""), "ENV_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_it_requires_a_secret_key_unless_debug() -> None:
    result = load_settings({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_allows_a_missing_secret_key_in_debug() -> None:
    result = load_settings({"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert '"debug": true' in result.stdout


def test_it_defaults_to_sqlite_under_var() -> None:
    result = load_settings({"SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout
    assert str(ROOT / "var" / "db.sqlite3") in result.stdout


def test_it_reads_database_url_and_service_settings() -> None:
    result = load_settings(
        {
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/somedb",
            "ALLOWED_HOSTS": "a.example,b.example",
            "PINECONE_CONTROLLER_HOST": "http://127.0.0.1:5080",
            "GEMINI_BASE_URL": "http://127.0.0.1:5090",
        }
    )
    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout
    assert '"name": "somedb"' in result.stdout
    assert '["a.example", "b.example"]' in result.stdout
    assert "http://127.0.0.1:5080" in result.stdout and "http://127.0.0.1:5090" in result.stdout
