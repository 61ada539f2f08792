"""Fixtures for the HTTP client and CKAN harvester tests: real local portals on 127.0.0.1.

Import what you need (``from conftest_portal import ...``) or list this module in
``pytest_plugins`` of the root conftest.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from citycat.localportal import DirectoryStore, LocalPortal
from harvesters.http import HttpConfig

CKAN_DATA = Path(__file__).parent / "data" / "ckan"


class SleepRecorder:
    """Stands in for ``time.sleep`` in retry paths: records the wait, takes none."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def recorded_package(name: str) -> dict[str, Any]:
    """The package dict of a recorded response in tests/data/ckan (envelope stripped)."""
    doc = json.loads((CKAN_DATA / name).read_text(encoding="utf-8"))
    return doc["result"] if isinstance(doc, dict) and "result" in doc else doc


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def fast_http(sleeps: SleepRecorder) -> HttpConfig:
    """Retries without real waiting, no jitter, so tests assert the exact waits requested."""
    return HttpConfig(backoff_base=0.01, jitter=0, connect_timeout=2, requests_per_second=0, sleep=sleeps)


@pytest.fixture
def synthetic_portal(request: pytest.FixtureRequest) -> Iterator[LocalPortal]:
    """A synthetic portal; parametrize indirectly with a dict of SyntheticSpec fields."""
    spec = dict(getattr(request, "param", None) or {"count": 2345})
    count = spec.pop("count")
    with LocalPortal.synthetic(count, **spec) as portal:
        yield portal


@pytest.fixture
def recorded_portal() -> Iterator[LocalPortal]:
    """Every recorded real package (dgu, ckan 2.2, catalog.data.gov harvest sources)."""
    store = DirectoryStore.from_paths(sorted(CKAN_DATA.glob("*package_show*.json"))
                                      + [CKAN_DATA / "catalog_data_gov_harvest_sources_results.json"])
    with LocalPortal(store) as portal:
        yield portal


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
