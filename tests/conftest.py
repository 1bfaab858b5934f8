from __future__ import annotations

from pathlib import Path

import pytest

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
