"""Settings, all read from the environment (or a git-ignored `.env`) through django-environ.

Every variable is documented in `.env.example`. API keys are deliberately NOT copied into
settings: the adapters read the environment variable an index names at the moment they build a
client (see `syncapp/clients/`), so a key never sits in `settings`, the database or a page.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # git-ignored: the default SQLite file, collected static files

env = environ.Env()
# A local `.env` (or the file ENV_FILE names) fills in variables the real environment does not
# set; the environment wins.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)

SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment or in .env "
            "(or DEBUG=true for local development only)."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-true"

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "syncapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mirrorsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "mirrorsite.wsgi.application"

# SQLite is the zero-setup default for `make demo`; CI and production use PostgreSQL
# (DATABASE_URL=postgres://...).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the django-q2 workers share the file: WAL lets readers and a writer
    # work at once, IMMEDIATE transactions plus a busy timeout avoid "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))

# --- Cache -------------------------------------------------------------------------------
# A database cache, not the default local-memory one: django-q2 keeps its cluster status in the
# cache, and `qinfo`, `qmonitor` and the run page (is a worker alive?) read it from other
# processes. The table is created by migration syncapp 0003 (`createcachetable`); run
# `python manage.py createcachetable` again only if you rename it here.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
    }
}

# --- Background runs (django-q2) -----------------------------------------------------------
# A run may take hours (10 M records at Pinecone's rate limits). django-q2 kills a task after
# `timeout` seconds and presents a task that was not acknowledged again after `retry` seconds,
# so `retry` must exceed `timeout` (plus the time a timed-out worker takes to record its
# failure) or a long run would be started a second time while it still runs.
Q_TIMEOUT: int = env.int("Q_TIMEOUT", default=6 * 3600)
if Q_TIMEOUT < 60:
    raise ImproperlyConfigured("Q_TIMEOUT is in seconds and must be at least 60.")
REDIS_URL: str = env.str("REDIS_URL", default="")
Q_CLUSTER: dict[str, object] = {
    "name": "pinecone-mirror",
    "label": "Background tasks",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 600,
    # A task that raised is tried once more, then left in "Failed tasks". Runs record their own
    # failures and do not raise, so this only bounds bugs. A worker killed mid-run (OOM,
    # deploy) does not count: its task comes back after `retry` and resumes the run.
    "max_attempts": 2,
    # One task per fetch and a short local queue: a worker holds one long run, and queued
    # runs stay in the broker, where another cluster (or a restarted one) can take them.
    "bulk": 1,
    "queue_limit": 2,
    # A schedule missed while no cluster ran starts one mirror, not one per missed slot.
    "catch_up": False,
    "save_limit": 500,
    "cache": "default",
    # Tasks run inline, in the calling process: the test suite sets Q_SYNC (tests/settings.py).
    # django-q2 reads this once, when django_q.conf is first imported.
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    # django-q2 passes a string to redis.from_url (needs the `redis` package installed).
    Q_CLUSTER["redis"] = REDIS_URL
else:
    # Without a broker key django-q2 silently picks Redis on localhost: name the ORM broker.
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1.0  # seconds between broker polls; a run lasts minutes, not ms

# A running run's worker writes `heartbeat_at` every SYNC_HEARTBEAT_INTERVAL seconds (from a
# thread of its own, so a long listing or a slow batch does not look like a dead worker). A run
# whose heartbeat is older than SYNC_STALE_AFTER seconds is shown as stale and can be resumed.
SYNC_HEARTBEAT_INTERVAL: int = env.int("SYNC_HEARTBEAT_INTERVAL", default=15)
SYNC_STALE_AFTER: int = env.int("SYNC_STALE_AFTER", default=120)
if SYNC_STALE_AFTER < 3 * SYNC_HEARTBEAT_INTERVAL:
    raise ImproperlyConfigured(
        "SYNC_STALE_AFTER must be at least three SYNC_HEARTBEAT_INTERVALs, or a busy database "
        "would make a live run look dead."
    )

# --- External services -------------------------------------------------------------------
# Where the Pinecone SDK finds the control plane (describe_index resolves index hosts). Empty
# means Pinecone's own; `make demo` and the tests point it at the local emulator.
PINECONE_CONTROLLER_HOST: str = env.str("PINECONE_CONTROLLER_HOST", default="")
# Base URL of the Gemini API. Empty means Google's own; the demo points it at the emulator.
GEMINI_BASE_URL: str = env.str("GEMINI_BASE_URL", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # httpx logs every request line at INFO; that is noise in a run of 10,000 requests.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # google-genai's HTTP client, same noise
        "httpcore2": {"level": "WARNING"},
        # The SDK logs each call at INFO ("Fetching 100 vectors"): the run log says it better.
        "pinecone": {"level": "WARNING"},
        "google_genai": {"level": "WARNING"},
    },
}
