"""The engine is plain Python: no Django, no SDK, importable anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
for blocked in ("django", "pinecone", "google", "google.genai", "httpx", "numpy"):
    sys.modules[blocked] = None  # any import of these now raises ImportError
import pkgutil, importlib, syncengine
for module in pkgutil.iter_modules(syncengine.__path__):
    importlib.import_module(f"syncengine.{module.name}")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "pinecone", "google"))
assert all(sys.modules[m] is None for m in loaded), loaded
print("ok")
"""


def test_syncengine_imports_without_django_or_any_sdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_engine_sources_do_not_mention_django_or_sdk_imports() -> None:
    for path in (ROOT / "syncengine").glob("*.py"):
        text = path.read_text()
        for forbidden in ("import django", "from django", "import pinecone", "from google"):
            assert forbidden not in text, f"{path.name}: {forbidden}"
