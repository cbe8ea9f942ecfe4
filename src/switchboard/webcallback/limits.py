"""Who the client is (pure): the address rate limits and the request record use.

(The limiter itself is ``switchboard.ratelimit``.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def client_address(peer: str | None, forwarded_for: str, trusted: Iterable[str]) -> str:
    """The client's address. ``X-Forwarded-For`` is believed only when the peer is a
    trusted proxy, and then only up to the first address (from the right, the
    proxies' side) that is not itself a trusted proxy: what a client writes into
    the header can never make it look like someone else."""
    networks = [ipaddress.ip_network(n) for n in trusted]
    address = _address(peer)
    if address is None:
        return peer or ""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()] if forwarded_for else []
    while _in(address, networks) and hops:
        forwarded = _address(hops.pop())
        if forwarded is None:
            break  # garbage from the client side: the last good address stands
        address = forwarded
    return str(address)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _in(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def address_key(address: str) -> str:
    """The rate-limit key of an address: IPv6 by its /64 (one subscriber's network)."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(
        parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else parsed or address
    )
