"""Fixtures for the admin tests: three roles, logged-in clients, and a namespace wired to the
Pinecone and Gemini emulators so that runs started from the admin really execute.

django-q2 runs tasks inline in the test suite (`Q_CLUSTER["sync"]`, tests/settings.py): a run
started from the admin is executed when its transaction commits, inside the same request. In a
`django_db` test (one transaction per test) commits never happen, so tests that need the run
executed wrap the request in `django_capture_on_commit_callbacks(execute=True)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from pinecone import Index as SdkIndex

from emulators.gemini import GeminiEmulator
from emulators.pinecone import IndexSpec, PineconeEmulator
from syncapp.models import Namespace, SyncRun
from syncapp.services.config import index_upsert, namespace_upsert
from tests.fixtures_gemini import GEMINI_TEST_KEY
from tests.fixtures_pinecone import PINECONE_RO_KEY, PINECONE_RW_KEY

SOURCE = "gflops-serverless"
TARGET = "askdona"
SOURCE_DIM = 8
TARGET_DIM = 128  # the smallest Gemini output keeps the tests fast
PINECONE_NS = "docs"
VIEW_PERMS = ("view_index", "view_namespace", "view_syncrun", "view_recorddiff")
SECRETS = (PINECONE_RW_KEY, PINECONE_RO_KEY, GEMINI_TEST_KEY)


def make_user(username: str, *, perms: tuple[str, ...] = (), superuser: bool = False) -> User:
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", "pw")
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="syncapp", codename__in=perms)
    )
    return user


@pytest.fixture
def superuser(db: None) -> User:
    return make_user("root", superuser=True)


@pytest.fixture
def operator(db: None) -> User:
    """Staff who may look at everything and start, cancel and resume runs."""
    return make_user("operator", perms=(*VIEW_PERMS, "start_sync"))


@pytest.fixture
def auditor(db: None) -> User:
    """Staff who may only look."""
    return make_user("auditor", perms=VIEW_PERMS)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root_client(superuser: User) -> Client:
    return client_for(superuser)


@pytest.fixture
def operator_client(operator: User) -> Client:
    return client_for(operator)


@pytest.fixture
def auditor_client(auditor: User) -> Client:
    return client_for(auditor)


def vector(seed: int, dim: int) -> list[float]:
    return [float((seed + i) % 7 + 1) / 8 for i in range(dim)]


@dataclass
class Mirror:
    """The emulators, SDK handles to seed them, and the registered namespace."""

    pinecone: PineconeEmulator
    gemini: GeminiEmulator
    namespace: Namespace

    def sdk(self, index: str) -> SdkIndex:
        return SdkIndex(host=self.pinecone.index_host(index), api_key=PINECONE_RW_KEY)

    def seed(self, index: str, records: dict[str, dict[str, Any]]) -> None:
        dim = SOURCE_DIM if index == SOURCE else TARGET_DIM
        vectors = [
            {"id": rid, "values": vector(n, dim), "metadata": meta}
            for n, (rid, meta) in enumerate(records.items())
        ]
        self.sdk(index).upsert(vectors=vectors, namespace=PINECONE_NS)

    def seed_sample(self) -> None:
        """Two new records, one with changed metadata and text, one unchanged, one without
        text, and an orphan in the target."""
        self.seed(
            SOURCE,
            {
                "a-new": {"text": "a brand new article", "author": "ana"},
                "b-new": {"text": "another new one", "author": "bruno"},
                "c-changed": {"text": "the quick brown fox jumps", "author": "chen"},
                "d-same": {"text": "unchanged text", "author": "dara"},
                "e-notext": {"author": "eli"},
            },
        )
        self.seed(
            TARGET,
            {
                "c-changed": {
                    "text": "the slow brown fox sleeps",
                    "author": "old",
                    "clearance_level": "internal",
                },
                "d-same": {
                    "text": "unchanged text",
                    "author": "dara",
                    "clearance_level": "internal",
                },
                "z-orphan": {"text": "only here", "clearance_level": "internal"},
            },
        )
        self.pinecone.reset_stats()  # count only what runs do


@pytest.fixture
def make_mirror(
    db: None,
    make_pinecone_emulator: Callable[..., PineconeEmulator],
    make_gemini_emulator: Callable[..., GeminiEmulator],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> Callable[..., Mirror]:
    def make(name: str = "docs", **options: Any) -> Mirror:
        pinecone = make_pinecone_emulator(
            indexes=[IndexSpec(SOURCE, SOURCE_DIM), IndexSpec(TARGET, TARGET_DIM)]
        )
        gemini = make_gemini_emulator()
        monkeypatch.setenv("PINECONE_API_KEY", PINECONE_RW_KEY)
        monkeypatch.setenv("PINECONE_SOURCE_API_KEY", PINECONE_RO_KEY)
        monkeypatch.setenv("GEMINI_API_KEY", GEMINI_TEST_KEY)
        settings.PINECONE_CONTROLLER_HOST = pinecone.control_url
        settings.GEMINI_BASE_URL = gemini.base_url
        index_upsert(name=SOURCE)
        index_upsert(name=TARGET)
        namespace, _ = namespace_upsert(
            name=name,
            source_index=SOURCE,
            target_index=TARGET,
            source_namespace=PINECONE_NS,
            clearance_level="internal",
            embedding_dimension=TARGET_DIM,
            **options,
        )
        return Mirror(pinecone=pinecone, gemini=gemini, namespace=namespace)

    return make


@pytest.fixture
def mirror(make_mirror: Callable[..., Mirror]) -> Iterator[Mirror]:
    """Namespace `docs` mirroring gflops-serverless/docs into askdona/docs, seeded with the
    sample records, keys set in the environment."""
    m = make_mirror()
    m.seed_sample()
    yield m


def make_run(namespace: Namespace, **fields: Any) -> SyncRun:
    """A run row in any state, without executing anything."""
    fields.setdefault("kind", "mirror")
    fields.setdefault("trigger", "command")
    return SyncRun.objects.create(namespace=namespace, **fields)


@pytest.fixture
def bare_namespace(db: None) -> Namespace:
    """A namespace with no emulators behind it: for pages and rules that never execute."""
    index_upsert(name=SOURCE)
    index_upsert(name=TARGET)
    namespace, _ = namespace_upsert(
        name="plain",
        source_index=SOURCE,
        target_index=TARGET,
        source_namespace="plain",
        clearance_level="internal",
    )
    return namespace
