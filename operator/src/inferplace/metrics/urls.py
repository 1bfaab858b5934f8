"""Which Prometheus URLs may be asked, and how a URL is shown.

The Prometheus endpoint is the platform's, not the tenant's: a workload's `spec.metrics.prometheusUrl`
is queried only when it falls under an entry of the operator's allow-list (the chart's
`prometheus.allowedUrls`), checked before any request. An entry is a scheme, host, port and path
prefix: `http://prometheus.monitoring:9090` allows that server's every path;
`https://thanos.example.com/tenant-a` allows `.../tenant-a` and `.../tenant-a/...` only. No URL may
carry credentials (user:password@), a query or a fragment.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what "the same server" means."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class UrlError(ValueError):
    """A URL that cannot be a Prometheus endpoint; the message says why."""


def check(url: str) -> str:
    """`url` if it is an http(s) URL with a host and nothing a request could be aimed with; UrlError otherwise."""
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # ValueError for a port that is no number or out of range
    except ValueError:
        raise UrlError(f"{shown(url)} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or _CONTROL.search(url) or " " in url:
        raise UrlError(f"{shown(url)} is not an http(s) URL such as http://prometheus:9090")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlError(f"{shown(url)} carries credentials (user:password@): give them as a token or password "
                       "file instead")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise UrlError(f"{shown(url)} has a query or fragment: give the server's base URL")
    return url


def shown(url: str) -> str:
    """The URL as messages show it: credentials removed, control characters escaped, at most 200 characters."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None or parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[-1]
            url = urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))
    except ValueError:
        url = re.sub(r"//[^/@]*@", "//***@", url)
    url = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", url)
    return repr(url[:200] + ("..." if len(url) > 200 else ""))


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


@dataclass(frozen=True)
class AllowList:
    """The URLs the platform lets workloads name; empty: none (only the operator's own Prometheus)."""

    entries: tuple[str, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> AllowList:
        return cls(tuple(check(e.strip()) for e in entries if e.strip()))

    def allows(self, url: str) -> bool:
        try:
            check(url)
        except UrlError:
            return False
        where, path = origin(url), _segments(urllib.parse.urlsplit(url).path)
        for entry in self.entries:
            prefix = _segments(urllib.parse.urlsplit(entry).path)
            if origin(entry) == where and path[:len(prefix)] == prefix:
                return True
        return False


__all__ = ["AllowList", "UrlError", "check", "origin", "shown"]
