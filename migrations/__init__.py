"""Numbered SQL migrations of the read-model, tracking and key tables, one folder per database."""
