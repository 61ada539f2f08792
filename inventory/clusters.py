"""Cross-source duplicate clusters: the same dataset listed by several catalogues, linked, never merged.

Why it is shaped like this (docs/duplicates.md has the user-facing account):

* Evidence has a ladder (``EVIDENCE``): the same dataset URI or global identifier, a harvested
  record's pointer to its origin, the same download URL, then a near-identical title from a
  near-identical publisher. Edges are applied strongest first, so every member of a cluster is
  labelled with the strongest rule that tied it in.
* A cluster holds **at most one dataset per source** (a cannot-link constraint inside the
  union-find). Two records of one portal are that portal's own decision, not mirrors of each other;
  and a chain A1-B-A2 through a mirror is exactly how weak evidence over-merges.
* Title evidence is also checked against *every* titled member of the other side (complete
  linkage), numbers in titles must agree ("Budget 2022" is not "Budget 2023"), and publishers must
  agree too ("Bus stops" by two councils are two datasets).
* Titles are compared only inside blocks (records sharing one of their two rarest title words), so
  100,000 datasets cost a few hundred thousand comparisons, not five billion.
* Identifier keys that many records share (a portal's home page, a generic WMS) identify nothing and
  are dropped; download URLs repeated inside one source likewise.

The clustering reads a snapshot of the active datasets and replaces ``dataset_clusters`` in one
transaction; only datasets in clusters of two or more get a row (no row = its own primary).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from inventory.cluster_rules import (_DIGITS, graph_keys, identifier_key, name_similarity, norm_text,  # noqa: F401
                                     norm_uri, pointer_keys)  # (re-exported: tests and callers use inventory.clusters)
from inventory.cluster_store import _Rec, read_records  # noqa: F401 (re-exported: tests use inventory.clusters)
from inventory.models import dataset_clusters, datasets

EVIDENCE = ("identifier", "origin", "download_url", "title_publisher")  # strongest first
_CLUSTER_LOCK = 0x636C7573  # pg advisory lock key: one clustering at a time ("clus")


@dataclass(frozen=True)
class ClusterSettings:
    """The knobs of the clustering (``catalog.duplicates`` in sources.yaml maps onto these)."""

    source_priority: tuple[str, ...] = ()  # primaries come from the first listed source that has one
    title_threshold: float = 0.92  # rapidfuzz token_sort_ratio / 100 of normalised titles
    publisher_threshold: float = 0.90  # token_set_ratio / 100 of normalised publisher names
    max_key_group: int = 25  # an identifier/URL shared by more datasets than this identifies nothing
    max_block: int = 200  # words in more titles than this are not block keys; bigger blocks are skipped (counted)


@dataclass
class ClusterResult:
    """What one clustering found; ``as_dict`` goes into logs, run stats and the CLI."""

    datasets: int = 0
    clusters: int = 0
    clustered: int = 0  # datasets in clusters of two or more
    by_evidence: dict[str, int] = field(default_factory=dict)  # members (not primaries) per evidence
    refused: int = 0  # edges refused because they would put two datasets of one source together
    title_pairs_compared: int = 0
    blocks_skipped: int = 0
    title_threshold: float = 0.0
    publisher_threshold: float = 0.0
    unchanged: bool = False  # the inventory was the one the stored clusters came from: nothing recomputed
    features_read: int = 0  # datasets whose graph was read (the rest came from cluster_features)
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "rows"}


# --------------------------------------------------------------------------- union-find


class _Clusters:
    """Union-find whose components remember their sources, members and the evidence that joined them."""

    def __init__(self, recs: Sequence[_Rec]) -> None:
        self.recs = recs
        self.parent = list(range(len(recs)))
        self.sources: dict[int, set[str]] = {}
        self.members: dict[int, list[int]] = {}
        self.evidence: dict[int, tuple[int, float]] = {}  # rec index -> (rank, score) of its strongest edge
        self.refused = 0

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def _sources(self, r: int) -> set[str]:
        return self.sources.get(r) or {self.recs[r].source_id}

    def _members(self, r: int) -> list[int]:
        return self.members.get(r) or [r]

    def union(self, a: int, b: int, rank: int, score: float, check=None) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self._sources(ra) & self._sources(rb):
            self.refused += 1
            return False
        if check is not None and not check(self._members(ra), self._members(rb)):
            return False
        merged_sources = self._sources(ra) | self._sources(rb)
        merged_members = self._members(ra) + self._members(rb)
        self.parent[rb] = ra
        self.sources[ra], self.members[ra] = merged_sources, merged_members
        self.sources.pop(rb, None)
        self.members.pop(rb, None)
        for i in (a, b):
            if i not in self.evidence or (rank, -score) < (self.evidence[i][0], -self.evidence[i][1]):
                self.evidence[i] = (rank, score)
        return True


def _key_edges(recs: Sequence[_Rec], groups: dict[str, list[int]], max_group: int) -> Iterable[tuple[int, int]]:
    for members in groups.values():
        if len(members) < 2 or len(members) > max_group:
            continue
        if len({recs[i].source_id for i in members}) < 2:
            continue
        first = members[0]
        for other in members[1:]:
            yield first, other


def _title_candidates(recs: Sequence[_Rec], settings: ClusterSettings, res: ClusterResult) -> list[tuple[float, int, int]]:
    """Cross-source pairs whose titles reach the threshold, found inside blocks.

    A block key is (the numbers in the title, one word of it): numbers must agree for a match anyway,
    so keying on them loses nothing and splits "Budget 2022"/"Budget 2023" and long numbered series
    into small blocks. Each record joins the blocks of its two rarest words among those no more
    common than ``max_block``; a title made only of common words joins one block keyed by all its
    words (which still finds the same title with the words reordered or re-punctuated).
    """
    from rapidfuzz import fuzz, process

    def keys_of(r: _Rec) -> list[str]:
        if not (r.title and r.publisher):
            return []
        sig = " ".join(_DIGITS.findall(r.title))
        return [f"{sig}\x1f{w}" for w in sorted({w for w in r.title.split() if not w.isdigit()})] or [sig + "\x1f"]

    df: Counter[str] = Counter()
    for r in recs:
        df.update(keys_of(r))
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        k = keys_of(r)
        if not k:
            continue
        usable = sorted((key for key in k if df[key] <= settings.max_block), key=lambda key: (df[key], key))[:2]
        if not usable:  # only common words: one block keyed by all of them
            usable = [k[0].split("\x1f", 1)[0] + "\x1f|" + " ".join(key.split("\x1f", 1)[1] for key in k)]
        for key in usable:
            blocks[key].append(i)
    del df
    cutoff = settings.title_threshold * 100
    pairs: dict[tuple[int, int], float] = {}
    for members in blocks.values():
        if len(members) < 2 or len({recs[i].source_id for i in members}) < 2:
            continue
        if len(members) > settings.max_block:
            res.blocks_skipped += 1
            continue
        titles = [recs[i].title for i in members]
        matrix = process.cdist(titles, titles, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, workers=1)
        res.title_pairs_compared += len(members) * (len(members) - 1) // 2
        for x, y in zip(*matrix.nonzero()):
            if x >= y:
                continue
            a, b = members[x], members[y]
            if recs[a].source_id == recs[b].source_id or (a, b) in pairs:
                continue
            if title_publisher_match(recs[a], recs[b], settings):
                pairs[(a, b)] = float(matrix[x, y]) / 100
    return sorted(((s, a, b) for (a, b), s in pairs.items()), key=lambda t: (-t[0], t[1], t[2]))


def title_publisher_match(a: _Rec, b: _Rec, settings: ClusterSettings) -> bool:
    """Near-identical title, the same numbers in it, and a near-identical publisher."""
    if not (a.title and b.title and a.publisher and b.publisher):
        return False
    if _DIGITS.findall(a.title) != _DIGITS.findall(b.title):
        return False
    if name_similarity(a.title, b.title, whole=True) < settings.title_threshold:
        return False
    return name_similarity(a.publisher, b.publisher) >= settings.publisher_threshold


# --------------------------------------------------------------------------- clustering


def cluster_records(recs: Sequence[_Rec], settings: ClusterSettings, computed_at: datetime) -> ClusterResult:
    """The clustering itself (no I/O), so tests and the benchmark can call it on any record list."""
    started = time.perf_counter()
    res = ClusterResult(datasets=len(recs), title_threshold=settings.title_threshold,
                        publisher_threshold=settings.publisher_threshold)
    uf = _Clusters(recs)
    ids: dict[str, list[int]] = defaultdict(list)
    targets: dict[Any, list[int]] = defaultdict(list)  # what an origin pointer may name: ids and landing pages
    for i, r in enumerate(recs):
        for k in r.ids:
            ids[k].append(i)
            targets[k].append(i)
        if r.landing is not None and r.landing not in r.ids:
            targets[r.landing].append(i)
    for a, b in _key_edges(recs, ids, settings.max_key_group):
        uf.union(a, b, 0, 1.0)
    for i, r in enumerate(recs):
        for p in sorted(r.pointers):
            hits = targets.get(p, ())
            if 0 < len(hits) <= settings.max_key_group:
                for j in hits:
                    if recs[j].source_id != r.source_id:
                        uf.union(i, j, 1, 1.0)
    downloads: dict[Any, list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        for u in r.downloads:
            downloads[u].append(i)
    # A URL that one source lists under two datasets (a shared WMS, a portal page) identifies neither.
    unique = {u: m for u, m in downloads.items()
              if len({recs[i].source_id for i in m}) == len(m)}
    for a, b in _key_edges(recs, unique, settings.max_key_group):
        uf.union(a, b, 2, 1.0)

    def complete_link(left: list[int], right: list[int]) -> bool:
        return all(title_publisher_match(recs[x], recs[y], settings) for x in left for y in right
                   if recs[x].title and recs[y].title)

    for score, a, b in _title_candidates(recs, settings, res):
        uf.union(a, b, 3, score, check=complete_link)
    res.refused = uf.refused
    _primaries(uf, recs, settings, computed_at, res)
    res.seconds = round(time.perf_counter() - started, 3)
    return res


def primary_key(rec: _Rec, priority: dict[str, int]):
    """The primary rule: configured source priority, then the publisher's own source, then a record
    that does not point elsewhere, then (source id, native id) so that re-runs choose the same one."""
    return (priority.get(rec.source_id, len(priority)), not rec.own, rec.mirror, rec.source_id, rec.native_id)


def _primaries(uf: _Clusters, recs: Sequence[_Rec], settings: ClusterSettings, computed_at: datetime,
               res: ClusterResult) -> None:
    priority = {s: n for n, s in enumerate(settings.source_priority)}
    by_evidence: Counter[str] = Counter()
    for root, members in uf.members.items():
        if uf.find(root) != root or len(members) < 2:
            continue
        primary = min(members, key=lambda i: primary_key(recs[i], priority))
        res.clusters += 1
        res.clustered += len(members)
        for i in sorted(members, key=lambda i: recs[i].id):
            rank, score = uf.evidence.get(i, (len(EVIDENCE) - 1, 0.0))
            if i != primary:
                by_evidence[EVIDENCE[rank]] += 1
            res.rows.append({"dataset_id": recs[i].id, "cluster_id": recs[primary].id, "is_primary": i == primary,
                             "evidence": EVIDENCE[rank], "score": round(score, 4), "computed_at": computed_at})
    res.by_evidence = dict(sorted(by_evidence.items()))


def recompute(engine_or_inventory: Any, *, computed_at: datetime,
              settings: ClusterSettings | None = None, force: bool = False) -> ClusterResult:
    """Cluster the inventory's active datasets and replace ``dataset_clusters`` in one transaction.

    Accepts an ``Inventory`` or an ``Engine``. On PostgreSQL an advisory lock makes concurrent
    clusterings (two sources' loads finishing together) run one after the other, each on fresh data.
    When the active datasets and settings are those the stored clusters came from (a load that
    changed nothing), the stored clusters stand and ``unchanged`` says so; ``force`` recomputes anyway.
    """
    from inventory import cluster_store

    if computed_at.tzinfo is None:
        raise ValueError("computed_at must be timezone-aware")
    settings = settings or ClusterSettings()
    started = time.perf_counter()
    engine = getattr(engine_or_inventory, "engine", engine_or_inventory)
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if pg:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _CLUSTER_LOCK})
            conn.commit()
        try:
            with conn.begin():
                snap = cluster_store.snapshot(conn, settings)
                if not force and snap.fingerprint == cluster_store.stored_fingerprint(conn):
                    clusters, clustered = cluster_store.stored_counts(conn)
                    return ClusterResult(datasets=snap.datasets, clusters=clusters, clustered=clustered,
                                         title_threshold=settings.title_threshold, unchanged=True,
                                         publisher_threshold=settings.publisher_threshold,
                                         seconds=round(time.perf_counter() - started, 3))
                if snap.sources < 2:  # duplicates are cross-source: nothing to read or compare
                    recs, fresh = [], []
                else:
                    recs, fresh = read_records(conn)
            res = cluster_records(recs, settings, computed_at)
            res.datasets, res.features_read = snap.datasets, len(fresh)
            del recs
            if engine.dialect.name == "sqlite":
                conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                cluster_store.save(conn, rows=res.rows, fresh=fresh, fingerprint=snap.fingerprint,
                                   computed_at=computed_at)
        finally:
            if pg:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _CLUSTER_LOCK})
                conn.commit()
    res.seconds = round(time.perf_counter() - started, 3)
    return res


def list_clusters(engine_or_inventory: Any, *, source_id: str | None = None) -> list[dict[str, Any]]:
    """Clusters with their members (source, native id, title, evidence, score), primary first.

    With ``source_id``, only clusters that have a member from that source.
    """
    engine = getattr(engine_or_inventory, "engine", engine_or_inventory)
    c, d = dataset_clusters, datasets
    stmt = (select(c.c.cluster_id, c.c.dataset_id, c.c.is_primary, c.c.evidence, c.c.score, d.c.source_id,
                   d.c.native_id, d.c.uri, d.c.row, d.c.status)
            .join(d, d.c.id == c.c.dataset_id).order_by(c.c.cluster_id, c.c.is_primary.desc(), d.c.source_id,
                                                        d.c.native_id))
    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for cid, did, prim, ev, score, sid, nid, uri, row, status in conn.execute(stmt):
            entry = out.setdefault(cid, {"cluster_id": cid, "members": []})
            entry["members"].append({"dataset_id": did, "primary": bool(prim), "source_id": sid, "native_id": nid,
                                     "uri": uri, "title": (row or {}).get("title"),
                                     "publisher": (row or {}).get("publisher"), "evidence": ev, "score": score,
                                     "status": status})
    clusters = list(out.values())
    if source_id is not None:
        clusters = [c for c in clusters if any(m["source_id"] == source_id for m in c["members"])]
    return clusters


def settings_from(config: Any) -> ClusterSettings:
    """ClusterSettings from an object with the ``catalog.duplicates`` attributes (citycat.config.DuplicatesConfig)."""
    if config is None:
        return ClusterSettings()
    return ClusterSettings(source_priority=tuple(getattr(config, "source_priority", ()) or ()),
                           title_threshold=float(getattr(config, "title_threshold", 0.92)),
                           publisher_threshold=float(getattr(config, "publisher_threshold", 0.9)))


def after_load(inventory: Any, config: Any, *, computed_at: datetime) -> dict[str, Any]:
    """The post-load hook: re-cluster, and report a failure instead of raising.

    The load has committed by now; a clustering problem must not turn a good load into a failed run,
    and the previous clustering stays in place (the replace is one transaction).
    """
    import logging

    if config is not None and not getattr(config, "enabled", True):
        return {"skipped": "catalog.duplicates.enabled is false"}
    try:
        return recompute(inventory, computed_at=computed_at, settings=settings_from(config)).as_dict()
    except Exception as exc:  # noqa: BLE001 - reported in the run's stats and the log
        logging.getLogger("inventory.clusters").exception("duplicate clustering failed")
        return {"error": f"{type(exc).__name__}: {exc}"}


def feed_links(engine_or_inventory: Any) -> dict[tuple[str, str], tuple[str | None, tuple[str, ...]]]:
    """(source id, native id) -> (primary's URI if it is a mirror, mirrors' URIs if it is a primary).

    Only active clustered datasets appear, so the map stays small; the feed writer joins it in
    (publish.feed_links.join_cluster_links).
    """
    engine = getattr(engine_or_inventory, "engine", engine_or_inventory)
    c, d = dataset_clusters, datasets
    stmt = (select(c.c.cluster_id, c.c.is_primary, d.c.id, d.c.source_id, d.c.native_id, d.c.uri)
            .join(d, d.c.id == c.c.dataset_id).where(d.c.status == "active"))
    members: dict[int, list[tuple[bool, int, str, str, str]]] = defaultdict(list)
    with engine.connect() as conn:
        for cid, prim, did, sid, nid, uri in conn.execute(stmt):
            members[cid].append((bool(prim), did, sid, nid, uri or ""))
    out: dict[tuple[str, str], tuple[str | None, tuple[str, ...]]] = {}
    for group in members.values():
        primary = next((m for m in group if m[0]), None)
        if primary is None or len(group) < 2:
            continue
        mirrors = tuple(sorted(m[4] for m in group if not m[0]))
        out[(primary[2], primary[3])] = (None, mirrors)
        for m in group:
            if not m[0]:
                out[(m[2], m[3])] = (primary[4], ())
    return out


__all__ = ["EVIDENCE", "ClusterResult", "ClusterSettings", "after_load", "cluster_records", "feed_links",
           "graph_keys", "identifier_key", "list_clusters", "name_similarity", "norm_text", "norm_uri", "pointer_keys",
           "primary_key", "read_records", "recompute", "settings_from"]
