"""Duplicate-cluster links in the feed: a mirror points at its primary, the primary at its mirrors (issue 7)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Iterable, Sequence

from rdflib.namespace import DCAT

from publish.feed_model import FeedDataset

IS_VERSION_OF, HAS_VERSION = f"{DCAT}isVersionOf", f"{DCAT}hasVersion"


def with_cluster_links(ds: FeedDataset, primary_uri: str | None, mirror_uris: Sequence[str]) -> FeedDataset:
    """``ds`` with its cluster links (a mirror ``dcat:isVersionOf`` its primary, a primary ``dcat:hasVersion``
    each mirror) and a change key that covers them, so a change of cluster membership republishes it.

    DCAT 3 terms, not ``owl:sameAs`` (a reasoner would fuse the two nodes and their dates, titles and
    records into one that breaks DCAT-AP's cardinalities) nor ``dct:isVersionOf`` (deprecated by DCAT-AP 3);
    see docs/duplicates.md.
    """
    extra = link_ntriples(ds.uri, primary_uri, mirror_uris)
    if not extra:
        return ds
    base_key = ds.content_hash or hashlib.sha256(ds.nt.encode("utf-8", "surrogatepass")).hexdigest()
    key = hashlib.sha256(f"{base_key}\x00clusters\x00{extra}".encode("utf-8", "surrogatepass")).hexdigest()
    if ds.lazy:  # written when the writer prepares it (publish.feed_lazy.resolve)
        return replace(ds, links=(primary_uri, tuple(mirror_uris)), content_hash=key)
    nt = ds.nt if ds.nt.endswith("\n") else ds.nt + "\n"
    return replace(ds, nt=nt + extra, content_hash=key)


def link_ntriples(uri: str, primary_uri: str | None, mirror_uris: Sequence[str]) -> str:
    """The cluster-link triples of the dataset ``uri`` (N-Triples; empty when it has none)."""
    lines = [f"<{uri}> <{IS_VERSION_OF}> <{primary_uri}> ."] if primary_uri and primary_uri != uri else []
    lines += [f"<{uri}> <{HAS_VERSION}> <{m}> ." for m in sorted(set(mirror_uris)) if m != uri]
    return "\n".join(lines) + "\n" if lines else ""


def join_cluster_links(datasets: Iterable[FeedDataset],
                       links: dict[tuple[str, str], tuple[str | None, tuple[str, ...]]]) -> Iterable[FeedDataset]:
    """Each dataset with its links from ``inventory.clusters.feed_links`` (only clustered datasets are in it)."""
    for ds in datasets:
        link = links.get((ds.source_id, ds.native_id))
        yield with_cluster_links(ds, *link) if link else ds
