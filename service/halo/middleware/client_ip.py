"""The client's IP address: the peer, unless the peer is a trusted proxy.

Only when the TCP peer is in TRUSTED_PROXIES is `X-Forwarded-For` read, from
the right, skipping further trusted hops; the first untrusted address is the
client. A client cannot choose its own address (and rate-limit bucket) by
sending the header itself.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from sanic.request import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIpResolver:
    def __init__(self, trusted_proxies: list[str]) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in trusted_proxies
        )
        self._is_trusted = lru_cache(maxsize=4096)(self._check)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:  # type: ignore[union-attr]
            ip = ip.ipv4_mapped  # type: ignore[union-attr]
        return any(ip in network for network in self._networks)

    def resolve(self, peer: str, forwarded_for: str | list[str] | None) -> str:
        """`forwarded_for`: the X-Forwarded-For value, or every line of it in order of arrival."""
        if not self._networks or not forwarded_for or not self._is_trusted(peer):
            return peer
        if not isinstance(forwarded_for, str):
            forwarded_for = ",".join(forwarded_for)
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        for hop in reversed(hops):
            if not hop:
                continue
            if not self._is_trusted(hop):
                return hop if _is_ip(hop) else peer
        return hops[0] if hops and _is_ip(hops[0]) else peer

    def middleware(self, request: Request) -> None:
        peer = request.conn_info.client_ip if request.conn_info else ""
        if self._networks:
            client_ip = self.resolve(peer, request.headers.getall("x-forwarded-for", None))
        else:
            client_ip = peer
        request.ctx.client_ip = client_ip
        request.ctx.client_key = client_key(client_ip)


@lru_cache(maxsize=65536)
def client_key(address: str) -> str:
    """What per-client limits count by: an IPv4 address as it is, an IPv6 address's /64 prefix."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
