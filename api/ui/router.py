"""The admin UI's router at ``/admin``: its pages, its static files (from the installed package) and its
own error pages. Nothing here is reachable with a bearer token, and nothing outside accepts its cookie."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from ledgergate.api.ui.audit_pages import audit_page
from ledgergate.api.ui.audit_tail import audit_tail
from ledgergate.api.ui.entities import entity_action, entity_page
from ledgergate.api.ui.export_page import export_tenant
from ledgergate.api.ui.history_pages import history_page
from ledgergate.api.ui.import_page import import_file, import_page, verify_file
from ledgergate.api.ui.pages import dashboard, list_page
from ledgergate.api.ui.playground import playground_call, playground_page
from ledgergate.api.ui.plumbing import PREFIX, ui_exception_handlers
from ledgergate.api.ui.render import SECURITY_HEADERS
from ledgergate.api.ui.schema_editor import check_schema
from ledgergate.api.ui.signin import sign_in, sign_in_page, sign_out
from ledgergate.api.ui.tenant_pages import create_tenant, tenant_action, tenants_page
from ledgergate.api.ui.tool_forms import check_tool, edit_tool, edit_tool_page, new_tool, new_tool_page

__all__ = ["admin_router"]

STATIC = Path(__file__).parent / "static"


def admin_router() -> Router:
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        cache_control=CacheControlHeader(max_age=3600),
        include_in_schema=False,
        name="admin-static",
    )
    return Router(
        path=PREFIX,
        route_handlers=[
            sign_in_page,
            sign_in,
            sign_out,
            dashboard,
            audit_page,
            audit_tail,
            export_tenant,
            tenants_page,
            create_tenant,
            tenant_action,
            import_page,
            verify_file,
            import_file,
            playground_page,
            playground_call,
            history_page,
            new_tool_page,
            new_tool,
            check_tool,
            check_schema,
            edit_tool_page,
            edit_tool,
            list_page,
            entity_page,
            entity_action,
            static,
        ],
        exception_handlers=ui_exception_handlers,
        response_headers={k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"},
        include_in_schema=False,
    )
