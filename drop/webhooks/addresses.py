"""Where a webhook may point: http(s) URLs whose host resolves to public addresses only.

The check runs when an endpoint is added and again at every connection a delivery makes
(`drop.webhooks.http`), so a name re-pointed at an internal address after it was accepted
(DNS rebinding) is refused too."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

RESOLVE_TIMEOUT_S = 3.0
MAX_URL_LENGTH = 2000

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(ValueError):
    """The URL or an address it resolves to may not be called; the message says why."""


def url_host(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or AddressRefused naming what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"the URL is malformed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refusal(address: IpAddress) -> str | None:
    """Why `address` may not be called, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, flagged in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
    ):
        if flagged:
            return f"{address} is a {kind} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


async def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to (AddressRefused when it resolves to none)."""
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        raise AddressRefused(f"{host} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    return addresses


async def checked(host: str, port: int, allow_private: bool) -> list[IpAddress]:
    """The addresses of `host`, all of them public unless `allow_private`."""
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise AddressRefused(f"{host} resolves to {reason}")
    return addresses


async def check_url(url: str, allow_private: bool) -> None:
    host, port = url_host(url)
    await checked(host, port, allow_private)
