"""Turning a lazy :class:`~publish.feed_model.FeedDataset` into the eager one the writer prepares.

The feed writer calls :func:`resolve` only for datasets it must (re-)serialise, in the worker
process that prepares them, so an incremental publish inflates and extends the graphs of the
changed datasets only. The result has exactly the N-Triples the eager path builds
(``feed_dqv.with_quality`` then ``feed_links.with_cluster_links`` appending to ``nt``): same
triples, same order, same bytes in the feed.
"""

from __future__ import annotations

import zlib
from dataclasses import replace

from publish.feed_dqv import quality_ntriples
from publish.feed_links import link_ntriples
from publish.feed_model import FeedDataset


def resolve(ds: FeedDataset, base_uri: str) -> FeedDataset:
    """``ds`` with ``nt`` filled in (its graph, then its measurement, then its cluster links)."""
    if not ds.lazy:
        return ds
    if ds.nt_zlib is None:
        return ds  # never fetched: the writer reports it as a dataset without a graph
    nt = zlib.decompress(ds.nt_zlib).decode("utf-8")
    for extra in (quality_ntriples(ds, ds.quality, base_uri=base_uri) if ds.quality else "",
                  link_ntriples(ds.uri, *ds.links) if ds.links else ""):
        if extra:
            nt = (nt if nt.endswith("\n") else nt + "\n") + extra
    return replace(ds, nt=nt, nt_zlib=None, quality=None, links=None)
