"""The per-dataset quality pass of the validate stage: SHACL (cached), MQA, 5 stars, findings.

Fed one normalised record at a time while the validate stage streams the run (so the run is read
once and memory stays flat), it works in chunks: the chunk's graph hashes are looked up in the
SHACL cache, only the misses are validated — many graphs per pyshacl call — and stored, then every
dataset is scored and its row written to ``dataset_quality``. The rows are written whatever the gate
decides: a blocked run's measurements are what its owners need to see.

SHACL of a never-seen graph is slow (about 35 ms in pyshacl), but graphs made from one template share
a *skeleton* (expectations.shacl_skeleton) and one validation answers for all of them, so a run
validates at most ``shacl_max_per_run`` new skeletons (and graphs that must be validated directly);
graphs beyond that are "not checked" this run (``shacl_conforms`` null, the MQA compliance indicator
not checked) and are validated by the next runs as the cache fills.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

log = logging.getLogger("citycat.quality")

CHUNK = 500  # records per cache lookup / quality write
SHACL_BATCH = 50  # graphs per pyshacl call (see bench/shacl_rate.py)
MAX_SHAPES_REPORTED = 20


@dataclass
class _Item:
    native_id: str
    content_hash: str | None
    nt: str | None
    urls: list[str]
    findings: list[dict[str, str]]


@dataclass
class _Totals:
    datasets: int = 0
    mqa_scored: int = 0
    mqa_total: int = 0
    dimensions: Counter = field(default_factory=Counter)
    bands: Counter = field(default_factory=Counter)
    stars: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    shacl_cached: int = 0
    shacl_validated: int = 0
    shacl_not_checked: int = 0
    shacl_conforming: int = 0
    shacl_violations: int = 0
    shacl_warnings: int = 0
    by_shape: Counter = field(default_factory=Counter)
    errors: int = 0


class QualityPass:
    """Collects a run's records and measures them chunk by chunk; :meth:`finish` returns the run aggregates."""

    def __init__(self, *, source_id: str, run_key: str, inventory, measured_at: datetime, shacl: bool = True,
                 shacl_max_per_run: int = 500, link_check: bool = False, chunk: int = CHUNK,
                 shacl_batch: int = SHACL_BATCH, parallel: bool = True) -> None:
        if measured_at.tzinfo is None:
            raise ValueError(f"measured_at must be timezone-aware, got {measured_at!r}")
        self.source_id, self.run_key, self.inventory = source_id, run_key, inventory
        self.measured_at, self.shacl, self.link_check = measured_at, shacl, link_check
        self.shacl_budget, self.chunk, self.shacl_batch = shacl_max_per_run, chunk, shacl_batch
        self.totals = _Totals()
        self.seconds: Counter = Counter()
        self._buffer: list[_Item] = []
        self._shapes_version: str | None = None
        self._skeletons: dict[str, dict[str, Any]] = {}  # skeleton key -> outcome (templates), this run
        self.skeletons_validated = 0
        self._refused: set[str] = set()  # skeleton keys whose validation failed: graphs go direct
        self.parallel = parallel  # skeletons of the next chunk built in a helper process (see _flush)
        self._chunks = 0
        self._pending: tuple[list[_Item], dict[str, Any], dict[str, str], Any] | None = None

    # ------------------------------------------------------------------ feeding

    def add(self, rec: dict[str, Any], findings: list[dict[str, str]]) -> None:
        """One non-deleted normalised record and its row-level findings (expectations.row_checks.findings)."""
        row = rec.get("row") or {}
        urls = [u for c in ("access_urls", "download_urls") for u in (row.get(c) or []) if isinstance(u, str)]
        self._buffer.append(_Item(str(rec.get("native_id")), rec.get("hash"), rec.get("nt"), urls, findings))
        if len(self._buffer) >= self.chunk:
            self._flush()

    def finish(self) -> dict[str, Any]:
        if self._buffer:
            self._flush()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._complete(*pending)
        if self.shacl:
            log.info("%s: SHACL validated %d new skeleton(s) for %d new graph(s)", self.source_id,
                     self.skeletons_validated, self.totals.shacl_validated)
        return self.aggregates()

    # ------------------------------------------------------------------ work

    def _flush(self) -> None:
        """Look the chunk up in the SHACL cache and start building its misses' skeletons, then finish the
        chunk before it. Building skeletons is ~0.5 ms of pure Python a graph (most of a never-seen
        catalogue's quality pass), so from the second chunk on it runs in a helper process while this
        one reads, scores and stores the previous chunk; chunks still finish in order."""
        items, self._buffer = self._buffer, []
        self._chunks += 1
        known, misses = self._lookup(items)
        future = None
        if misses and self.parallel and self._chunks > 1:
            future = _submit_skeletons(misses)
        pending, self._pending = self._pending, (items, known, misses, future)
        if pending is not None:
            self._complete(*pending)

    def _complete(self, items: list[_Item], known: dict[str, Any], misses: dict[str, str], future: Any) -> None:
        shacl = self._shacl(items, known, misses, future)
        started = time.monotonic()
        links = None
        if self.link_check:
            from inventory.quality import link_status

            links = link_status(self.inventory, [u for it in items for u in it.urls])
        self.seconds["links"] += time.monotonic() - started
        started = time.monotonic()
        rows = [self._measure(it, shacl.get(it.content_hash or ""), links) for it in items]
        self.seconds["mqa"] += time.monotonic() - started
        started = time.monotonic()
        from inventory.quality import save_dataset_quality

        save_dataset_quality(self.inventory, rows)
        self.seconds["store"] += time.monotonic() - started

    def _lookup(self, items: list[_Item]) -> tuple[dict[str, Any], dict[str, str]]:
        """(stored outcomes by content hash, never-seen graphs by content hash) of one chunk."""
        if not self.shacl:
            return {}, {}
        from expectations.shacl import shapes_version
        from inventory.shacl_cache import get_results

        started = time.monotonic()
        self._shapes_version = self._shapes_version or shapes_version()
        hashes = [it.content_hash for it in items if it.content_hash and it.nt]
        known = get_results(self.inventory, hashes, self._shapes_version)
        self.seconds["shacl_lookup"] += time.monotonic() - started
        misses: dict[str, str] = {}
        for it in items:
            h = it.content_hash
            if h and it.nt and h not in known and h not in misses:
                misses[h] = it.nt
        return known, misses

    def _shacl(self, items: list[_Item], known: dict[str, Any], misses: dict[str, str],
               future: Any = None) -> dict[str, dict[str, Any]]:
        """content hash -> stored or fresh outcome; hashes left out were not checked this run."""
        if not self.shacl:
            return {}
        from inventory.shacl_cache import put_results

        fresh: dict[str, dict[str, Any]] = {}
        if misses:
            started = time.monotonic()
            fresh = self._validate(misses, _skeletons_result(future))
            put_results(self.inventory, fresh, self._shapes_version, validated_at=self.measured_at)
            known.update(fresh)
            self.seconds["shacl_validate"] += time.monotonic() - started
        for it in items:
            if it.content_hash in known:
                if it.content_hash in fresh:
                    self.totals.shacl_validated += 1
                else:
                    self.totals.shacl_cached += 1
            else:
                self.totals.shacl_not_checked += 1
        return known

    def _validate(self, todo: dict[str, str], built: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Outcomes of never-seen graphs: through their skeletons (one pyshacl run per distinct
        structure, expectations.shacl_skeleton), directly when a skeleton cannot stand in.

        ``shacl_max_per_run`` counts pyshacl validations: distinct skeletons, plus graphs validated
        directly. A graph whose skeleton is over the budget is not checked this run.
        """
        from expectations import shacl_skeleton as sk

        sup = sk.support()
        direct: dict[str, str] = {} if sup.enabled else dict(todo)
        skeletons: dict[str, Any] = {}
        if sup.enabled:
            for h, got in (built if built is not None else dict(skeletons_of(list(todo.items())))).items():
                if isinstance(got, str):  # validated directly, which reports a bad graph
                    log.debug("%s: graph %s has no skeleton (%s), validated directly", self.source_id, h[:12], got)
                    direct[h] = todo[h]
                else:
                    skeletons[h] = got
        outcomes = self._skeleton_outcomes({s.key: s for s in skeletons.values()})
        out: dict[str, dict[str, Any]] = {}
        for h, s in skeletons.items():
            outcome = outcomes.get(s.key)
            if outcome is None:
                if s.key in self._refused:
                    direct[h] = todo[h]
                continue  # else over the budget: not checked this run
            try:
                out[h] = sk.result_for(outcome, s, lambda nt=todo[h]: _data_graph(nt)).as_dict()
            except Exception:  # noqa: BLE001 - e.g. sk.SkeletonError: the graph itself is validated instead
                direct[h] = todo[h]
        if direct:
            take = dict(list(direct.items())[:max(self.shacl_budget, 0)])
            self.shacl_budget -= len(take)
            out.update(self._validate_directly(take))
        return out

    def _skeleton_outcomes(self, distinct: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """skeleton key -> outcome, from this run's memory, the shacl_results table, or pyshacl (budgeted)."""
        from expectations import shacl_skeleton as sk
        from inventory.shacl_cache import get_skeleton_results, put_skeleton_results

        unknown = [k for k in distinct if k not in self._skeletons]
        if unknown:
            self._skeletons.update(get_skeleton_results(self.inventory, unknown, self._shapes_version or ""))
        new = [s for k, s in distinct.items() if k not in self._skeletons and k not in self._refused]
        new = new[:max(self.shacl_budget, 0)]
        if new:
            self.shacl_budget -= len(new)
            fresh: dict[str, dict[str, Any]] = {}
            try:
                fresh = dict(sk.validate_skeletons(new, batch_size=self.shacl_batch))
            except Exception as exc:  # noqa: BLE001 - direct validation is always there to fall back on
                log.warning("%s: validating %d skeleton(s) failed (%s: %s): their graphs are validated directly",
                            self.source_id, len(new), type(exc).__name__, exc)
                self.shacl_budget += len(new)
                self._refused.update(s.key for s in new)
            put_skeleton_results(self.inventory, fresh, self._shapes_version or "", validated_at=self.measured_at)
            self._skeletons.update(fresh)
            self.skeletons_validated += len(fresh)
        return {k: self._skeletons[k] for k in distinct if k in self._skeletons}

    def _validate_directly(self, todo: dict[str, str]) -> dict[str, dict[str, Any]]:
        from rdflib import Graph

        from expectations.shacl import validate_many

        graphs = []
        for h, nt in todo.items():
            try:
                graphs.append((h, Graph().parse(data=nt, format="nt")))
            except Exception as exc:  # noqa: BLE001 - one unreadable graph must not stop the run
                log.warning("%s: graph %s is not N-Triples, not SHACL-checked: %s", self.source_id, h[:12], exc)
        return {h: r.as_dict() for h, r in validate_many(graphs, batch_size=self.shacl_batch)}

    def _measure(self, it: _Item, shacl: dict[str, Any] | None, links: dict[str, bool | None] | None
                 ) -> dict[str, Any]:
        t = self.totals
        t.datasets += 1
        findings = list(it.findings)
        row: dict[str, Any] = {"run_id": self.run_key, "source_id": self.source_id, "native_id": it.native_id,
                               "content_hash": it.content_hash, "measured_at": self.measured_at}
        if shacl is not None:
            row.update(shacl_conforms=shacl["conforms"], shacl_violations=shacl["violations"],
                       shacl_warnings=shacl["warnings"])
            t.shacl_conforming += bool(shacl["conforms"])
            t.shacl_violations += int(shacl["violations"])
            t.shacl_warnings += int(shacl["warnings"])
            t.by_shape.update(shacl.get("by_shape") or {})
            if not shacl["conforms"]:
                first = (shacl.get("messages") or ["(no message)"])[0]
                findings.append({"rule": "shacl_conforms", "severity": "warning",
                                 "message": f"{shacl['violations']} DCAT-AP 3 SHACL violation(s); first: {first}"})
        from expectations.mqa import assess  # MQA + stars from one parse of the predicates they read

        try:
            score, stars = assess(it.nt or "", links={u: links.get(u) for u in it.urls} if links is not None else None,
                                  shacl_conforms=shacl["conforms"] if shacl is not None else None)
        except Exception as exc:  # noqa: BLE001 - one unscorable graph must not stop the run
            t.errors += 1
            findings.append({"rule": "mqa_scored", "severity": "warning",
                             "message": f"could not score: {type(exc).__name__}: {exc}"})
        else:
            t.mqa_scored += 1
            t.mqa_total += score.total
            t.dimensions.update(score.dimensions)
            t.bands[score.band] += 1
            t.stars[str(stars)] += 1
            row.update(mqa_total=score.total, mqa_band=score.band, mqa_indicators=dict(score.indicators),
                       stars=stars, **{f"mqa_{d}": int(v) for d, v in score.dimensions.items()})
        for f in findings:
            t.warnings[f["rule"]] += 1
        row["findings"] = findings
        return row

    # ------------------------------------------------------------------ results

    def aggregates(self) -> dict[str, Any]:
        t = self.totals
        n = t.mqa_scored
        mean = round(t.mqa_total / n, 2) if n else None
        checked = t.shacl_cached + t.shacl_validated
        return {
            "datasets": t.datasets,
            "mqa": {"scored": n, "mean_total": mean, "band_of_mean": _band(mean),
                    "mean_dimensions": {d: round(v / n, 2) for d, v in sorted(t.dimensions.items())} if n else {},
                    "bands": dict(t.bands), "errors": t.errors},
            "stars": dict(sorted(t.stars.items())),
            "shacl": {"enabled": self.shacl, "shapes_version": self._shapes_version, "checked": checked,
                      "validated": t.shacl_validated, "cached": t.shacl_cached, "not_checked": t.shacl_not_checked,
                      "conforming": t.shacl_conforming, "violations": t.shacl_violations,
                      "warnings": t.shacl_warnings,
                      "by_shape": dict(t.by_shape.most_common(MAX_SHAPES_REPORTED))},
            "links_checked": self.link_check,
            "warnings": dict(sorted(t.warnings.items())),
            "seconds": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
        }


def skeletons_of(graphs: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """(content hash, Skeleton, or the reason it has none) of each (hash, N-Triples) pair."""
    from expectations import shacl_skeleton as sk

    sup = sk.support()
    out: list[tuple[str, Any]] = []
    for h, nt in graphs:
        try:
            out.append((h, sk.skeleton(sk.with_bridge(sk.triples_of_nt(nt)), sup)))
        except Exception as exc:  # noqa: BLE001 - the caller validates such a graph directly
            out.append((h, f"{type(exc).__name__}: {exc}"))
    return out


_SKELETON_POOL: Any = None


def _submit_skeletons(misses: dict[str, str]) -> Any:
    """Start building skeletons in the helper process; None (built in-process later) if it cannot start."""
    global _SKELETON_POOL
    try:
        if _SKELETON_POOL is None:
            from citycat.procs import long_lived_pool

            _SKELETON_POOL = long_lived_pool(1)  # stopped by a finaliser: see citycat.procs
        return _SKELETON_POOL.submit(skeletons_of, list(misses.items()))
    except Exception as exc:  # noqa: BLE001 - e.g. no process can be started: build in-process
        log.warning("skeleton helper process unavailable (%s); building skeletons in-process", exc)
        return None


def _skeletons_result(future: Any) -> dict[str, Any] | None:
    """The helper's skeletons, or None (the caller builds them itself) when there was no helper or it died."""
    global _SKELETON_POOL
    if future is None:
        return None
    try:
        return dict(future.result())
    except Exception as exc:  # noqa: BLE001 - a dead helper costs speed, not results
        log.warning("skeleton helper process failed (%s: %s); building skeletons in-process", type(exc).__name__, exc)
        _SKELETON_POOL = None
        return None


def _data_graph(nt: str) -> Any:
    """A dataset's data graph as direct validation builds it (only needed to word blank nodes)."""
    from expectations.shacl import _with_bridge
    from transforms.rdf import graph_from_ntriples

    return _with_bridge(graph_from_ntriples(nt), True)


def _band(mean: float | None) -> str | None:
    if mean is None:
        return None
    from expectations.mqa import method

    return method().band(round(mean))
