"""The one place that decides which address a request came from.

Per-IP limits (challenges, waiting places, streams, recoveries) count by this address, so
it must be one a client cannot choose. A TCP peer is a fact; an X-Forwarded-For entry is
only as good as the hop that wrote it. Each hop appends the address it saw, so the chain is
read from the right: while the hop that handed us the request is a proxy we run (listed in
FORWARDED_ALLOW_IPS), the entry it appended names the next hop out; the first hop that is
not ours is the client. Anything further left was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where the middleware keeps the TCP peer it replaced: the web proxy appends that address.
PEER_KEY = "drop.peer"
UNKNOWN = "unknown"
SCHEMES = frozenset({"http", "https"})
KNOWN_HOSTS = 4096  # answers remembered by TrustedProxies, at most


class TrustedProxies:
    """The proxies we run, from a comma-separated list of addresses and networks."""

    def __init__(self, spec: str) -> None:
        self.networks: tuple[IpNetwork, ...] = tuple(_network(p) for p in _entries(spec))
        # Every request asks about its peer, nearly always one of a few: parsing the
        # address each time was a visible share of a request's CPU.
        self._known: dict[str, bool] = {}

    def __contains__(self, host: str) -> bool:
        known = self._known.get(host)
        if known is None:
            if len(self._known) >= KNOWN_HOSTS:
                self._known.clear()
            address = _address(host)
            known = address is not None and any(address in net for net in self.networks)
            self._known[host] = known
        return known


def _entries(spec: str) -> list[str]:
    return [p.strip() for p in spec.split(",") if p.strip()]


def _network(entry: str) -> IpNetwork:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(
            f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network "
            "(list the proxies we run; '*' would let anyone name any client)"
        ) from None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def forwarded_hops(values: Iterable[str]) -> list[str]:
    """Every X-Forwarded-For entry, left to right, over all the header's lines."""
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


def client_address(peer: str | None, hops: list[str], trusted: TrustedProxies) -> str:
    """The address the nearest hop we do not run connected from (see the module's doc)."""
    if not peer:
        return UNKNOWN
    if peer not in trusted:
        return peer
    nearest = peer
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
        nearest = hop
    # Every hop is ours: the request began inside (a health check, the site's own call).
    return nearest


def peer_host(scope: Scope) -> str | None:
    """The TCP peer of this request, even after the middleware named the client."""
    if PEER_KEY in scope:
        peer: str | None = scope[PEER_KEY]
        return peer
    client = scope.get("client")
    return str(client[0]) if client else None


class ClientAddress:
    """Puts the decided client address in the scope's `client` (what `request.client`
    reads), keeps the peer under PEER_KEY, and takes the scheme from X-Forwarded-Proto
    when the peer is ours (TLS ends at the edge)."""

    def __init__(self, app: App, trusted: TrustedProxies) -> None:
        self.app, self.trusted = app, trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and PEER_KEY not in scope:
            peer = peer_host(scope)
            scope[PEER_KEY] = peer
            headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
            chain = forwarded_hops(
                v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"
            )
            port = scope["client"][1] if scope.get("client") else 0
            scope["client"] = (client_address(peer, chain, self.trusted), port)
            if peer is not None and peer in self.trusted:
                _forwarded_scheme(scope, headers)
        await self.app(scope, receive, send)


def _forwarded_scheme(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    for name, value in headers:
        if name == b"x-forwarded-proto":
            scheme = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
            if scheme in SCHEMES:
                scope["scheme"] = (
                    scheme if scope["type"] == "http" else scheme.replace("http", "ws")
                )
