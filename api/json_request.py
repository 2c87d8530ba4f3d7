"""The request class of the app: JSON bodies are decoded by ``api.json_limits.decode_json``.

Litestar's own decoder lets ``UnicodeDecodeError`` (invalid UTF-8) and ``RecursionError`` (deep nesting)
escape as 500s. Every handler that takes a ``data`` body gets it through ``Request.json()``, so replacing
that one method covers every such route, decodes each body once (the result is cached on the request, as
Litestar's is) and leaves handlers that read raw bytes (MCP, event import) alone.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

from ledgergate.api.json_limits import BadJson, decode_json

__all__ = ["LimitedJsonRequest"]

_UNREAD: Any = object()


class LimitedJsonRequest(Request[Any, Any, Any]):
    __slots__ = ("_limited_json",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limited_json = _UNREAD

    async def json(self) -> Any:
        """The decoded body (``None`` for an empty one). Raises: ClientException (a 400) for a body we refuse."""
        if self._limited_json is _UNREAD:
            body = await self.body()
            try:
                self._limited_json = decode_json(body) if body else None
            except BadJson as exc:
                raise ClientException(str(exc)) from None
        return self._limited_json
