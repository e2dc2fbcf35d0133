"""The memory's errors, in a module without ChromaDB so the CLI can name them without importing it."""

from __future__ import annotations


class MemoryUnavailable(ConnectionError):
    """The Chroma server named by the settings does not answer; the message says which and what to do."""
