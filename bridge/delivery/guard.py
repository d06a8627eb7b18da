"""Pure: which addresses count as the local network (docs/delivery.md#local-network).

The set is what GitLab refuses when "Allow requests to the local network" is off
(``Gitlab::HTTP_V2::UrlBlocker#validate_local_request`` with ``allow_localhost`` and
``allow_local_network`` false): unspecified, loopback, private (RFC 1918), shared (100.64/10),
link-local (169.254/16 with the cloud metadata address, fe80::/10), unique local (fc00::/7),
site-local (fec0::/10) and the limited broadcast address. An IPv4-mapped IPv6 address is judged
as its IPv4 address, as GitLab maps them before checking. GitLab also refuses the host's own
addresses; finding those takes a socket, so the adapter passes them in as ``own``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable

SETTING = "(delivery.allow_local_network is false)"

_KINDS = (
    ("0.0.0.0/8", "unspecified"),  # "this network": 0.0.0.0 reaches this host on Linux
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "shared"),
    ("169.254.0.0/16", "link-local"),
    ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "unique local"),
    ("fec0::/10", "site-local"),
)
_NETWORKS = tuple((ipaddress.ip_network(net), kind) for net, kind in _KINDS)


def local_kind(address: str) -> str | None:
    """Why an IP address counts as local (``"loopback"``, ``"private"``…), None if it does not."""
    ip = ipaddress.ip_address(address.partition("%")[0])  # an IPv6 zone is not part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return next((kind for network, kind in _NETWORKS if ip in network), None)


def refusal(host: str, addresses: Iterable[str], *, own: Collection[str] = ()) -> str | None:
    """Why ``host`` is refused: the first of its resolved ``addresses`` that is local, or None.

    Every address counts, not only the first: a connection may go to any of them.
    """
    for address in addresses:
        kind = local_kind(address) or ("this host's own" if address in own else None)
        if kind is None:
            continue
        if _same(host, address):
            return f"refused: {address} is a local address ({kind}) {SETTING}"
        return f"refused: {host} resolves to {address}, a local address ({kind}) {SETTING}"
    return None


def _same(host: str, address: str) -> bool:
    """Whether ``host`` is the literal ``address`` (so there is no name to mention)."""
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False
