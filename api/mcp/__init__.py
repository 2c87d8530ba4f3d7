"""MCP over streamable HTTP (both protocol eras) and legacy HTTP+SSE, served from the hot catalogs."""
