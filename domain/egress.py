"""The outbound connection policy: which addresses the gateway connects to on a tenant's behalf.

Pure: how a URL's host is read (every literal form a resolver accepts), what class an address is in
once IPv6 forms that carry an IPv4 address are reduced to it, and what the policy decides. Resolving
names and holding the connection to the decision is the adapters' part (``infrastructure/network/``).

Always refused: link-local, cloud metadata, unspecified, multicast, broadcast and reserved addresses.
Loopback and private ranges follow two settings (allowed by default: a self-hosted gateway's upstreams
normally live on its own host and network). Hosts and networks the operator lists are exempt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from urllib.parse import unquote, urlsplit

__all__ = [
    "ALWAYS_REFUSED",
    "EgressPolicy",
    "IpAddress",
    "Refusal",
    "canonical",
    "classify",
    "normalise_host",
    "parse_host_literal",
    "parse_ipv4_loose",
]

IpAddress = IPv4Address | IPv6Address

PUBLIC = "public"
LOOPBACK = "loopback"
PRIVATE = "private"
LINK_LOCAL = "link-local"
METADATA = "cloud metadata"
UNSPECIFIED = "unspecified"
MULTICAST = "multicast"
BROADCAST = "broadcast"
RESERVED = "reserved"
ALWAYS_REFUSED = frozenset({LINK_LOCAL, METADATA, UNSPECIFIED, MULTICAST, BROADCAST, RESERVED})
#: what turns a refused loopback or private target into an allowed one
SETTING = {LOOPBACK: "LEDGERGATE_SSRF_ALLOW_LOOPBACK", PRIVATE: "LEDGERGATE_SSRF_ALLOW_PRIVATE"}
EXCEPTIONS_SETTING = "LEDGERGATE_SSRF_ALLOWED_HOSTS"

#: instance metadata services (AWS, GCP, Azure, OCI, OpenStack; ECS credentials; AWS over IPv6; Alibaba)
METADATA_ADDRESSES = frozenset(
    {
        IPv4Address("169.254.169.254"),
        IPv4Address("169.254.170.2"),
        IPv4Address("100.100.100.200"),
        IPv6Address("fd00:ec2::254"),
    }
)
#: their names, refused before any lookup (they resolve to link-local addresses where they exist)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)

_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", UNSPECIFIED),  # "this network": connecting to it reaches the host itself
        ("255.255.255.255/32", BROADCAST),
        ("127.0.0.0/8", LOOPBACK),
        ("169.254.0.0/16", LINK_LOCAL),
        ("224.0.0.0/4", MULTICAST),
        ("10.0.0.0/8", PRIVATE),
        ("172.16.0.0/12", PRIVATE),
        ("192.168.0.0/16", PRIVATE),
        ("100.64.0.0/10", PRIVATE),  # carrier-grade NAT, used inside clouds and tailnets
        ("192.0.0.0/24", RESERVED),
        ("192.0.2.0/24", RESERVED),
        ("198.51.100.0/24", RESERVED),
        ("203.0.113.0/24", RESERVED),
        ("198.18.0.0/15", RESERVED),
        ("192.88.99.0/24", RESERVED),
        ("240.0.0.0/4", RESERVED),
    )
)
_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), kind)
    for net, kind in (
        ("::/128", UNSPECIFIED),
        ("::1/128", LOOPBACK),
        ("fe80::/10", LINK_LOCAL),
        ("ff00::/8", MULTICAST),
        ("fc00::/7", PRIVATE),  # unique local
        ("fec0::/10", PRIVATE),  # site-local, deprecated but still routed inside some sites
        ("64:ff9b:1::/48", PRIVATE),  # local-use NAT64
        ("::/8", RESERVED),  # what is left of it once mapped and compatible forms are reduced
        ("100::/64", RESERVED),
        ("2001::/23", RESERVED),  # IETF protocol assignments, Teredo among them
        ("2001:db8::/32", RESERVED),
        ("3fff::/20", RESERVED),
        ("5f00::/16", RESERVED),
    )
)
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # RFC 2765 "IPv4-translated"
_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_ipv4_loose(text: str) -> IPv4Address | None:
    """An IPv4 address in any form ``inet_aton`` (and so ``getaddrinfo``) reads: one to four parts,
    each decimal, octal (leading 0) or hex (0x), the last filling the remaining bytes
    (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``, ``0251.0376.0251.0376``, ``169.254.43518``)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_PART.fullmatch(part) for part in parts):
        return None
    values = [
        int(p, 16) if p[:2] in ("0x", "0X") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p) for p in parts
    ]
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    return IPv4Address(sum(value << (8 * (3 - i)) for i, value in enumerate(head)) + last)


def normalise_host(host: str) -> str:
    """A host as a URL or a connector gives it: brackets, percent-encoding (``%25`` before a zone id),
    case and one trailing dot removed."""
    text = unquote(host).strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text[:-1] if text.endswith(".") and ":" not in text else text


def parse_host_literal(host: str) -> IpAddress | None:
    """The address a host names without a lookup (IPv6 with or without a zone id, loose IPv4), or None."""
    text = normalise_host(host)
    if ":" in text:
        try:
            return IPv6Address(text)
        except ValueError:
            return None
    return parse_ipv4_loose(text)


def canonical(address: IpAddress) -> IpAddress:
    """The address a connection really reaches: zone id dropped; IPv4-mapped (``::ffff:a.b.c.d``),
    IPv4-compatible (``::a.b.c.d``), IPv4-translated, NAT64 (``64:ff9b::/96``) and 6to4 forms reduced
    to their IPv4 address."""
    if isinstance(address, IPv4Address):
        return address
    plain = IPv6Address(int(address))
    number = int(plain)
    if plain.ipv4_mapped is not None:
        return plain.ipv4_mapped
    if number >> 32 == 0 and number > 1:
        return IPv4Address(number)
    if plain in _NAT64 or plain in _TRANSLATED:
        return IPv4Address(number & 0xFFFFFFFF)
    if plain.sixtofour is not None:
        return plain.sixtofour
    return plain


def classify(address: IpAddress) -> str:
    """The class of the address a connection to ``address`` reaches (see ``canonical``)."""
    address = canonical(address)
    if address in METADATA_ADDRESSES:
        return METADATA
    if isinstance(address, IPv4Address):
        return next((kind for net, kind in _V4 if address in net), PUBLIC)
    kind = next((kind for net, kind in _V6 if address in net), None)
    if kind is not None:
        return kind
    return PUBLIC if address in _GLOBAL_UNICAST else RESERVED


@dataclass(frozen=True)
class Refusal:
    """Why the policy refuses a target; its text names the policy and what would change the decision."""

    host: str
    address: str | None
    kind: str

    def __str__(self) -> str:
        target = self.host if self.address in (None, self.host) else f"{self.host} ({self.address})"
        article = "an" if self.kind[0] in "aeiou" else "a"
        reason = f"refused by the outbound connection policy: {target} is {article} {self.kind} address"
        if self.kind in SETTING:
            return f"{reason}, and {SETTING[self.kind]}=false"
        return f"{reason}, which the gateway never connects to on a tenant's behalf"


@dataclass(frozen=True)
class EgressPolicy:
    """The decision for one target. ``allowed_hosts`` (names) and ``allowed_networks`` are the operator's
    exceptions: a target they match is connected to whatever its class."""

    allow_loopback: bool = True
    allow_private: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def configured(cls, allow_loopback: bool, allow_private: bool, exceptions: Iterable[str] = ()) -> EgressPolicy:
        """``exceptions``: host names, addresses or networks (``10.1.0.0/16``), as an operator lists them."""
        names: set[str] = set()
        networks: list[IPv4Network | IPv6Network] = []
        for entry in exceptions:
            text = normalise_host(entry)
            try:
                networks.append(ip_network(text, strict=False))
            except ValueError:
                names.add(text)
        return cls(allow_loopback, allow_private, frozenset(names), tuple(networks))

    def _exempt(self, address: IpAddress) -> bool:
        reached = canonical(address)
        return any(reached in net or IPv6Address(int(address)) in net for net in self.allowed_networks)

    def refusal(self, host: str, address: IpAddress) -> Refusal | None:
        """Why connecting to ``address`` (what ``host`` resolved to) is refused, or None."""
        if normalise_host(host) in self.allowed_hosts or self._exempt(address):
            return None
        kind = classify(address)
        if kind == PUBLIC or (kind == LOOPBACK and self.allow_loopback) or (kind == PRIVATE and self.allow_private):
            return None
        return Refusal(normalise_host(host), str(canonical(address)), kind)

    def refusal_of_name(self, host: str) -> Refusal | None:
        """Why a host name is refused before any lookup (a cloud metadata name), or None."""
        name = normalise_host(host)
        if name in METADATA_HOSTS and name not in self.allowed_hosts:
            return Refusal(name, None, METADATA)
        return None

    def refusal_of_url(self, url: str) -> Refusal | None:
        """What can be decided from the URL alone: its host is an address literal or a metadata name."""
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        if not host:
            return None
        literal = parse_host_literal(host)
        if literal is not None:
            return self.refusal(host, literal)
        return self.refusal_of_name(host)
