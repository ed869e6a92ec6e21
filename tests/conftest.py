"""Fixtures shared by the whole suite: in-process emulators of Pinecone and Gemini."""

from tests.fixtures_gemini import *  # noqa: F403
from tests.fixtures_pinecone import *  # noqa: F403
