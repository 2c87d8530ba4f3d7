"""Sessions in this process's memory: the default for one process."""

from __future__ import annotations

from application.sessions import McpSession

__all__ = ["InMemorySessionStore"]


class InMemorySessionStore:
    def __init__(self, max_sessions: int = 100_000) -> None:
        self._sessions: dict[str, McpSession] = {}
        self.max_sessions = max_sessions

    async def put(self, session: McpSession) -> None:
        if len(self._sessions) >= self.max_sessions and session.id not in self._sessions:
            self._sessions.pop(next(iter(self._sessions)))  # the oldest goes first
        self._sessions[session.id] = session

    async def get(self, session_id: str) -> McpSession | None:
        return self._sessions.get(session_id)

    async def delete(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    async def count(self) -> int:
        return len(self._sessions)

    async def close(self) -> None:
        self._sessions.clear()
