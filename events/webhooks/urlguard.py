"""Where a webhook may be sent (SPEC §14): SSRF protection, at create and update and again at every delivery.

A URL is refused when its host is, or resolves to, a loopback, private, link-local, metadata, multicast, reserved or
unspecified address (every address it resolves to is checked, so one public record cannot smuggle a private one).
`WEBHOOKS_ALLOW_PRIVATE_URLS=1` lets loopback and private addresses through (tests, on-premises receivers), never
link-local or metadata ones. The delivery connects to the address checked here (`Target.address`), so a name that
resolves differently a moment later (DNS rebinding) cannot redirect it.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# Cloud metadata services outside 169.254.0.0/16 and fe80::/10 (which are refused as link-local anyway).
_METADATA = (
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS (IPv6)
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
)


class UnsafeUrl(Exception):
    """Why the URL may not receive webhooks (a sentence for the `url` field)."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked IP the delivery connects to


def check(url: str) -> Target:
    """The URL's delivery target, or UnsafeUrl."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl("Not a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("Must be an http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Credentials in the URL are not allowed; verify the signature instead.")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"The host {parts.hostname!r} does not resolve.") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        _check_address(ipaddress.ip_address(address.split("%", 1)[0]))
    return Target(url=url, scheme=parts.scheme, host=parts.hostname, port=port, address=addresses[0])


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or any(address in network for network in _METADATA):
        raise UnsafeUrl(f"The host resolves to {address}, a link-local or metadata address.")
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        raise UnsafeUrl(f"The host resolves to {address}, which cannot receive webhooks.")
    if (address.is_loopback or address.is_private or _is_shared(address)) and not settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
        raise UnsafeUrl(f"The host resolves to {address}, a loopback or private address.")
    if not (address.is_global or address.is_loopback or address.is_private or _is_shared(address)):
        raise UnsafeUrl(f"The host resolves to {address}, which is not a public address.")


def _is_shared(address) -> bool:
    """100.64.0.0/10 (carrier-grade NAT): not global, and not in Python's `is_private` either."""
    return isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10")
