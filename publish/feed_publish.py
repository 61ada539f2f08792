"""The publish stage: the inventory's active datasets -> the static feed (``citycat.pipeline.publish``).

Joins three streams in feed order and hands them to :func:`publish.feed.write_feed`: the datasets
(``inventory.feed_source.FeedSource``, lazy: their graphs stay compressed in the inventory unless
they have to be serialised), each one's latest quality measurement (``publish.feed_dqv``, as DQV)
and its duplicate-cluster links (``publish.feed_links``). Each dataset's change key covers all
three, so the writer reuses every unchanged dataset's bytes without reading its graph:

* **with a previous feed** (its state file exists) the datasets stream *lean*, without graphs,
  and the writer fetches the graphs of the changed ones (one query per chunk of 50, inside the
  same read transaction);
* **without one** every graph is needed, so they stream compressed and are inflated in the
  feed's worker processes rather than in this one.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from publish.feed import write_feed
from publish.feed_dqv import join_quality
from publish.feed_links import join_cluster_links
from publish.feed_model import CatalogInfo, SourceInfo
from publish.feed_pages import STATE_FILE


def feed_catalog(sources: Any) -> tuple[CatalogInfo, list[SourceInfo]]:
    """(CatalogInfo, [SourceInfo, ...]) from a ``citycat.config.SourcesFile`` (as ``citycat.pipeline.feed_catalog``)."""
    c = sources.catalog
    catalog = CatalogInfo(base_uri=c.base_uri.rstrip("/"), title=c.title, description=c.description,
                          publisher_name=c.publisher_name, publisher_uri=c.publisher_uri, homepage=c.homepage,
                          licence_uri=c.licence_uri)
    infos = [SourceInfo(source_id=s.id, title=s.title, url=s.url, institution_name=s.institution.name,
                        institution_uri=s.institution.uri) for s in sources.sources]
    return catalog, infos


def publish_inventory(sources: Any, *, inventory: Any, data_dir: Path, generated_at: datetime,
                      workers: int | None = None) -> dict[str, Any]:
    """Write ``<data_dir>/feed`` from the inventory's active datasets; returns the FeedResult as a
    JSON-able dict plus ``path`` and ``seconds`` (what ``citycat.pipeline.publish`` returns)."""
    from inventory.clusters import feed_links
    from inventory.feed_source import FeedSource

    started = time.monotonic()
    catalog, infos = feed_catalog(sources)
    out_dir = Path(data_dir) / "feed"
    lean = (out_dir / STATE_FILE).exists()
    links = feed_links(inventory)
    with FeedSource(inventory) as src:
        datasets = join_quality(src.datasets(lean=lean), src.latest_quality(), base_uri=catalog.base_uri)
        datasets = join_cluster_links(datasets, links)
        result = write_feed(datasets, out_dir, catalog=catalog, sources=infos, page_size=sources.catalog.page_size,
                            total=src.count(), generated_at=generated_at, workers=workers, fetch=src.fetch)
    out = asdict(result)
    out["path"] = str(result.path)
    out["seconds"] = round(time.monotonic() - started, 3)
    return out


__all__ = ["feed_catalog", "publish_inventory"]
