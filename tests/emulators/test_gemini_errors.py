"""How the Gemini emulator refuses requests: Google's statuses, messages and error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors

from emulators.gemini import GeminiEmulator
from tests.fixtures_gemini import GEMINI_TEST_KEY, genai_client_for

MODEL = "gemini-embedding-001"
ONE_TEXT = {
    "requests": [
        {"model": f"models/{MODEL}", "content": {"parts": [{"text": "hi"}], "role": "user"}}
    ]
}


def post(
    emulator: GeminiEmulator,
    body: Any,
    *,
    model: str = MODEL,
    method: str = "batchEmbedContents",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """A raw call, for what the SDK cannot send (no key, malformed bodies)."""
    send_headers = {"x-goog-api-key": GEMINI_TEST_KEY} if headers is None else headers
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    return httpx.post(
        f"{emulator.base_url}/v1/models/{model}:{method}",
        headers=send_headers,
        params=params,
        **kwargs,
    )


def test_an_unknown_key_is_a_400_with_googles_api_key_invalid_reason(
    gemini_emulator: GeminiEmulator,
) -> None:
    client = genai_client_for(gemini_emulator, api_key="not-a-key")

    with pytest.raises(errors.ClientError) as caught:
        client.models.embed_content(model=MODEL, contents="x")

    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == "API key not valid. Please pass a valid API key."
    [info, _localized] = caught.value.details["error"]["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "API_KEY_INVALID"


def test_a_missing_key_is_a_403_unregistered_caller(gemini_emulator: GeminiEmulator) -> None:
    response = post(gemini_emulator, ONE_TEXT, headers={})

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": 403,
            "message": "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
            "status": "PERMISSION_DENIED",
        }
    }


def test_the_key_may_also_come_as_a_query_parameter(gemini_emulator: GeminiEmulator) -> None:
    response = post(gemini_emulator, ONE_TEXT, headers={}, params={"key": GEMINI_TEST_KEY})

    assert response.status_code == 200


def test_an_unknown_model_is_a_404_like_googles(genai_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        genai_client.models.embed_content(model="embedding-001", contents="x")

    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"
    assert caught.value.message == (
        "models/embedding-001 is not found for API version v1, or is not supported for "
        "embedContent. Call ModelService.ListModels to see the list of available models and "
        "their supported methods."
    )


def test_an_empty_text_is_a_400(genai_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        genai_client.models.embed_content(model=MODEL, contents=["fine", ""])

    assert caught.value.code == 400
    assert caught.value.message == "EmbedContentRequest.content contains an empty Part."
    [violation] = caught.value.details["error"]["details"][0]["fieldViolations"]
    assert violation["field"] == "requests[1].content.parts[0].text"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"requests": []}, "* BatchEmbedContentsRequest.requests: requests must not be empty\n"),
        ({}, "* BatchEmbedContentsRequest.requests: requests must not be empty\n"),
        (
            {"requests": [{"content": {"parts": [{"text": "x"}]}}]},
            "* BatchEmbedContentsRequest.requests[0].model: model is required\n",
        ),
        (
            {
                "requests": [
                    {"model": "models/text-embedding-004", "content": {"parts": [{"text": "x"}]}}
                ]
            },
            "* BatchEmbedContentsRequest.requests[0].model: models/text-embedding-004 does not "
            f"match the model in the request URL (models/{MODEL})\n",
        ),
        (
            {"requests": [{"model": f"models/{MODEL}", "content": {"parts": []}}]},
            "* BatchEmbedContentsRequest.requests[0].content.parts: contents.parts must not be "
            "empty.\n",
        ),
        (
            {"requests": [{"model": f"models/{MODEL}", "content": {"parts": [{}]}}]},
            "* BatchEmbedContentsRequest.requests[0].content.parts[0].data: required oneof field "
            "'data' must have one initialized field\n",
        ),
        (
            {"requests": [{"model": f"models/{MODEL}", "text": "x"}]},
            "Invalid JSON payload received. Unknown name \"text\" at 'requests[0]': Cannot find "
            "field.",
        ),
        (
            {
                "requests": [
                    {
                        "model": f"models/{MODEL}",
                        "content": {"parts": [{"text": "x"}]},
                        "outputDimensionality": "lots",
                    }
                ]
            },
            "Invalid value at 'requests[0].output_dimensionality' (TYPE_INT32), \"lots\"",
        ),
        (b"{not json", "Invalid JSON payload received. Unexpected token."),
    ],
)
def test_malformed_batches_are_400_invalid_argument(
    gemini_emulator: GeminiEmulator, body: Any, message: str
) -> None:
    response = post(gemini_emulator, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"], error["message"]) == (400, "INVALID_ARGUMENT", message)


def test_protobuf_json_spellings_are_accepted(gemini_emulator: GeminiEmulator) -> None:
    # snake_case names, enum numbers and integers as strings are valid protobuf JSON.
    body = {
        "requests": [
            {
                "model": f"models/{MODEL}",
                "content": {"parts": [{"text": "x"}]},
                "task_type": 2,
                "output_dimensionality": "256",
            }
        ]
    }

    response = post(gemini_emulator, body)

    assert response.status_code == 200
    assert len(response.json()["embeddings"][0]["values"]) == 256


def test_an_unknown_path_is_a_json_404(gemini_emulator: GeminiEmulator) -> None:
    response = httpx.get(f"{gemini_emulator.base_url}/v1/tunedModels/mine")

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
