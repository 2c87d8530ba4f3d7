"""Calls a REST tool's HTTP API with httpx and maps the answer to an MCP ``tools/call`` result.

The request is built from the tool's integration: URL template, query and body mapping, headers and
auth (secrets are decrypted here, at the last moment, and never logged). Idempotent methods are
retried with backoff on transport errors and 502/503/504. Requests to link-local and cloud metadata
addresses are refused unless the host is allow-listed. W3C trace context is propagated.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import msgspec
from opentelemetry import propagate

from application.errors import ToolCallError
from application.ports import SecretCipher
from domain.values import is_secret_ref

__all__ = ["RestToolCaller"]

log = logging.getLogger("ledgergate.rest")

IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_S = (0.1, 0.3)
MAX_TEXT = 1_000_000
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
BLOCKED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)


class _UrlArguments(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise ToolCallError(f"argument {key!r} is needed to build the URL")


def _format_url(template: str, arguments: dict[str, Any], used: set[str]) -> str:
    values = _UrlArguments({k: quote(str(v), safe="") for k, v in arguments.items()})
    used.update(name for name in arguments if "{" + name + "}" in template)
    return template.format_map(values)


def _secret(cipher: SecretCipher, tenant_id: str, value: Any) -> str:
    if not is_secret_ref(value):
        return str(value)
    try:
        return cipher.decrypt(tenant_id, value["$secret"])
    except Exception as exc:  # a shredded key or altered ciphertext: the call can't be made
        raise ToolCallError(f"a secret of this tool can't be decrypted: {exc}") from None


class RestToolCaller:
    def __init__(
        self, cipher: SecretCipher, allowed_hosts: Iterable[str] = (), client: httpx.AsyncClient | None = None
    ) -> None:
        self.cipher = cipher
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50), follow_redirects=False
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def _check_target(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        if not host:
            raise ToolCallError("the tool's URL has no host")
        if host in self.allowed_hosts:
            return
        if host in METADATA_HOSTS:
            raise ToolCallError(f"requests to {host} are blocked (cloud metadata)")
        try:  # an address literal needs no lookup
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            if any(literal in network for network in BLOCKED_NETWORKS):
                raise ToolCallError(f"requests to {host} are blocked: link-local or metadata address")
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ToolCallError(f"cannot resolve {host}: {exc.strerror}") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if any(address in network for network in BLOCKED_NETWORKS):
                raise ToolCallError(f"requests to {host} ({address}) are blocked: link-local or metadata address")

    def build_request(self, tenant_id: str, integration: dict[str, Any], arguments: dict[str, Any]) -> httpx.Request:
        used: set[str] = set()
        url = _format_url(integration["url"], arguments, used)
        params = {param: arguments[arg] for param, arg in (integration.get("query") or {}).items() if arg in arguments}
        used.update(arg for arg in (integration.get("query") or {}).values())
        headers = {
            name: _secret(self.cipher, tenant_id, value) for name, value in (integration.get("headers") or {}).items()
        }
        auth = integration.get("auth") or {"type": "none"}
        if auth["type"] == "bearer":
            headers["Authorization"] = "Bearer " + _secret(self.cipher, tenant_id, auth["token"])
        elif auth["type"] == "header":
            headers[auth["header"]] = _secret(self.cipher, tenant_id, auth["value"])
        elif auth["type"] == "basic":
            password = _secret(self.cipher, tenant_id, auth["password"])
            credentials = base64.b64encode(f"{auth['username']}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        propagate.inject(headers)
        method = integration["method"]
        timeout = httpx.Timeout(integration.get("timeout_s", 30.0))
        fields = integration.get("body")
        rest = {k: v for k, v in arguments.items() if k not in used}
        if method in ("POST", "PUT", "PATCH"):
            body = rest if fields is None else {k: arguments[k] for k in fields if k in arguments}
            headers["Content-Type"] = "application/json"
            return self.client.build_request(
                method, url, params=params, headers=headers, timeout=timeout, content=msgspec.json.encode(body)
            )
        if not integration.get("query"):
            params.update({k: v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in rest.items()})
        return self.client.build_request(method, url, params=params, headers=headers, timeout=timeout)

    async def call(self, tenant_id: str, tool: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
        """The MCP result of calling ``tool`` (its document) with ``arguments``. Raises: ToolCallError."""
        integration = tool["integration"]
        request = self.build_request(tenant_id, integration, arguments)
        await self._check_target(str(request.url))
        attempts = 1 + (len(BACKOFF_S) if request.method in IDEMPOTENT else 0)
        response: httpx.Response | None = None
        for attempt in range(attempts):
            try:
                response = await self.client.send(request)
            except httpx.TimeoutException:
                raise ToolCallError(f"the API did not answer within {integration.get('timeout_s', 30.0):g} s") from None
            except httpx.TransportError as exc:
                if attempt + 1 >= attempts:
                    raise ToolCallError(f"cannot reach the API: {exc.__class__.__name__}: {exc}") from None
                await asyncio.sleep(BACKOFF_S[attempt])
                continue
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                await asyncio.sleep(BACKOFF_S[attempt])
                continue
            break
        assert response is not None
        return self._result(response, tool.get("output_schema") is not None)

    @staticmethod
    def _result(response: httpx.Response, structured: bool) -> dict[str, Any]:
        text = response.text[:MAX_TEXT]
        if response.status_code >= 400:
            return {
                "content": [{"type": "text", "text": f"the API answered HTTP {response.status_code}: {text[:2000]}"}],
                "isError": True,
            }
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if structured and response.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
            try:
                data = msgspec.json.decode(response.content)
            except msgspec.DecodeError:
                data = None
            if isinstance(data, dict):
                result["structuredContent"] = data
        return result
