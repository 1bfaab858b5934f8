"""Start and stop a real Prometheus (Debian's `prometheus` package) on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .ports import free_port


def binaries() -> tuple[str, str]:
    """prometheus and promtool, or skip (fail when INFERPLACE_REQUIRE_PROMETHEUS is set, as in CI)."""
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not binary or not promtool:
        if os.environ.get("INFERPLACE_REQUIRE_PROMETHEUS"):
            pytest.fail("INFERPLACE_REQUIRE_PROMETHEUS is set but prometheus/promtool are not installed")
        pytest.skip("Debian's prometheus package is not installed (apt-get install prometheus)")
    return binary, promtool


def scrape_config(targets: list[str], interval_s: int = 1) -> str:
    quoted = ", ".join(f'"{t}"' for t in targets)
    return (f"global: {{scrape_interval: {interval_s}s, evaluation_interval: {interval_s}s}}\n"
            f"scrape_configs:\n  - job_name: vllm\n    honor_labels: true\n"
            f"    static_configs: [{{targets: [{quoted}]}}]\n")


@contextmanager
def running(root: Path, config: str, data: Path | None = None, port: int | None = None) -> Iterator[str]:
    """A Prometheus serving `data` (a TSDB directory) with `config`; yields its URL, stops it after. `port`:
    one chosen beforehand (a client already configured with the URL), else a free one."""
    binary, _ = binaries()
    root.mkdir(parents=True, exist_ok=True)
    (root / "prom.yml").write_text(config)
    port = port or free_port()
    data = data or root / "tsdb"
    with (root / "prom.log").open("w") as log:
        proc = subprocess.Popen([binary, f"--config.file={root / 'prom.yml'}", f"--storage.tsdb.path={data}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=10y"],
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_http(f"{url}/-/ready", 30, proc):
                raise RuntimeError(f"prometheus did not start: {(root / 'prom.log').read_text()[-2000:]}")
            yield url
        finally:
            stop(proc)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """True once `url` answers 200; False after `timeout` s or when `proc` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
