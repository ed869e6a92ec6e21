"""Settings for the test suite: the project's own, with a throwaway SECRET_KEY and django-q2
tasks run inline.

pytest-django imports settings before any conftest runs, so the key has to be supplied here
rather than in a fixture. DATABASE_URL still comes from the environment (PostgreSQL in CI).
django-q2 reads `Q_CLUSTER["sync"]` once, when `django_q.conf` is first imported, so
`override_settings` cannot switch it: it is set here, in the settings module itself. (Not via
the Q_SYNC variable: that would leak into processes the tests start, such as the demo.)
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-insecure-secret-key")

from mirrorsite.settings import *  # noqa: F403

Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's default in-memory test database. The in-memory one is shared
    # between threads through SQLite's shared cache, which locks per table and ignores the
    # busy timeout: two threads writing at once (tests of concurrent requests) fail at once
    # with "database table is locked". A file locks the way the web server and the django-q2
    # workers do in production (WAL, IMMEDIATE transactions, busy timeout: see settings.py).
    # One file per test process, so two suites run at once in one checkout do not collide.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")  # noqa: F405
    }
