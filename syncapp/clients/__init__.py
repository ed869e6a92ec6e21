"""Adapters to the external services. Only these modules import the `pinecone` and
`google-genai` SDKs; everything else sees `syncengine.Record` objects and engine errors."""
