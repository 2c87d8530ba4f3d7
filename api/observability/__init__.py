"""What the gateway tells operators about its work: access log, call log lines and metrics, spans.

The hooks on the request path are thin: :class:`AccessLog` wraps the whole ASGI app (one line and
the REST metrics per HTTP request), :class:`CallObserver` wraps each ``tools/call``, ``prompts/get``
and ``resources/read`` (one line, labelled metrics, the attributes of the request's span), and the
upstream clients open CLIENT spans through ``infrastructure.telemetry``. See docs/operations.md.
"""

from ledgergate.api.observability.access import AccessLog
from ledgergate.api.observability.calls import CallObserver, CallRecord
from ledgergate.api.observability.context import RequestFacts, current_facts, note_caller

__all__ = ["AccessLog", "CallObserver", "CallRecord", "RequestFacts", "current_facts", "note_caller"]
