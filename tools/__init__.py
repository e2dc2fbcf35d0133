"""The LLM-facing tools: small typed functions over ml_core, memory and web search; see ``tools.catalog``."""
