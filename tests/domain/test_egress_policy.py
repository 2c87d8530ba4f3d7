"""The outbound policy's pure core: how hosts are read, what class an address is in, what is decided."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgergate.domain.egress import EgressPolicy, canonical, classify, parse_host_literal, parse_ipv4_loose

STRICT = EgressPolicy(allow_loopback=False, allow_private=False)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefxX.", min_size=1, max_size=24))
def test_loose_ipv4_literals_are_read_exactly_as_the_system_resolver_reads_them(text: str) -> None:
    try:
        system: IPv4Address | None = IPv4Address(socket.inet_aton(text))
    except OSError:
        system = None
    assert parse_ipv4_loose(text) == system


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_spelling_of_an_ipv4_address_is_the_same_address(number: int) -> None:
    address = IPv4Address(number)
    a, b, c, d = address.packed
    low = (b << 16) + (c << 8) + d
    spellings = [str(number), hex(number), f"0{number:o}", f"{a}.{low}", f"{a:#x}.0{b:o}.{c}.{d:#x}"]
    assert {parse_ipv4_loose(s) for s in spellings} == {address}


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=2, max_value=2**32 - 1))
def test_ipv6_forms_that_carry_an_ipv4_address_are_classed_as_that_address(number: int) -> None:
    v4 = IPv4Address(number)
    forms = [
        IPv6Address(f"::ffff:{v4}"),  # mapped
        IPv6Address(f"::{v4}"),  # compatible
        IPv6Address(f"::ffff:0:{v4}"),  # translated
        IPv6Address(f"64:ff9b::{v4}"),  # NAT64
        IPv6Address((0x2002 << 112) | (number << 80)),  # 6to4
    ]
    assert {canonical(form) for form in forms} == {v4}
    assert {classify(form) for form in forms} == {classify(v4)}


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("febf::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("100::1", "reserved"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),
        ("100.127.255.255", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("8.8.8.8", "public"),
        ("172.32.0.1", "public"),
        ("100.128.0.1", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_addresses_are_classed(address: str, kind: str) -> None:
    assert classify(ip_address(address)) == kind


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe"),
        ("[FE80::1%25eth0]", "fe80::1%eth0"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.169.254.", "169.254.169.254"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("09.1.1.1", None),
        ("4294967296", None),
    ],
)
def test_a_host_is_an_address_literal_in_every_form_a_resolver_accepts(host: str, address: str | None) -> None:
    parsed = parse_host_literal(host)
    assert (str(parsed) if parsed is not None else None) == address


def test_link_local_and_metadata_are_refused_whatever_the_settings() -> None:
    permissive = EgressPolicy(allow_loopback=True, allow_private=True)
    for url in ("http://[::ffff:a9fe:a9fe]/", "http://[fe80::1%25lo]/", "http://0xa9fea9fe/", "http://metadata.goog/"):
        assert permissive.refusal_of_url(url) is not None
        assert STRICT.refusal_of_url(url) is not None


def test_loopback_and_private_follow_their_settings_and_the_refusal_names_the_setting() -> None:
    assert EgressPolicy().refusal_of_url("http://127.0.0.1:8080/") is None
    assert EgressPolicy().refusal_of_url("http://10.0.0.1/") is None
    assert "LEDGERGATE_SSRF_ALLOW_LOOPBACK=false" in str(STRICT.refusal_of_url("http://[::ffff:127.0.0.1]/"))
    assert "LEDGERGATE_SSRF_ALLOW_PRIVATE=false" in str(STRICT.refusal_of_url("http://167772161/"))
    only_private = EgressPolicy(allow_loopback=False, allow_private=True)
    assert only_private.refusal_of_url("http://10.0.0.1/") is None
    assert only_private.refusal_of_url("http://127.0.0.1/") is not None


def test_listed_hosts_and_networks_are_exempt_and_nothing_else_is() -> None:
    policy = EgressPolicy.configured(False, False, ["Internal.Example.", "10.9.0.0/16", "[fd00::5]"])
    assert policy.refusal("internal.example", ip_address("10.1.1.1")) is None
    assert policy.refusal("other.example", ip_address("10.9.3.4")) is None
    assert policy.refusal("other.example", ip_address("::ffff:10.9.3.4")) is None
    assert policy.refusal("other.example", ip_address("fd00::5")) is None
    assert policy.refusal("other.example", ip_address("10.10.0.1")) is not None
    assert policy.refusal("internal.example.evil", ip_address("10.1.1.1")) is not None


def test_a_name_needs_resolving_unless_it_is_a_metadata_name() -> None:
    assert EgressPolicy().refusal_of_url("https://api.example.com/v1") is None
    refusal = EgressPolicy().refusal_of_url("http://METADATA.google.internal./computeMetadata/v1/")
    assert refusal is not None and "cloud metadata" in str(refusal) and "never connects" in str(refusal)
