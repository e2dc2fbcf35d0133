"""The MCP server: opsagent's read-only tools and proposal filing for MCP clients (stdio, streamable HTTP)."""
