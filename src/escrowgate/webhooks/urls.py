"""Endpoint URL rules. Live endpoints must be https and must not reach loopback,
private, link-local or otherwise internal addresses. The check runs when the URL is
set and again at every delivery: the worker resolves the host itself, checks every
address, and connects to the address it checked (TLS still verifies the host name),
so a DNS answer that changes between check and connect cannot point it inward."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from ..domain.errors import InvalidRequest

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(Exception):
    """The host resolves to an address a live endpoint may not reach."""


def is_internal(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def check_url_syntax(url: str, mode: str) -> str:
    """The URL's host, or a 400 naming what is wrong."""
    bad = InvalidRequest("url must be an absolute http or https URL with a host", param="url")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"url must be at most {MAX_URL_LENGTH} characters", param="url")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise bad from exc
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("url must not contain credentials", param="url")
    if any(c.isspace() for c in url):
        raise bad
    host = parts.hostname
    if mode == "live":
        if parts.scheme != "https":
            raise InvalidRequest("Live webhook endpoints must use https", param="url")
        if host == "localhost" or host.endswith(".localhost") or host.endswith(".local"):
            raise internal_url()
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and is_internal(literal):
            raise internal_url()
    return host


def internal_url() -> InvalidRequest:
    return InvalidRequest(
        "Live webhook endpoints must not point to loopback, private or link-local addresses",
        param="url",
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def safe_addresses(host: str, port: int, resolver: Resolver = resolve) -> list[IPAddress]:
    """Every address of `host`, or UnsafeAddress if any of them is internal."""
    addresses = await resolver(host, port)
    if not addresses:
        raise UnsafeAddress(f"{host} did not resolve")
    bad = [str(a) for a in addresses if is_internal(a)]
    if bad:
        raise UnsafeAddress(f"{host} resolves to a non-public address ({', '.join(bad)})")
    return addresses
