"""The audit page's live tail: the tenant's new audit entries over SSE (what ``/v1/events/stream``
sends), for the signed-in session, which is checked again between batches (a revoked token's tail ends)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Stream

from ledgergate.api.positions import After, parse_position
from ledgergate.api.streaming import position_reached
from ledgergate.api.ui.access import SignInNeeded, current_user
from ledgergate.api.ui.plumbing import viewer
from ledgergate.api.ui.render import SECURITY_HEADERS
from ledgergate.application.audit import AuditFilter
from ledgergate.application.errors import ApplicationError

__all__ = ["audit_tail"]


@get("/audit/stream", include_in_schema=False)
async def audit_tail(request: Request[Any, Any, Any], tenant: FromQuery[str | None] = None, after: After = 0) -> Stream:
    user = await viewer(request)
    flt = AuditFilter(tenant_id=user.tenant(tenant))
    resumed = parse_position(request.headers.get("last-event-id"))
    position = resumed if resumed is not None else after
    audit = request.app.state.runtime.audit_log
    board = audit.positions

    async def tail() -> Any:
        nonlocal position
        yield b": tailing the audit log\n\n"
        while True:
            try:
                await anyio.to_thread.run_sync(current_user, request)
            except (SignInNeeded, ApplicationError):
                yield b"event: ended\ndata: {}\n\n"
                return
            items = await anyio.to_thread.run_sync(audit.feed, flt, position, 200)
            for item in items:
                yield b"id: %d\nevent: entry\ndata: " % item["position"] + msgspec.json.encode(item) + b"\n\n"
            if items:
                position = items[-1]["position"]
                continue
            reached = await position_reached(board, board.current() + 1, 5.0)
            if not reached:
                yield b": keep-alive\n\n"

    headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    return Stream(tail(), media_type="text/event-stream", headers=headers)
