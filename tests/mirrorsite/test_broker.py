"""django-q2's broker: the ORM on the default database out of the box, Redis with REDIS_URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django; django.setup();"
    "from django_q.brokers import get_broker; b = get_broker();"
    "print(type(b).__name__);"
    "b.enqueue('probe'); task = b.dequeue(); body = task[0][1];"
    "print(body.decode() if isinstance(body, bytes) else body);"
    "b.acknowledge(task[0][0]); b.purge_queue()"
)


def broker_probe(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "ENV_FILE": os.devnull,
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "mirrorsite.settings",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_the_orm_broker_is_the_default(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "ENV_FILE": os.devnull, "DEBUG": "true", "DATABASE_URL": database},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    assert broker_probe({"DATABASE_URL": database}) == ["ORM", "probe"]


@pytest.mark.skipif(
    not redis_is_up() and not os.environ.get("CI"), reason="no Redis on 127.0.0.1:6379"
)
def test_redis_url_switches_the_broker_to_redis(tmp_path: Path) -> None:
    assert broker_probe(
        {"REDIS_URL": "redis://127.0.0.1:6379/15", "DATABASE_URL": f"sqlite:///{tmp_path}/x"}
    ) == ["Redis", "probe"]
