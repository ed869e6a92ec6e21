"""The control plane: describe_index / list_indexes in the shapes the SDK parses."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pinecone import Pinecone
from pinecone.errors import NotFoundError
from pinecone.models.indexes.schema import DenseVectorField

from emulators.pinecone import IndexSpec, PineconeEmulator
from tests.fixtures_pinecone import PINECONE_RW_KEY


def test_describe_index_in_the_2026_07_shape(
    pinecone_emulator: PineconeEmulator, pinecone_client: Pinecone
) -> None:
    model = pinecone_client.describe_index("dst")

    assert model.name == "dst"
    assert model.host == pinecone_emulator.index_host("dst")
    assert model.host.startswith("http://127.0.0.1:")
    assert model.status.ready is True and model.status.state == "Ready"
    assert model.deletion_protection == "disabled"
    assert model.deployment.cloud == "aws" and model.deployment.region == "us-east-1"
    field = model.schema.fields["_values"]
    assert isinstance(field, DenseVectorField)
    assert (field.dimension, field.metric) == (16, "cosine")
    # The 9.x-style accessors resolve through the single dense field.
    assert (model.dimension, model.metric) == (16, "cosine")


def test_list_indexes(pinecone_client: Pinecone) -> None:
    indexes = pinecone_client.list_indexes()

    assert indexes.names() == ["src", "dst"]
    assert pinecone_client.has_index("src") and not pinecone_client.has_index("nope")


def test_index_by_name_talks_plain_http_to_the_data_plane(
    pinecone_emulator: PineconeEmulator, pinecone_client: Pinecone
) -> None:
    idx = pinecone_client.Index(name="dst")

    idx.upsert(vectors=[("a", [0.5] * 16)])

    assert idx.host == pinecone_emulator.index_host("dst")
    assert pinecone_emulator.vector_count("dst") == 1


def test_an_unknown_index_is_not_found(pinecone_client: Pinecone) -> None:
    with pytest.raises(NotFoundError) as caught:
        pinecone_client.describe_index("nope")
    with pytest.raises(NotFoundError):
        pinecone_client.Index(name="nope")

    assert caught.value.body == {
        "error": {"code": "NOT_FOUND", "message": "Index nope not found."},
        "status": 404,
    }


def test_the_2026_04_api_version_gets_the_older_shape(pinecone_emulator: PineconeEmulator) -> None:
    response = httpx.get(
        pinecone_emulator.control_url + "/indexes/src",
        headers={"Api-Key": PINECONE_RW_KEY, "X-Pinecone-Api-Version": "2026-04"},
    )

    body = response.json()
    assert body["dimension"] == 8 and body["metric"] == "cosine"
    assert body["vector_type"] == "dense"
    assert body["spec"]["serverless"]["region"] == "us-east-1"
    assert "schema" not in body and "deployment" not in body


def test_metric_cloud_region_and_tags_come_from_the_spec(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(
        indexes=[
            IndexSpec("euclid", 4, "euclidean", cloud="gcp", region="europe-west4", tags={"a": "b"})
        ]
    )
    model = Pinecone(api_key=PINECONE_RW_KEY, host=emulator.control_url).describe_index("euclid")

    assert model.schema.fields["_values"].metric == "euclidean"
    assert (model.deployment.cloud, model.deployment.region) == ("gcp", "europe-west4")
    assert dict(model.tags or {}) == {"a": "b"}


def test_index_specs_are_validated() -> None:
    with pytest.raises(ValueError, match="invalid index name"):
        IndexSpec("Bad_Name", 8)
    with pytest.raises(ValueError, match="dimension"):
        IndexSpec("ok", 0)
    with pytest.raises(ValueError, match="metric"):
        IndexSpec("ok", 8, "manhattan")
    with pytest.raises(ValueError, match="duplicate"):
        PineconeEmulator(indexes=[IndexSpec("a", 1), IndexSpec("a", 2)])
