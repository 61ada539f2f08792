"""What duplicate clustering reads from the inventory, and what it remembers between runs.

Reading every active dataset's row and graph to extract its keys was ~70 % of a re-clustering
(10 s of 14 s at 100,000 datasets), and every source's load re-clusters. So the extracted features
are kept per dataset with the content hash they came from (``cluster_features``): a later
clustering parses only the graphs whose hash moved. And the inventory the clusters were computed
from is fingerprinted (``cluster_state``): a load that changed nothing skips the clustering, and an
inventory with fewer than two sources has no cross-source duplicates to look for.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from inventory.cluster_rules import graph_keys, identifier_key, norm_text, norm_uri, pointer_keys
from inventory.models import cluster_features, cluster_state, dataset_clusters, datasets

FEATURES_VERSION = 1  # bump when what features_of extracts changes: every cached feature is re-read
_STATE = "clusters"
_BATCH = 1000


@dataclass(slots=True)
class _Rec:
    """One active dataset as clustering sees it; slots and tuples because 100,000 of these are held."""

    id: int
    source_id: str
    native_id: str
    title: str  # normalised
    publisher: str  # normalised
    own: bool  # the source's institution is the publisher
    mirror: bool  # the record points at an origin elsewhere
    ids: tuple[Any, ...] | set[Any] = ()  # keys: hash() of the normalised strings (see rec_from)
    pointers: tuple[Any, ...] | set[Any] = ()
    downloads: tuple[Any, ...] | set[Any] = ()
    landing: Any = None


def _own(publisher: str, institution: str) -> bool:
    return bool(publisher) and bool(institution) and (publisher == institution or publisher in institution
                                                      or institution in publisher)


def features_of(uri: str | None, row: dict[str, Any] | None, nt: str | None) -> dict[str, Any]:
    """The JSON-able features of one dataset (what ``_Rec`` holds besides its identity)."""
    row = row or {}
    pub = norm_text(row.get("publisher"))
    ids = {k for v in (uri, row.get("uri")) if (k := norm_uri(v))}
    idents, pointers = graph_keys(uri or "", nt or "")
    ids.update(k for v in [row.get("identifier"), *idents] if (k := identifier_key(v, pub)))
    ptrs = {k for v in pointers for k in pointer_keys(v, pub) if k not in ids}
    return {"v": FEATURES_VERSION, "title": norm_text(row.get("title")), "publisher": pub,
            "own": _own(pub, norm_text(row.get("institution"))), "ids": sorted(ids), "pointers": sorted(ptrs),
            "downloads": sorted({k for u in row.get("download_urls") or () if (k := norm_uri(u))}),
            "landing": norm_uri(row.get("landing_page"))}


def _key(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


def rec_from(id_: int, source_id: str, native_id: str, f: dict[str, Any]) -> _Rec:
    """The in-memory record. Keys are only ever compared for equality within one clustering, so they
    are held as 64-bit digests (a collision among a million keys has odds of ~1e-8; blake2b, not
    ``hash()``, whose per-process seed would change the order edges are tried in), ~40 % less memory
    than the strings at 100,000 datasets; sources and publishers repeat and are interned."""
    landing = f["landing"]
    return _Rec(id_, sys.intern(source_id), native_id, f["title"], sys.intern(f["publisher"]), own=bool(f["own"]),
                mirror=bool(f["pointers"]), ids=tuple(map(_key, f["ids"])), pointers=tuple(map(_key, f["pointers"])),
                downloads=tuple(map(_key, f["downloads"])), landing=_key(landing) if landing else None)


@dataclass
class Snapshot:
    """The active datasets' identity: enough to tell whether clustering has anything new to do."""

    fingerprint: str
    datasets: int
    sources: int


def snapshot(conn: Connection, settings: Any) -> Snapshot:
    """Fingerprint of (id, content hash) of every active dataset plus the settings and feature version.

    Equal fingerprints mean equal clustering input, so the stored clusters are still the answer.
    """
    h = hashlib.sha256(f"{FEATURES_VERSION}|{settings!r}".encode())
    n = 0
    sources: set[str] = set()
    stmt = (select(datasets.c.id, datasets.c.source_id, datasets.c.content_hash)
            .where(datasets.c.status == "active").order_by(datasets.c.id))
    for id_, sid, chash in conn.execute(stmt.execution_options(stream_results=True, yield_per=5000)):
        h.update(f"{id_}:{chash}\n".encode())
        sources.add(sid)
        n += 1
    return Snapshot(h.hexdigest(), n, len(sources))


def stored_fingerprint(conn: Connection) -> str | None:
    return conn.execute(select(cluster_state.c.fingerprint).where(cluster_state.c.name == _STATE)).scalar()


def stored_counts(conn: Connection) -> tuple[int, int]:
    """(clusters, clustered datasets) as stored."""
    rows = conn.execute(select(func.count(), func.count(func.distinct(dataset_clusters.c.cluster_id)))).one()
    return int(rows[1]), int(rows[0])


def read_records(conn: Connection) -> tuple[list[_Rec], list[dict[str, Any]]]:
    """The active datasets as the clustering needs them, and the features it had to (re)compute.

    Cached features are used where their content hash is the dataset's; the rest are read from the
    dataset's row and graph, in batches, and returned for :func:`save` to cache.
    """
    d, f = datasets, cluster_features
    stmt = (select(d.c.id, d.c.source_id, d.c.native_id, d.c.content_hash, f.c.content_hash, f.c.features)
            .select_from(d.outerjoin(f, f.c.dataset_id == d.c.id))
            .where(d.c.status == "active").order_by(d.c.id))
    recs: list[_Rec | None] = []
    stale: dict[int, tuple[int, str, str, str | None]] = {}  # dataset id -> (position, source, native id, hash)
    for id_, sid, nid, chash, fhash, feats in conn.execute(stmt.execution_options(stream_results=True,
                                                                                   yield_per=5000)):
        if chash is not None and fhash == chash and feats and feats.get("v") == FEATURES_VERSION:
            recs.append(rec_from(id_, sid, nid, feats))
        else:
            stale[id_] = (len(recs), sid, nid, chash)
            recs.append(None)
    fresh: list[dict[str, Any]] = []
    ids = list(stale)
    for i in range(0, len(ids), _BATCH):
        batch = ids[i:i + _BATCH]
        for id_, uri, row, nt in conn.execute(select(d.c.id, d.c.uri, d.c.row, d.c.nt).where(d.c.id.in_(batch))):
            pos, sid, nid, chash = stale[id_]
            feats = features_of(uri, row, nt)
            recs[pos] = rec_from(id_, sid, nid, feats)
            if chash is not None:
                fresh.append({"dataset_id": id_, "content_hash": chash, "features": feats})
    return [r for r in recs if r is not None], fresh


def save(conn: Connection, *, rows: list[dict[str, Any]], fresh: list[dict[str, Any]], fingerprint: str,
         computed_at: datetime) -> None:
    """Replace the clusters, cache the new features and remember the fingerprint (caller's transaction)."""
    conn.execute(delete(dataset_clusters))
    for i in range(0, len(rows), 5000):
        conn.execute(insert(dataset_clusters), rows[i:i + 5000])
    for i in range(0, len(fresh), _BATCH):
        batch = fresh[i:i + _BATCH]
        conn.execute(delete(cluster_features).where(cluster_features.c.dataset_id.in_([r["dataset_id"] for r in batch])))
        conn.execute(insert(cluster_features), batch)
    conn.execute(delete(cluster_state).where(cluster_state.c.name == _STATE))
    conn.execute(insert(cluster_state), [{"name": _STATE, "fingerprint": fingerprint, "computed_at": computed_at}])


def forget(conn: Connection) -> None:
    """Drop the fingerprint so the next clustering runs in full (after a manual change to the tables)."""
    conn.execute(delete(cluster_state).where(cluster_state.c.name == _STATE))
