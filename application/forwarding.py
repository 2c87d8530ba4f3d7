"""The forwarding use case: calls on discovered items go to their upstream, exposed names mapped back.

It reaches upstreams only through the ports of ``application.ports``: ``HttpUpstream`` (the adapter is
``infrastructure.upstream.http_client``), ``PooledUpstreams`` (``infrastructure.upstream.mcp_client``),
``UpstreamCredentials``, ``UpstreamCallLimits`` and ``SessionRecords``; the client is asked mid-call through an
:class:`~application.input_relay.InputRelay`. The MCP transports in ``api/mcp/`` only call it.

Streamable-HTTP upstreams are called with one keep-alive POST per request (``HttpUpstreamClient``);
stdio and SSE upstreams through pooled SDK sessions (``UpstreamPool``). For ``per_client`` HTTP
upstreams the upstream session belongs to the downstream session and is kept in its record, so
whichever worker serves the client's next request continues it; they are spoken to in the newest
legacy revision, because 2026-07-28 has no sessions to keep state in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ledgergate.application.errors import ToolCallError
from ledgergate.application.held_calls import Binding, HeldAsker, HeldCalls, RequestStateRefusedError
from ledgergate.application.http_calls import HttpCalls, Upstream, UpstreamRefusedError
from ledgergate.application.input_relay import MAX_INPUT_ROUNDS, InputRelay, askable_capabilities
from ledgergate.application.param_headers import schema_param_headers
from ledgergate.application.ports import (
    Channel,
    HttpUpstream,
    PooledUpstreams,
    Progress,
    SecretCipher,
    SessionRecords,
    UpstreamCallLimits,
    UpstreamCredentials,
    UpstreamRpcError,
    UpstreamUnavailableError,
)
from ledgergate.application.secrets import unseal
from ledgergate.application.sessions import McpSession
from ledgergate.domain.upstream import connection_fingerprint, connection_settings
from ledgergate.projections.hot_catalog import HotCatalogs

__all__ = ["InputRelay", "UpstreamForwarder", "UpstreamRefusedError"]

PROTOCOL_META_PREFIX = "io.modelcontextprotocol/"


def _flavour(relay: InputRelay) -> tuple[dict[str, Any], bool, Any]:
    """How a pooled (stdio, SSE) connection serves this call: it declares only the client's askable
    capabilities, and a legacy client that can be asked gets a handshake session, so the upstream asks it."""
    return askable_capabilities(relay.capabilities), relay.ask is not None, relay.notify


async def _refused_as_rpc(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A pooled (SDK) upstream call whose JSON-RPC error reaches the client as that error, as on the HTTP path."""
    try:
        return await call
    except UpstreamRpcError as exc:
        raise UpstreamRefusedError(exc.code, exc.message, exc.data) from None
    except RequestStateRefusedError as exc:
        raise UpstreamRefusedError(RequestStateRefusedError.code, str(exc)) from None


#: a held call's upstream request may wait this much longer than the upstream's timeout (its client answering)
HELD_TTL_S = 120.0


class UpstreamForwarder(HttpCalls):
    def __init__(
        self,
        hot: HotCatalogs,
        pool: PooledUpstreams,
        cipher: SecretCipher,
        http: HttpUpstream,
        credentials: UpstreamCredentials,
        limits: UpstreamCallLimits,
        sessions: SessionRecords | None = None,
        held: HeldCalls | None = None,
    ) -> None:
        """``credentials``: the headers carrying an upstream's own credentials (an OAuth token fetched);
        ``limits``: how many calls this process runs at once to one upstream; ``sessions``: where the
        upstream sessions kept for a downstream session are recorded; ``held``: calls of modern clients
        held for a legacy upstream's input (without it a modern client's call is not held)."""
        super().__init__(http, credentials, limits, sessions)
        self.held = held
        self.hot = hot
        self.pool = pool
        self.cipher = cipher
        self._upstreams: dict[tuple[str, int], Upstream] = {}
        self._latest: dict[str, Upstream] = {}

    def upstream_of(self, tenant_id: str, row: dict[str, Any]) -> tuple[Upstream, str]:
        source = row["doc"]["source"]
        return self.upstream_by_id(tenant_id, source["upstream_id"]), source["original"]

    def upstream_by_id(self, tenant_id: str, upstream_id: str) -> Upstream:
        """Raises: ToolCallError (the upstream is gone, another tenant's, or disabled)."""
        upstream = self.hot.row(upstream_id)
        if upstream is None or upstream["deleted"] or upstream["tenant_id"] != tenant_id:
            raise ToolCallError("the upstream of this item is gone")
        if not upstream["enabled"]:
            raise ToolCallError(f"upstream {upstream['name']} is disabled")
        key = (upstream["id"], upstream["version"])
        cached = self._upstreams.get(key)
        if cached is None:
            if len(self._upstreams) > 1000:
                self._upstreams.clear()
            spec = {"id": upstream["id"], **unseal(connection_settings(upstream["doc"]), tenant_id, self.cipher)}
            # Connections are keyed by the settings they were made with, not by the upstream's version:
            # a health transition or a refresh must not drop the sessions of stateful upstreams.
            cached = self._upstreams[key] = Upstream(spec, connection_fingerprint(upstream["doc"]))
        self._latest[upstream["id"]] = cached
        return cached

    # -- what the MCP methods use ------------------------------------------------------------------

    async def call_tool(
        self,
        tenant_id: str,
        row: dict[str, Any],
        arguments: dict[str, Any],
        meta: dict[str, Any] | None,
        client: str = "",
        progress: Progress | None = None,
        session: McpSession | None = None,
        relay: InputRelay | None = None,
        task: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``client``: the downstream session (or token) that per_client upstreams keep a session for.
        ``progress``: relays the upstream's progress; our own progress token is sent upstream.
        ``relay``: what the client can be asked while the call runs (see :class:`InputRelay`).
        ``task``: the client's task augmentation (2025-11-25); the upstream then answers a ``CreateTaskResult``.

        Raises: UpstreamRefusedError (also for a ``task`` to an upstream not reached over HTTP), ToolCallError."""
        upstream, original = self.upstream_of(tenant_id, row)
        if task is not None and upstream.spec["transport"] != "streamable_http":
            raise UpstreamRefusedError(-32601, f"tool {row['doc']['name']} cannot run as a task through this upstream")
        dropped = ("progressToken",) if progress is not None else ()
        forwarded = {
            k: v for k, v in (meta or {}).items() if not k.startswith(PROTOCOL_META_PREFIX) and k not in dropped
        } or None
        hints = row["doc"].get("annotations") or {}
        retry = bool(hints.get("idempotentHint") or hints.get("readOnlyHint"))
        if upstream.spec["transport"] == "streamable_http":
            relay = relay or InputRelay()
            params: dict[str, Any] = {"name": original, "arguments": arguments}
            if task is not None:
                params["task"] = task
            if forwarded:
                params["_meta"] = forwarded
            headers = schema_param_headers(row["doc"].get("input_schema"), arguments) or None
            return await self._with_input(
                upstream, "tools/call", params, client, session, retry, relay, progress=progress, extra_headers=headers
            )
        spec, version = upstream.spec, upstream.fingerprint
        relay = relay or InputRelay()
        if relay.log_level is not None:
            forwarded = {**(forwarded or {}), PROTOCOL_META_PREFIX + "logLevel": relay.log_level}
        if await self._must_hold(upstream, relay, client):
            timeout = float(spec.get("timeout_s") or 60) + HELD_TTL_S

            def run(asker: HeldAsker) -> Awaitable[dict[str, Any]]:
                flavour = (askable_capabilities(relay.capabilities), True, asker.relay_notify)
                return self.pool.call_tool(
                    spec, version, original, arguments, forwarded, client, False,
                    asker.relay_progress if progress is not None else None, asker, flavour, None, timeout,
                )  # fmt: skip

            binding = Binding(tenant_id, relay.caller, "tools/call", f"{spec['id']}/{original}")
            return await _refused_as_rpc(self._held_call(binding, relay, run, progress))
        return await _refused_as_rpc(
            self.pool.call_tool(
                spec,
                version,
                original,
                arguments,
                forwarded,
                client,
                retry,
                progress,
                relay.ask,
                _flavour(relay),
                relay.retry_params if relay.modern else None,
            )
        )

    async def _must_hold(self, upstream: Upstream, relay: InputRelay, client: str) -> bool:
        """A modern client reaching an upstream whose connection is legacy: the call is held for input."""
        return (
            relay.modern
            and self.held is not None
            and not await self.pool.speaks_modern(upstream.spec, upstream.fingerprint, client)
        )

    async def _held_call(
        self,
        binding: Binding,
        relay: InputRelay,
        run: Callable[[HeldAsker], Awaitable[dict[str, Any]]],
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """A new call starts held; a retry with the gateway's sealed requestState resumes it; any other
        requestState cannot be ours for this upstream and is refused."""
        assert self.held is not None
        state = relay.retry_params.get("requestState")
        if state is None:
            return await self.held.start(binding, run, progress, relay.notify)
        if not self.held.is_sealed(state):
            raise RequestStateRefusedError("requestState was not issued by this gateway")
        responses = relay.retry_params.get("inputResponses")
        answers = responses if isinstance(responses, dict) else {}
        return await self.held.resume(binding, state, answers, progress, relay.notify)

    async def _with_input(
        self,
        upstream: Upstream,
        method: str,
        params: dict[str, Any],
        client: str,
        session: McpSession | None,
        retry: bool,
        relay: InputRelay,
        **options: Any,
    ) -> dict[str, Any]:
        """One request to an HTTP upstream that may need the client's input: a modern client's retry
        params pass through and an ``input_required`` goes back to it; for a legacy client that can be
        asked, the upstream asks it mid-call (legacy session) or its ``input_required`` is fulfilled here."""
        params = {**params, **relay.retry_params}
        asks = askable_capabilities(relay.capabilities) if relay.ask is not None else None
        options |= {
            "capabilities": relay.capabilities,
            "on_request": relay.on_request,
            "log_level": relay.log_level,
            "notify": relay.notify,
        }
        for _ in range(MAX_INPUT_ROUNDS):
            result = await self._http_request(upstream, method, params, client, session, retry, asks, **options)
            if result.get("resultType") != "input_required" or relay.ask is None:
                return result
            params = {**params, **await relay.fulfil(result)}
        raise ToolCallError(f"the upstream still wanted input after {MAX_INPUT_ROUNDS} rounds")

    async def read_resource(
        self,
        tenant_id: str,
        row: dict[str, Any],
        client: str = "",
        session: McpSession | None = None,
        uri: str | None = None,
    ) -> dict[str, Any]:
        """``uri``: a concrete URI of ``row``'s resource template (the row names the template)."""
        upstream, original = self.upstream_of(tenant_id, row)
        original = uri or original
        if upstream.spec["transport"] == "streamable_http":
            return await self._http_request(upstream, "resources/read", {"uri": original}, client, session, True)
        return await _refused_as_rpc(self.pool.read_resource(upstream.spec, upstream.fingerprint, original, client))

    async def get_prompt(
        self,
        tenant_id: str,
        row: dict[str, Any],
        arguments: dict[str, Any],
        client: str = "",
        session: McpSession | None = None,
        relay: InputRelay | None = None,
    ) -> dict[str, Any]:
        upstream, original = self.upstream_of(tenant_id, row)
        texts = {k: str(v) for k, v in arguments.items()}
        if upstream.spec["transport"] == "streamable_http":
            params = {"name": original, "arguments": texts}
            return await self._with_input(upstream, "prompts/get", params, client, session, True, relay or InputRelay())
        relay = relay or InputRelay()
        spec, version = upstream.spec, upstream.fingerprint
        if await self._must_hold(upstream, relay, client):

            def run(asker: HeldAsker) -> Awaitable[dict[str, Any]]:
                flavour = (askable_capabilities(relay.capabilities), True, asker.relay_notify)
                return self.pool.get_prompt(spec, version, original, texts, client, asker, flavour)

            binding = Binding(tenant_id, relay.caller, "prompts/get", f"{spec['id']}/{original}")
            return await _refused_as_rpc(self._held_call(binding, relay, run))
        return await _refused_as_rpc(
            self.pool.get_prompt(
                upstream.spec,
                upstream.fingerprint,
                original,
                texts,
                client,
                relay.ask,
                _flavour(relay),
                relay.retry_params if relay.modern else None,
            )
        )

    async def complete(
        self,
        tenant_id: str,
        row: dict[str, Any],
        params: dict[str, Any],
        client: str = "",
        session: McpSession | None = None,
    ) -> dict[str, Any]:
        """``completion/complete`` for a discovered prompt or resource: the reference names the original."""
        upstream, original = self.upstream_of(tenant_id, row)
        ref = dict(params["ref"])
        ref["name" if ref.get("type") == "ref/prompt" else "uri"] = original
        argument, context = params["argument"], (params.get("context") or {}).get("arguments")
        if upstream.spec["transport"] == "streamable_http":
            forwarded = {"ref": ref, "argument": argument} | ({"context": {"arguments": context}} if context else {})
            return await self._http_request(upstream, "completion/complete", forwarded, client, session, True)
        return await _refused_as_rpc(
            self.pool.complete(upstream.spec, upstream.fingerprint, ref, argument, context, client)
        )

    async def task_request(
        self,
        tenant_id: str,
        upstream_id: str,
        method: str,
        params: dict[str, Any],
        client: str = "",
        session: McpSession | None = None,
    ) -> dict[str, Any]:
        """``tasks/get``, ``tasks/result`` or ``tasks/cancel`` of a task an upstream runs (over streamable HTTP,
        on the channel its calls take). Raises: UpstreamRefusedError, ToolCallError."""
        upstream = self.upstream_by_id(tenant_id, upstream_id)
        if upstream.spec["transport"] != "streamable_http":
            raise ToolCallError("the upstream of this task is no longer reached over streamable HTTP")
        return await self._http_request(upstream, method, params, client, session, method != "tasks/cancel")

    async def end_sessions(self, session: McpSession) -> None:
        """The downstream session ended: end the upstream sessions kept for it (best effort)."""
        for upstream_id, kept in session.upstreams.items():
            cached = self._latest.get(upstream_id)
            if not kept.get("session_id") or cached is None or cached.fingerprint != kept.get("fingerprint"):
                continue
            channel = Channel(version=kept["version"], session_id=kept["session_id"])
            try:
                auth = await self.credentials(cached.spec)
            except UpstreamUnavailableError:
                continue  # no credentials, no goodbye: the upstream expires the session itself
            await self.http.end_session(cached.spec["url"], auth, channel)

    async def close(self) -> None:
        await self.http.close()
