"""Settings for the test suite: the project's own, with a throwaway SECRET_KEY.

pytest-django imports settings before any conftest runs, so the key has to be supplied here
rather than in a fixture. DATABASE_URL still comes from the environment (PostgreSQL in CI).
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-insecure-secret-key")

from mirrorsite.settings import *  # noqa: F403
