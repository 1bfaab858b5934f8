from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support.live import Live, live_stack

DATA = Path(__file__).parent / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests under tests/unit are unit tests unless they say otherwise.
    for item in items:
        if "/unit/" in str(item.fspath) and not any(
            m.name in ("prometheus", "e2e") for m in item.iter_markers()
        ):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def live_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real Prometheus scraping vLLM-like exporters with known figures, on 127.0.0.1."""
    with live_stack(tmp_path_factory.mktemp("live")) as live:
        yield live
