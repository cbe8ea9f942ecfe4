"""Who the client is: the socket's peer or, behind trusted proxies, the address the
nearest untrusted hop is known by. One answer per request, used by everything
that needs an address (rate limits, the web callbacks' ``client_ip``, logs).

``X-Forwarded-For`` is a list that each proxy appends its peer to; whatever is to
the left of the first proxy's entry was written by the client and proves nothing.
Proxies append differently: nginx's ``$proxy_add_x_forwarded_for`` makes one
line (the client's value, then ``, <peer>``), HAProxy's ``option forwardfor``
adds a line of its own after the client's. So every line is read, in order, each
split on commas, and the list is walked from the right: while the address in
hand is a trusted proxy, the entry it wrote is believed. The first address that
is not a trusted proxy is the client; an entry that is not an address stops the
walk (the proxy that wrote it is then the client as far as anyone can tell).
Without ``api.trusted_proxies`` the header is never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

from switchboard.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[Network, ...])
CLIENT_ADDRESS = web.RequestKey("client_address", str)


def parse_address(text: str | None) -> Address | None:
    """An address as sockets and proxies write it (``1.2.3.4``, ``1.2.3.4:5678``,
    ``2001:db8::1``, ``[2001:db8::1]:443``); IPv4-mapped IPv6 as IPv4. None: not one."""
    text = (text or "").strip()
    if text.startswith("["):
        inside, bracket, port = text[1:].partition("]")
        text = inside if bracket and (not port or port.startswith(":")) else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def client_address(peer: str | None, forwarded: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client of a request from ``peer`` whose ``X-Forwarded-For`` lines are
    ``forwarded``: what a client writes into the header never makes it look like
    someone else (module docstring)."""
    address = parse_address(peer)
    if address is None:
        return peer or ""
    if not trusted:
        return str(address)
    hops = [hop for line in forwarded for hop in line.split(",") if hop.strip()]
    while hops and is_trusted(address, trusted):
        told = parse_address(hops.pop())
        if told is None:
            break
        address = told
    return str(address)


def address_key(address: str) -> str:
    """The key an address is counted under (rate limits, connections): IPv6 by its /64
    (one subscriber's network), IPv4 as itself."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(parsed), 64), strict=False))
    return str(parsed or address)


def client_of(request: web.Request) -> str:
    """The client of ``request`` (worked out once; ``api.trusted_proxies`` from the app)."""
    known = request.get(CLIENT_ADDRESS)
    if known is None:
        trusted = request.app.get(TRUSTED_PROXIES, ())
        forwarded = request.headers.getall("X-Forwarded-For", ())
        known = client_address(request.remote, forwarded, trusted)
        request[CLIENT_ADDRESS] = known
    return known
