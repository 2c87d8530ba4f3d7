"""The admin UI: server-rendered pages at ``/admin`` over the same use cases and queries as REST."""

from ledgergate.api.ui.router import admin_router

__all__ = ["admin_router"]
