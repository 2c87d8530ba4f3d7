"""The official MCP conformance suite, run through the gateway: ``make conformance`` (see ``conformance.run``)."""
