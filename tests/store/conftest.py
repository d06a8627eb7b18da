"""The store's contract suite runs on both backends (``store_url`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bridge.store import Store
from tests.store.factories import T0

StoreFactory = Callable[[], Store]


@pytest.fixture
def open_store(store_url: str) -> Iterator[StoreFactory]:
    """Open stores on ``store_url`` with a fixed clock; all are closed afterwards."""
    opened: list[Store] = []

    def factory() -> Store:
        store = Store.open(store_url, now=lambda: T0)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """A migrated, empty store."""
    return open_store()
