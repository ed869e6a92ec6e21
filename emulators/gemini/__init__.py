"""Local emulator of Google's Gemini embeddings API, driven by the real `google-genai` SDK.

    from emulators.gemini import GeminiEmulator, embed_text

    emu = GeminiEmulator(api_keys=["gem-key"]).start_background()
    client = genai.Client(
        api_key="gem-key",
        http_options=types.HttpOptions(base_url=emu.base_url, api_version="v1"),
    )
    ...
    assert response.embeddings[0].values == embed_text("some text")
    emu.stop()

The vectors are deterministic pseudo-random numbers derived from the text, not semantic
embeddings: equal texts give equal vectors, different texts different ones. Command line:
`python -m emulators.gemini --port 5090 --api-key gem-key`.
"""

from .cli import add_arguments, from_args, main
from .embedding import (
    CHARS_PER_TOKEN,
    DEFAULT_MODEL,
    MODELS,
    ModelSpec,
    embed_text,
    embed_texts,
    estimate_tokens,
)
from .server import GeminiEmulator
from .validation import MAX_BATCH, TASK_TYPES

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_MODEL",
    "MAX_BATCH",
    "MODELS",
    "TASK_TYPES",
    "GeminiEmulator",
    "ModelSpec",
    "add_arguments",
    "embed_text",
    "embed_texts",
    "estimate_tokens",
    "from_args",
    "main",
]
