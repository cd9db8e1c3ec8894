"""Who is at the other end of a request, for the sign-in rate limit.

Behind a TLS-terminating proxy every request comes from the proxy's address; the client's is
in X-Forwarded-For, which anyone can also write. The header is read only when the peer is a
proxy the operator trusts (OUTAGE_VOICE_TRUSTED_PROXIES), and then only up to the first hop,
from the right, that is not itself trusted: everything left of that was written by the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def client_address(request: web.Request, trusted: Sequence[IPNetwork]) -> str:
    peer = request.remote or UNKNOWN
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getall("X-Forwarded-For", ())
        for hop in value.split(",")
    ]
    return forwarded_client(peer, hops, trusted)


def forwarded_client(peer: str, hops: Iterable[str], trusted: Sequence[IPNetwork]) -> str:
    """The rightmost hop not trusted; the leftmost when all are (the request came from inside);
    the last trusted one when a hop is not an address (nothing left of it can be believed)."""
    client = peer
    for hop in reversed(list(hops)):
        address = _parse(hop)
        if address is None:
            return client
        client = str(address)
        if not _is_trusted(client, trusted):
            return client
    return client


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(text: str, trusted: Sequence[IPNetwork]) -> bool:
    address = _parse(text)
    return address is not None and any(address in network for network in trusted)
