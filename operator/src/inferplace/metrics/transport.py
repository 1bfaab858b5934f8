"""HTTP to Prometheus with limits the server cannot stretch.

`BoundedSession` is the requests session the Prometheus client is given. Every request it sends:
- ends by its deadline, connect, headers and body together (a socket timeout alone restarts with
  every byte, so a server dripping one byte every few seconds would never time out);
- reads the body as it streams and stops past `max_bytes` (a Content-Length over it is refused
  before reading), so an answer of any size costs at most that much memory, whether its status is
  200 or 500 (the client formats a failed answer's whole body into its exception);
- follows a redirect only to the same scheme, host and port, at most `max_redirects` times: a
  server cannot send the operator to ask another host on its behalf;
- sends no environment credentials (.netrc) to a server the platform did not configure.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from inferplace.metrics.answers import AnswerFault
from inferplace.metrics.deadline import Deadline
from inferplace.metrics.urls import origin

CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 4 * 1024 * 1024  # a grouped answer for a thousand workloads is ~300 KB
DEFAULT_MAX_REDIRECTS = 3
CONNECT_TIMEOUT_S = 5.0


class TransportFault(AnswerFault):
    """The answer was cut off or refused by a limit (DeadlineExceeded, AnswerTooLarge, RedirectRefused)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    connect_timeout_s: float = CONNECT_TIMEOUT_S


class BoundedSession(requests.Session):
    """A session whose every request ends by the deadline `deadline()` gives and reads at most
    `limits.max_bytes`. `trust_env=False` (the default here) ignores .netrc and proxy variables."""

    def __init__(self, deadline: Callable[[], Deadline], limits: Limits = Limits(), trust_env: bool = False):
        super().__init__()
        self.deadline = deadline
        self.limits = limits
        self.trust_env = trust_env

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        deadline = self.deadline()
        kwargs.pop("timeout", None)
        kwargs.pop("stream", None)
        kwargs["allow_redirects"] = False
        target = url.decode() if isinstance(url, bytes) else url
        home = origin(target)
        for _hop in range(self.limits.max_redirects + 1):
            left = deadline.remaining()
            if left <= 0:
                raise TransportFault("DeadlineExceeded", f"no answer within {deadline.seconds:g} s")
            try:
                resp = super().request(method, target, timeout=(min(self.limits.connect_timeout_s, left), left),
                                       stream=True, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                if deadline.expired():
                    raise TransportFault("DeadlineExceeded", f"no answer within {deadline.seconds:g} s") from exc
                raise
            if not resp.is_redirect:
                self._read(resp, deadline)
                return resp
            location = urllib.parse.urljoin(target, resp.headers.get("location", ""))
            resp.close()
            if origin(location) != home:
                raise TransportFault("RedirectRefused", "a redirect to another host was refused")
            target = location
            kwargs.pop("params", None)  # the location carries its own query
        raise TransportFault("RedirectRefused", f"more than {self.limits.max_redirects} redirects")

    def _read(self, resp: requests.Response, deadline: Deadline) -> None:
        """The body, read within the deadline and the byte limit, kept as the response's content."""
        limit = self.limits.max_bytes
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            resp.close()
            raise TransportFault("AnswerTooLarge", f"an answer of {int(declared):,} bytes is over the "
                                                   f"{limit:,}-byte limit")
        sock = _socket(resp)
        body = bytearray()
        try:
            while True:
                left = deadline.remaining()
                if left <= 0:
                    raise TransportFault("DeadlineExceeded", f"the answer did not arrive within "
                                                             f"{deadline.seconds:g} s")
                if sock is not None and sock.fileno() != -1:
                    with contextlib.suppress(OSError):  # closed under us once the body is complete
                        sock.settimeout(left)  # each wait is bounded by what is left, not a fresh timeout
                chunk = resp.raw.read1(CHUNK, decode_content=True)  # what has arrived, not a full chunk
                if not chunk:
                    break
                body += chunk
                if len(body) > limit:
                    raise TransportFault("AnswerTooLarge", f"the answer is over the {limit:,}-byte limit")
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) as exc:
            if deadline.expired():
                raise TransportFault("DeadlineExceeded", f"the answer did not arrive within "
                                                         f"{deadline.seconds:g} s") from exc
            raise requests.ConnectionError(f"reading the answer failed: {type(exc).__name__}") from exc
        finally:
            resp.close()
        resp._content = bytes(body)  # how requests keeps a body it has read
        setattr(resp, "_content_consumed", True)  # noqa: B010 - requests' own flag, not in its stubs


def _socket(resp: requests.Response) -> socket.socket | None:
    """The connection's socket, to bound each read by what is left of the deadline (None if hidden: then each
    read is bounded by the timeout the request was sent with, and the deadline is checked between reads).
    http.client reads the body through a SocketIO over it; urllib3 2 no longer keeps it on the connection."""
    conn = getattr(resp.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if not isinstance(sock, socket.socket):
        stream = getattr(getattr(getattr(resp.raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(stream, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


__all__ = ["DEFAULT_MAX_BYTES", "BoundedSession", "Limits", "TransportFault"]
