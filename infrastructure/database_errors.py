"""The driver errors that mean "the database can't be reached", for boundaries that report them."""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg_pool import PoolTimeout

__all__ = ["UNREACHABLE_ERRORS"]

UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    PersistenceError,
    sqlite3.OperationalError,
)
