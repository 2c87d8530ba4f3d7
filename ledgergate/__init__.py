"""Ledgergate: an MCP gateway and registry whose source of truth is an append-only event log.

The repository keeps its layers at the top (``api/``, ``application/``, ``domain/``, ``infrastructure/``,
``migrations/``, ``projections/``); this package links them under the one import name the project claims,
so an installed Ledgergate adds ``ledgergate`` to site-packages and nothing else.
"""
