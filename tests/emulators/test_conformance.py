"""The emulator's raw JSON answers conform to Pinecone's official OpenAPI specifications.

The specifications (`pinecone-db-data-2026-04.oas.yaml`, `pinecone-db-control-2026-04.oas.yaml`,
Apache-2.0) are read at test time from `shared/reference` beside the checkout; they are not
copied into the project. Each response is validated against the schema the specification
documents for that operation and status (falling back to its `4XX`/`5XX` entry), with
`$ref`s resolved, OpenAPI 3.0 semantics and format checks (`int32`, `float`, ...).

Every response is validated twice: against the schemas as published, and against a copy in
which each object schema that lists its `properties` admits no others. The second pass catches
a misspelt or undocumented field (`upserted_count` for `upsertedCount`) that the published
schemas, which leave `additionalProperties` open, would let through. Nothing is loosened.

Two answers are deliberately not JSON although the specification's `4XX` says `rpcStatus`: the
real gateway answers 401 and rate-limit 429 in plain text (observed, FACTS.md), and so does the
emulator; `test_auth_and_rate_limit_answers_are_plain_text` pins that.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from emulators.pinecone import IndexSpec, PineconeEmulator
from tests.fixtures_pinecone import PINECONE_RO_KEY, PINECONE_RW_KEY

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
DATA_SPEC = REFERENCE / "pinecone-db-data-2026-04.oas.yaml"
CONTROL_SPEC = REFERENCE / "pinecone-db-control-2026-04.oas.yaml"
API_VERSION = "2026-04"


def _forbid_undocumented_properties(node: Any) -> None:
    """In place: every object schema that lists `properties` gets `additionalProperties: false`
    unless it says something about additional properties itself."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _forbid_undocumented_properties(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_undocumented_properties(value)


class SpecChecker:
    """Validates HTTP responses against one OpenAPI document."""

    def __init__(self, path: Path) -> None:
        self.spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        strict = copy.deepcopy(self.spec)
        _forbid_undocumented_properties(strict["components"]["schemas"])
        self.documents = {"urn:published": self.spec, "urn:strict": strict}
        self.registry: Registry[Any] = Registry().with_resources(
            (uri, Resource.from_contents(document, default_specification=DRAFT4))
            for uri, document in self.documents.items()
        )

    def schema_ref(self, path: str, method: str, status: int) -> str:
        try:
            responses = self.spec["paths"][path][method]["responses"]
        except KeyError:
            raise AssertionError(f"the specification has no {method.upper()} {path}") from None
        entry = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        assert entry is not None, f"{method.upper()} {path} documents no {status} response"
        ref: str = entry["content"]["application/json"]["schema"]["$ref"]
        return ref

    def errors(self, body: Any, ref: str) -> list[str]:
        found: list[str] = []
        for uri in self.documents:
            validator = OAS30ReadValidator(
                {"$ref": uri + ref}, registry=self.registry, format_checker=oas30_format_checker
            )
            for error in validator.iter_errors(body):
                where = "/".join(str(p) for p in error.absolute_path) or "<body>"
                found.append(f"[{uri}] {where}: {error.message}")
        return found

    def check(self, response: httpx.Response, path: str, method: str) -> Any:
        """Assert the response conforms; return its decoded body."""
        assert response.headers["content-type"].startswith("application/json"), (
            response.status_code,
            response.text[:200],
        )
        body = response.json()
        ref = self.schema_ref(path, method, response.status_code)
        problems = self.errors(body, ref)
        assert not problems, f"{method.upper()} {path} -> {response.status_code} vs {ref}:\n" + (
            "\n".join(problems)
        )
        return body


@pytest.fixture(scope="module")
def data_spec() -> SpecChecker:
    if not DATA_SPEC.is_file():
        pytest.skip(
            f"Pinecone's data-plane OpenAPI specification is not at {DATA_SPEC}: the "
            "conformance test reads it from shared/reference beside the checkout"
        )
    return SpecChecker(DATA_SPEC)


@pytest.fixture(scope="module")
def control_spec() -> SpecChecker:
    if not CONTROL_SPEC.is_file():
        pytest.skip(
            f"Pinecone's control-plane OpenAPI specification is not at {CONTROL_SPEC}: the "
            "conformance test reads it from shared/reference beside the checkout"
        )
    return SpecChecker(CONTROL_SPEC)


@pytest.fixture
def hybrid(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> Iterator[tuple[PineconeEmulator, httpx.Client]]:
    """A dotproduct index (so sparse values appear in answers too) and a raw HTTP client."""
    emulator = make_pinecone_emulator(indexes=[IndexSpec("conf", 4, "dotproduct")])
    with httpx.Client(
        base_url=emulator.index_host("conf"),
        headers={"Api-Key": PINECONE_RW_KEY, "X-Pinecone-Api-Version": API_VERSION},
    ) as client:
        yield emulator, client


def test_vector_operations_conform(
    data_spec: SpecChecker, hybrid: tuple[PineconeEmulator, httpx.Client]
) -> None:
    _, client = hybrid
    check = data_spec.check
    vectors = [
        {"id": f"v{n}", "values": [n + 1.0, 0.5, -0.25, 2.0], "metadata": {"n": n, "g": "x"}}
        for n in range(5)
    ]
    vectors.append({"id": "plain", "values": [0.1, 0.2, 0.3, 0.4]})
    vectors.append(
        {"id": "sparse", "values": [1, 1, 1, 1], "sparseValues": {"indices": [3], "values": [1.5]}}
    )

    body = check(client.post("/vectors/upsert", json={"vectors": vectors, "namespace": "ns"}),
                 "/vectors/upsert", "post")  # fmt: skip
    assert body == {"upsertedCount": 7}

    first = check(client.get("/vectors/list", params={"namespace": "ns", "limit": 3}),
                  "/vectors/list", "get")  # fmt: skip
    assert first["pagination"]["next"]
    last = check(
        client.get("/vectors/list", params={"namespace": "ns", "limit": 100,
                   "paginationToken": first["pagination"]["next"]}),
        "/vectors/list", "get",
    )  # fmt: skip
    assert "pagination" not in last

    fetched = check(
        client.get("/vectors/fetch", params={"ids": ["v1", "plain", "sparse", "absent"],
                   "namespace": "ns"}),
        "/vectors/fetch", "get",
    )  # fmt: skip
    assert set(fetched["vectors"]) == {"v1", "plain", "sparse"}
    assert fetched["vectors"]["v1"]["metadata"] == {"n": 1.0, "g": "x"}

    page = check(
        client.post("/vectors/fetch_by_metadata",
                    json={"namespace": "ns", "filter": {"g": "x"}, "limit": 2}),
        "/vectors/fetch_by_metadata", "post",
    )  # fmt: skip
    assert len(page["vectors"]) == 2 and page["pagination"]["next"]

    for request in (
        {"id": "v1", "setMetadata": {"extra": True}, "namespace": "ns"},
        {"id": "v2", "values": [9, 9, 9, 9], "namespace": "ns"},
        {"filter": {"n": {"$gte": 3}}, "setMetadata": {"late": True}, "namespace": "ns"},
        {"filter": {"n": {"$gte": 3}}, "setMetadata": {"x": 1}, "namespace": "ns",
         "dryRun": True},
    ):  # fmt: skip
        check(client.post("/vectors/update", json=request), "/vectors/update", "post")

    for request in (
        {"vector": [1, 0, 0, 0], "topK": 3, "namespace": "ns"},
        {"vector": [1, 0, 0, 0], "topK": 10, "namespace": "ns", "includeValues": True,
         "includeMetadata": True, "filter": {"g": {"$eq": "x"}}},
        {"id": "sparse", "topK": 2, "namespace": "ns", "includeValues": True},
        {"sparseVector": {"indices": [3], "values": [1.0]}, "vector": [1, 1, 1, 1], "topK": 2,
         "namespace": "ns", "includeValues": True, "includeMetadata": True},
        {"vector": [1, 0, 0, 0], "topK": 3, "namespace": "nothing-here"},
    ):  # fmt: skip
        check(client.post("/query", json=request), "/query", "post")

    stats = check(client.post("/describe_index_stats", json={}), "/describe_index_stats", "post")
    assert stats["namespaces"] == {"ns": {"vectorCount": 7}}

    for request in (
        {"ids": ["v0"], "namespace": "ns"},
        {"filter": {"n": 4}, "namespace": "ns"},
        {"deleteAll": True, "namespace": "ns"},
    ):
        assert check(client.post("/vectors/delete", json=request), "/vectors/delete", "post") == {}


def test_namespace_operations_conform(
    data_spec: SpecChecker, hybrid: tuple[PineconeEmulator, httpx.Client]
) -> None:
    _, client = hybrid
    check = data_spec.check
    client.post("/vectors/upsert", json={"vectors": [{"id": "a", "values": [1, 2, 3, 4]}]})
    for name in ("alpha", "beta", "gamma"):
        client.post(
            "/vectors/upsert",
            json={"vectors": [{"id": "a", "values": [1, 2, 3, 4]}], "namespace": name},
        )

    created = check(
        client.post("/namespaces", json={"name": "made",
                    "schema": {"fields": {"genre": {"filterable": True}}}}),
        "/namespaces", "post",
    )  # fmt: skip
    assert created["record_count"] == 0
    first = check(client.get("/namespaces", params={"limit": 2}), "/namespaces", "get")
    assert first["total_count"] == 5 and first["pagination"]["next"]
    token = first["pagination"]["next"]
    rest = check(
        client.get("/namespaces", params={"limit": 10, "paginationToken": token}),
        "/namespaces",
        "get",
    )
    assert "pagination" not in rest
    check(client.get("/namespaces/__default__"), "/namespaces/{namespace}", "get")
    check(client.get("/namespaces/made"), "/namespaces/{namespace}", "get")
    check(client.delete("/namespaces/beta"), "/namespaces/{namespace}", "delete")


@pytest.mark.parametrize(
    ("method", "path", "spec_path", "request_kwargs", "status"),
    [
        ("post", "/vectors/upsert", "/vectors/upsert",
         {"json": {"vectors": [{"id": "a", "values": [1, 2]}]}}, 400),
        ("post", "/vectors/upsert", "/vectors/upsert",
         {"json": {"vectors": [{"id": "z", "values": [0, 0, 0, 0]}]}}, 400),
        ("post", "/vectors/upsert", "/vectors/upsert", {"content": b"{" * (2 * 1024 * 1024 + 1)},
         413),
        ("post", "/vectors/upsert", "/vectors/upsert", {"content": b"not json"}, 400),
        ("get", "/vectors/list", "/vectors/list", {"params": {"limit": 0}}, 400),
        ("get", "/vectors/fetch", "/vectors/fetch", {}, 400),
        ("get", "/vectors/fetch", "/vectors/fetch",
         {"params": {"ids": [str(n) for n in range(1001)]}}, 400),
        ("post", "/query", "/query", {"json": {"topK": 1, "vector": [1, 2, 3, 4],
                                               "filter": {"a": {"$bad": 1}}}}, 400),
        ("post", "/vectors/update", "/vectors/update",
         {"json": {"id": "missing", "setMetadata": {"a": 1}}}, 404),
        ("post", "/vectors/delete", "/vectors/delete",
         {"json": {"ids": ["a"], "namespace": "no-such-namespace"}}, 404),
        ("post", "/describe_index_stats", "/describe_index_stats",
         {"json": {"filter": {"a": 1}}}, 400),
        ("get", "/namespaces/nope", "/namespaces/{namespace}", {}, 404),
        ("delete", "/namespaces/nope", "/namespaces/{namespace}", {}, 404),
        ("post", "/namespaces", "/namespaces", {"json": {"name": "__default__"}}, 400),
    ],
)  # fmt: skip
def test_error_answers_conform(
    data_spec: SpecChecker,
    hybrid: tuple[PineconeEmulator, httpx.Client],
    method: str,
    path: str,
    spec_path: str,
    request_kwargs: dict[str, Any],
    status: int,
) -> None:
    _, client = hybrid

    response = client.request(method.upper(), path, **request_kwargs)

    assert response.status_code == status, response.text
    body = data_spec.check(response, spec_path, method)
    assert body["details"] == [] and body["message"]


def test_read_only_refusal_conforms(
    data_spec: SpecChecker, hybrid: tuple[PineconeEmulator, httpx.Client]
) -> None:
    emulator, _ = hybrid
    response = httpx.post(
        emulator.index_host("conf") + "/vectors/upsert",
        headers={"Api-Key": PINECONE_RO_KEY},
        json={"vectors": [{"id": "a", "values": [1, 2, 3, 4]}]},
    )

    assert response.status_code == 403
    assert data_spec.check(response, "/vectors/upsert", "post")["code"] == 7


def test_auth_and_rate_limit_answers_are_plain_text(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(rate_limits={"list": 0.5})
    url = emulator.index_host("src") + "/vectors/list"

    unauthorized = httpx.get(url, headers={"Api-Key": "wrong"})
    httpx.get(url, headers={"Api-Key": PINECONE_RW_KEY})
    limited = httpx.get(url, headers={"Api-Key": PINECONE_RW_KEY})

    assert (unauthorized.status_code, unauthorized.text) == (401, "Unauthorized")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    for response in (unauthorized, limited):
        assert response.headers["content-type"].startswith("text/plain")


def test_the_control_plane_conforms_to_the_2026_04_specification(
    control_spec: SpecChecker, pinecone_emulator: PineconeEmulator
) -> None:
    headers = {"Api-Key": PINECONE_RW_KEY, "X-Pinecone-Api-Version": API_VERSION}
    base = pinecone_emulator.control_url

    listed = control_spec.check(httpx.get(base + "/indexes", headers=headers), "/indexes", "get")
    described = control_spec.check(
        httpx.get(base + "/indexes/src", headers=headers), "/indexes/{index_name}", "get"
    )
    missing = httpx.get(base + "/indexes/nope", headers=headers)
    unauthorized = httpx.get(base + "/indexes/src", headers={**headers, "Api-Key": "wrong"})

    assert [index["name"] for index in listed["indexes"]] == ["src", "dst"]
    assert described["host"] == pinecone_emulator.index_host("src")
    assert missing.status_code == 404 and unauthorized.status_code == 401
    control_spec.check(missing, "/indexes/{index_name}", "get")
    control_spec.check(unauthorized, "/indexes/{index_name}", "get")


def test_the_checker_is_not_vacuous(data_spec: SpecChecker) -> None:
    ref = data_spec.schema_ref("/vectors/upsert", "post", 200)
    assert data_spec.errors({"upsertedCount": 1}, ref) == []
    assert data_spec.errors({"upsertedCount": "1"}, ref)  # wrong type
    assert data_spec.errors({"upserted_count": 1}, ref)  # undocumented (misspelt) field
    fetch_ref = data_spec.schema_ref("/vectors/fetch", "get", 200)
    assert data_spec.errors({"vectors": {"a": {"values": [1.0]}}}, fetch_ref)  # id missing
    stats_ref = data_spec.schema_ref("/describe_index_stats", "post", 200)
    assert data_spec.errors({"dimension": 2**40}, stats_ref) == []  # int64
    assert data_spec.errors({"namespaces": {"": {"vectorCount": "3"}}}, stats_ref)
