"""Download a tenant's export (admins): the same hash-chained JSON Lines as ``/v1/events/export``,
without the data key (that travels only with a passphrase, which stays on the REST API and the CLI)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Stream

from ledgergate.api.streaming import in_chunks
from ledgergate.api.ui.plumbing import viewer
from ledgergate.api.ui.render import SECURITY_HEADERS

__all__ = ["export_tenant"]


@get("/export", include_in_schema=False)
async def export_tenant(request: Request[Any, Any, Any], tenant: FromQuery[str | None] = None) -> Stream:
    user = await viewer(request)
    wanted = user.tenant(tenant)
    user.principal.allow(wanted, "admin")
    archive = request.app.state.runtime.archive
    lines = await anyio.to_thread.run_sync(lambda: archive.export(wanted, with_keys=False, passphrase=None))

    disposition = f'attachment; filename="ledgergate-{wanted}.jsonl"'
    headers = {**SECURITY_HEADERS, "Content-Disposition": disposition}
    return Stream(in_chunks(lines), media_type="application/x-ndjson", headers=headers)
