"""One Airflow pool per source host, so parallel DAG runs never hit one host harder than configured.

The HTTP client's rate limit (``requests_per_second``) is per process: two harvest tasks of
sources on the same host — two DAGs, or a backfill beside the nightly run — would each get the
full rate. A pool caps how many harvest tasks talk to a host at once across every worker, so
the host's worst-case load is ``slots × requests_per_second``. Pools are derived from
``sources.yaml`` (never from a database) because the DAG files name them at parse time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

POOL_PREFIX = "citycat_host__"


def pool_name(host: str) -> str:
    """The pool of a host: stable, readable, limited to characters every Airflow UI and CLI shows as is."""
    return POOL_PREFIX + re.sub(r"[^a-z0-9_.-]", "_", host.lower())[:200]


@dataclass(frozen=True)
class HostPool:
    name: str
    host: str
    slots: int
    sources: tuple[str, ...]
    requests_per_second: float | None  # the largest per-task rate among the host's sources, if they set one

    @property
    def description(self) -> str:
        rate = ""
        if self.requests_per_second:
            rate = (f", each at most {self.requests_per_second:g} requests/s "
                    f"(host worst case {self.slots * self.requests_per_second:g}/s)")
        return (f"citycat politeness pool for {self.host}: at most {self.slots} harvest task(s) at once{rate}; "
                f"sources: {', '.join(self.sources)}")


def host_pools(sources: Iterable[Any]) -> list[HostPool]:
    """The pools for ``sources`` (SourceConfig objects), one per host, sorted by name.

    A host shared by several sources gets the smallest ``max_parallel_harvests`` among them:
    the strictest limit anyone configured for that host wins.
    """
    by_host: dict[str, list[Any]] = {}
    for source in sources:
        by_host.setdefault(source.host, []).append(source)
    pools = []
    for host, group in by_host.items():
        rates = [r for r in (getattr(s.options, "requests_per_second", None) for s in group) if r]
        pools.append(HostPool(name=pool_name(host), host=host, slots=min(s.max_parallel_harvests for s in group),
                              sources=tuple(sorted(s.id for s in group)),
                              requests_per_second=max(rates) if rates else None))
    return sorted(pools, key=lambda p: p.name)


def pools_document(pools: Iterable[HostPool]) -> dict[str, dict[str, Any]]:
    """The JSON ``airflow pools import FILE`` reads (and ``airflow pools export`` writes)."""
    return {p.name: {"slots": p.slots, "description": p.description, "include_deferred": False} for p in pools}


def pools_json(pools: Iterable[HostPool]) -> str:
    return json.dumps(pools_document(pools), indent=2, sort_keys=True)
