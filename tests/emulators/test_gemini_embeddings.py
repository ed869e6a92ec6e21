"""The Gemini emulator's vectors, batching and dimensions, through the real google-genai SDK."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import numpy as np
import pytest
from google import genai
from google.genai import errors, types

from emulators.gemini import TASK_TYPES, GeminiEmulator, embed_text, embed_texts
from tests.fixtures_gemini import GEMINI_TEST_KEY, genai_client_for

MODEL = "gemini-embedding-001"


def embed(client: genai.Client, contents: object, **config: object) -> list[list[float]]:
    response = client.models.embed_content(
        model=MODEL,
        contents=contents,  # type: ignore[arg-type]
        config=types.EmbedContentConfig(**config) if config else None,  # type: ignore[arg-type]
    )
    assert response.embeddings is not None
    return [list(embedding.values or []) for embedding in response.embeddings]


def test_it_embeds_one_text_as_the_published_function_computes_it(
    genai_client: genai.Client,
) -> None:
    [vector] = embed(genai_client, "The quick brown fox")

    assert len(vector) == 3072
    assert vector == embed_text("The quick brown fox")


def test_a_full_batch_of_100_comes_back_in_request_order(genai_client: genai.Client) -> None:
    texts = [f"document number {i}" for i in range(100)]

    vectors = embed(genai_client, texts, task_type="RETRIEVAL_DOCUMENT")

    assert len(vectors) == 100
    assert vectors == [embed_text(text) for text in texts]


def test_101_texts_are_refused_whole_because_the_sdk_does_not_split(
    gemini_emulator: GeminiEmulator, genai_client: genai.Client
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        embed(genai_client, [f"t{i}" for i in range(101)])

    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == (
        "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
    )
    # One HTTP request reached the server: the SDK sent all 101 texts at once.
    assert gemini_emulator.stats()["requests"] == {
        "total": 1,
        "ok": 0,
        "rejected": 1,
        "rate_limited": 0,
        "faults": 0,
    }


def test_the_parts_of_one_content_are_embedded_as_one_text(genai_client: genai.Client) -> None:
    content = types.Content(parts=[types.Part(text="Hello, "), types.Part(text="world")])

    [vector] = embed(genai_client, content)

    assert vector == embed_text("Hello, world")


def test_the_default_size_is_3072_and_unit_length(genai_client: genai.Client) -> None:
    [vector] = embed(genai_client, "normalised at full size")

    assert len(vector) == 3072
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_a_smaller_size_is_the_unnormalised_prefix_of_the_full_vector(
    genai_client: genai.Client,
) -> None:
    [full] = embed(genai_client, "matryoshka")
    [short] = embed(genai_client, "matryoshka", output_dimensionality=768)

    assert len(short) == 768
    assert short == full[:768]
    # Callers must normalise anything smaller than 3072 themselves, as with Google.
    assert np.linalg.norm(short) == pytest.approx(0.5, abs=0.05)
    assert short == embed_text("matryoshka", 768)


@pytest.mark.parametrize("size", [128, 1536, 3072])
def test_every_size_from_128_to_3072_is_served(genai_client: genai.Client, size: int) -> None:
    [vector] = embed(genai_client, "sized", output_dimensionality=size)

    assert len(vector) == size


@pytest.mark.parametrize("size", [127, 3073, 0, -1])
def test_a_size_outside_128_to_3072_is_a_400(genai_client: genai.Client, size: int) -> None:
    with pytest.raises(errors.ClientError) as caught:
        embed(genai_client, "sized", output_dimensionality=size)

    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert "output_dimensionality must be between 128 and 3072" in (caught.value.message or "")


def test_the_same_text_gets_the_same_vector_across_calls_and_restarts(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    first = genai_client_for(make_gemini_emulator())
    second = genai_client_for(make_gemini_emulator())

    assert embed(first, "stable") == embed(first, "stable") == embed(second, "stable")


def test_different_texts_get_unrelated_vectors(genai_client: genai.Client) -> None:
    a, b, c = embed(genai_client, ["cat", "cats", "Cat"])

    assert a != b and b != c and a != c
    # Pseudo-random, not semantic: near-identical texts are as far apart as any two.
    assert abs(float(np.dot(a, b))) < 0.1


def test_the_vector_function_is_pinned_to_known_values() -> None:
    # A change to these numbers would silently disagree with vectors already stored in a
    # Pinecone index built with the emulator: bump ALGORITHM_VERSION instead.
    assert embed_text("hello")[:3] == [0.009627399, -0.008810613, -0.004908436]


def test_embed_texts_is_the_float32_matrix_the_server_serialises() -> None:
    matrix = embed_texts(["a", "b"], 256)

    assert matrix.shape == (2, 256) and matrix.dtype == np.float32
    assert [float(x) for x in matrix[1][:4]] == pytest.approx(embed_text("b", 256)[:4])


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_both_api_versions_serve_the_same_vectors(
    gemini_emulator: GeminiEmulator, api_version: str
) -> None:
    client = genai_client_for(gemini_emulator, api_version=api_version)

    assert embed(client, "versioned") == [embed_text("versioned")]
    assert gemini_emulator.stats()["by_api_version"] == {api_version: 1}


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_every_task_type_is_accepted_and_leaves_the_vector_unchanged(
    genai_client: genai.Client, task_type: str
) -> None:
    assert embed(genai_client, "task", task_type=task_type) == [embed_text("task")]


def test_an_unknown_task_type_is_a_400_naming_the_field(genai_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        embed(genai_client, "task", task_type="SEARCH_QUERY")

    assert caught.value.code == 400
    assert caught.value.message == (
        "Invalid value at 'requests[0].task_type' "
        '(type.googleapis.com/google.ai.generativelanguage.v1.TaskType), "SEARCH_QUERY"'
    )


def test_a_title_is_accepted_with_retrieval_documents(genai_client: genai.Client) -> None:
    vectors = embed(genai_client, "body", task_type="RETRIEVAL_DOCUMENT", title="Title")

    assert vectors == [embed_text("body")]


def test_text_beyond_2048_tokens_is_cut_silently(
    gemini_emulator: GeminiEmulator, genai_client: genai.Client
) -> None:
    head = "x" * 8192

    [vector] = embed(genai_client, head + "tail that the model never sees")

    assert vector == embed_text(head)
    stats = gemini_emulator.stats()
    assert stats["truncated_texts"] == 1
    assert stats["tokens"] == 2048


def test_the_older_768_model_is_unit_length_at_768(genai_client: genai.Client) -> None:
    response = genai_client.models.embed_content(model="text-embedding-004", contents="old")

    assert response.embeddings is not None
    values = response.embeddings[0].values or []
    assert len(values) == 768
    assert np.linalg.norm(values) == pytest.approx(1.0, abs=1e-6)
    assert values != embed_text("old")[:768]  # each model has its own vectors


def test_the_single_embed_content_method_answers_one_embedding(
    gemini_emulator: GeminiEmulator,
) -> None:
    response = httpx.post(
        f"{gemini_emulator.base_url}/v1beta/models/{MODEL}:embedContent",
        headers={"x-goog-api-key": GEMINI_TEST_KEY},
        json={"content": {"parts": [{"text": "solo"}]}, "outputDimensionality": 256},
    )

    assert response.status_code == 200
    assert response.json() == {"embedding": {"values": embed_text("solo", 256)}}


def test_models_can_be_looked_up_through_the_sdk(genai_client: genai.Client) -> None:
    model = genai_client.models.get(model=MODEL)
    listed = [m.name for m in genai_client.models.list()]

    assert model.name == f"models/{MODEL}"
    assert model.input_token_limit == 2048
    assert f"models/{MODEL}" in listed
