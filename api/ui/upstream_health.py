"""An upstream's health history: its ``HealthChanged`` events, newest first, each with how long the state
lasted (until the next transition, or "now" for the current one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["health_history"]


def _lasted(start: str, end: str | None) -> str:
    if end is None:
        return "until now"
    try:
        seconds = int((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    except ValueError:
        return ""
    minutes, seconds = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {seconds}s" if hours else f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def health_history(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` in log order (the upstream's audit entries) -> its transitions, newest first."""
    changes = [e for e in events if str(e.get("type", "")).rpartition(".")[2] == "HealthChanged"]
    history = []
    for n, entry in enumerate(changes):
        end = changes[n + 1]["occurred_at"] if n + 1 < len(changes) else None
        history.append(
            {
                "state": entry.get("state") or "unknown",
                "detail": entry.get("detail"),
                "at": entry["occurred_at"],
                "position": entry["position"],
                "lasted": _lasted(entry["occurred_at"], end),
            }
        )
    return history[::-1]
