"""A vLLM-like exporter scraped every second by a real Prometheus, both on 127.0.0.1."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from inferplace.testing.exporter import Exporter, Truth

from .prom import running, scrape_config

# Two namespaces with different traffic: a selector on one must not count the other.
CHAT = Truth(rps=3.0, prompt_mean=800.0, output_mean=200.0, pods=("vllm-0", "vllm-1"), namespace="chat")
OTHER = Truth(rps=50.0, prompt_mean=100.0, output_mean=10.0, pods=("x-0",), namespace="other",
              ttft_s=((2.0, 1.0),), tpot_s=((0.2, 1.0),), running=99.0, kv_usage=0.99)
WINDOW = "10s"


@dataclass(frozen=True)
class Live:
    url: str
    truth: Truth
    other: Truth


def _query(url: str, promql: str) -> list[object]:
    q = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
        result: list[object] = json.load(r)["data"]["result"]
        return result


@contextmanager
def live_stack(root: Path, settle_s: float = 12.0) -> Iterator[Live]:
    """Exporters for CHAT and OTHER, a Prometheus scraping both; yields once `WINDOW` holds samples."""
    servers = [Exporter(t).serve() for t in (CHAT, OTHER)]
    try:
        targets = [f"127.0.0.1:{s.server_address[1]}" for s in servers]
        with running(root, scrape_config(targets)) as url:
            deadline = time.monotonic() + 30
            while len(_query(url, "up == 1")) < len(targets):
                assert time.monotonic() < deadline, "Prometheus never scraped the exporters"
                time.sleep(0.2)
            time.sleep(settle_s)  # a full rate window of 1 s scrapes
            yield Live(url, CHAT, OTHER)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
