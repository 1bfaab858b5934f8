"""A hostile or broken Prometheus on 127.0.0.1: it answers the query API in one chosen bad way.

Modes: `drip` (a valid answer, one byte every `every_s`), `hang` (reads the request, never answers),
`huge` (a `status` answer of `size` bytes, generated as it is sent, never held), `deep` (JSON nested
`size` levels), `values` (well-formed answers whose every sample is `value`: 1e308, NaN, -5 ...),
`wrong` (a result of the wrong type), `redirect` (302 to `location` + /moved + the path; an empty
`location` redirects to the same server, which answers /moved/... plausibly), `ok` (a plausible answer).
Every server a test starts, it stops (`serving` is a context manager); `requests` counts what it got.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hostile:
    mode: str
    status: int = 200
    size: int = 300 * 1024 * 1024
    every_s: float = 0.5
    value: str = "1"
    location: str = ""
    labels: dict[str, str] = field(default_factory=lambda: {"namespace": "chat"})
    requests: list[str] = field(default_factory=list)
    url: str = ""
    stop: threading.Event = field(default_factory=threading.Event)


def _answer(h: Hostile, path: str, query: dict[str, list[str]]) -> bytes:
    if path.endswith("/query_range"):
        start, end = float(query["start"][0]), float(query["end"][0])
        step = float(query["step"][0])
        n = int((end - start) // step) + 1
        values = [[start + i * step, h.value] for i in range(n)]
        return json.dumps({"status": "success", "data": {"resultType": "matrix",
                                                         "result": [{"metric": h.labels, "values": values}]}}).encode()
    return json.dumps({"status": "success", "data": {"resultType": "vector",
                                                     "result": [{"metric": h.labels, "value": [time.time(), h.value]}]}
                       }).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        h = self.server.hostile
        parts = urllib.parse.urlsplit(self.path)
        h.requests.append(self.path)
        query = urllib.parse.parse_qs(parts.query)
        with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError):  # the client gave up
            self._serve(h, parts.path, query)

    def _serve(self, h: Hostile, path: str, query: dict[str, list[str]]) -> None:
        if h.mode == "hang":
            h.stop.wait(120)
            return
        if h.mode == "redirect" and path.startswith("/moved"):
            path = path.removeprefix("/moved")  # where a same-host redirect lands: a plausible answer
        elif h.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", h.location + "/moved" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if h.mode == "huge":
            self._huge(h)
            return
        if h.mode == "deep":
            body = b"[" * h.size + b"]" * h.size
        elif h.mode == "wrong":
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": {"x": 1}}}).encode()
        else:
            body = _answer(h, path, query)
        self.send_response(h.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if h.mode == "drip":
            for i in range(len(body)):
                if h.stop.wait(h.every_s):
                    return
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            return
        self.wfile.write(body)

    def _huge(self, h: Hostile) -> None:
        """`size` bytes of a valid-looking answer, generated chunk by chunk; no Content-Length (chunked
        transfer as Prometheus sends large answers), so only reading it finds its size."""
        self.send_response(h.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        series = json.dumps({"metric": {"namespace": "chat", "pad": "x" * 900}, "value": [1, "1"]}).encode() + b","
        head = b'{"status":"success","data":{"resultType":"vector","result":['
        sent = 0
        chunk = head + series * (64 * 1024 // len(series))
        while sent < h.size and not h.stop.is_set():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            chunk = series * (64 * 1024 // len(series))
        tail = b'{"metric":{},"value":[1,"1"]}]}}'
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hostile: Hostile


@contextmanager
def serving(h: Hostile) -> Iterator[Hostile]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hostile = h
    h.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield h
    finally:
        h.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
