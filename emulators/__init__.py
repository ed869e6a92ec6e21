"""Local emulators of the Pinecone and Gemini HTTP APIs.

They speak the services' wire protocols, so the official `pinecone` and `google-genai` SDKs talk to
them unchanged: the product, its tests and `make demo` run against them instead of the real
services, which cannot be reached from a development machine or CI. Run them with
`python -m emulators pinecone|gemini|all --help`. This package imports nothing from Django.
"""
