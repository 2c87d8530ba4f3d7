"""Sessions in this process's memory: the default for one process.

Three orders of least recent use (all sessions, a token's, a tenant's) make every operation O(1):
a use moves the session to the end of each; expiry and eviction take from the front.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from itertools import islice

from ledgergate.application.sessions import McpSession, SessionLimits, SessionQuotaError

__all__ = ["InMemorySessionStore"]


class InMemorySessionStore:
    def __init__(self, limits: SessionLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or SessionLimits()
        self._clock = clock
        self._sessions: OrderedDict[str, tuple[McpSession, float]] = OrderedDict()  # id -> (session, last use)
        self._by_token: dict[str, OrderedDict[str, None]] = {}
        self._by_tenant: dict[str, OrderedDict[str, None]] = {}

    async def open(self, session: McpSession) -> list[str]:
        now = self._clock()
        self._expire(now)
        own = self._by_token.get(session.token_id, OrderedDict())
        evict = max(0, len(own) + 1 - self.limits.per_token)
        tenant = len(self._by_tenant.get(session.tenant_id, ()))
        if tenant - evict >= self.limits.per_tenant:
            raise SessionQuotaError(
                f"tenant {session.tenant_id} holds {tenant} sessions, its quota of {self.limits.per_tenant}; "
                "end unused sessions (DELETE) or wait until idle ones expire",
                "tenant",
            )
        if len(self._sessions) - evict >= self.limits.per_process:
            raise SessionQuotaError(
                f"the gateway holds its maximum of {self.limits.per_process} sessions; retry later", "process", 30
            )
        evicted = list(islice(own, evict))
        for session_id in evicted:
            self._remove(session_id)
        self._sessions[session.id] = (session, now)
        self._by_token.setdefault(session.token_id, OrderedDict())[session.id] = None
        self._by_tenant.setdefault(session.tenant_id, OrderedDict())[session.id] = None
        return evicted

    async def use(self, session_id: str, tenant_id: str, token_id: str) -> McpSession | None:
        entry = self._sessions.get(session_id)
        if entry is None or (entry[0].tenant_id, entry[0].token_id) != (tenant_id, token_id):
            return None
        now = self._clock()
        if now - entry[1] >= self.limits.idle_s:
            self._remove(session_id)
            return None
        self._sessions[session_id] = (entry[0], now)
        self._sessions.move_to_end(session_id)
        self._by_token[token_id].move_to_end(session_id)
        self._by_tenant[tenant_id].move_to_end(session_id)
        return entry[0]

    async def get(self, session_id: str) -> McpSession | None:
        entry = self._sessions.get(session_id)
        if entry is None or self._clock() - entry[1] >= self.limits.idle_s:
            return None
        return entry[0]

    async def put(self, session: McpSession) -> None:
        entry = self._sessions.get(session.id)
        if entry is not None:
            self._sessions[session.id] = (session, entry[1])

    async def change(self, session_id: str, apply: Callable[[McpSession], None]) -> McpSession | None:
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        apply(entry[0])  # one process, no await in between: nothing else changes it meanwhile
        return entry[0]

    async def delete(self, session_id: str) -> bool:
        return self._remove(session_id)

    async def count(self) -> int:
        self._expire(self._clock())
        return len(self._sessions)

    async def close(self) -> None:
        self._sessions.clear()
        self._by_token.clear()
        self._by_tenant.clear()

    def _expire(self, now: float) -> None:
        """End the sessions unused for the idle time: they are at the front of the order of use."""
        while self._sessions:
            session_id, (_, used) = next(iter(self._sessions.items()))
            if now - used < self.limits.idle_s:
                return
            self._remove(session_id)

    def _remove(self, session_id: str) -> bool:
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return False
        for index, key in ((self._by_token, entry[0].token_id), (self._by_tenant, entry[0].tenant_id)):
            ids = index.get(key)
            if ids is not None:
                ids.pop(session_id, None)
                if not ids:
                    del index[key]
        return True
