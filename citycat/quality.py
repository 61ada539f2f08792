"""The per-dataset quality pass of the validate stage: SHACL (cached), MQA, 5 stars, findings.

Fed one normalised record at a time while the validate stage streams the run (so the run is read
once and memory stays flat), it works in chunks: the chunk's graph hashes are looked up in the
SHACL cache, only the misses are validated — many graphs per pyshacl call — and stored, then every
dataset is scored and its row written to ``dataset_quality``. The rows are written whatever the gate
decides: a blocked run's measurements are what its owners need to see.

SHACL of a never-seen catalogue is slow (about 60 ms a dataset), so a run validates at most
``shacl_max_per_run`` new graphs; the rest are "not checked" this run (``shacl_conforms`` null, the
MQA compliance indicator not checked) and are validated by the next runs as the cache fills.
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
                 shacl_max_per_run: int = 2000, link_check: bool = False, chunk: int = CHUNK,
                 shacl_batch: int = SHACL_BATCH) -> None:
        if measured_at.tzinfo is None:
            raise ValueError(f"measured_at must be timezone-aware, got {measured_at!r}")
        self.source_id, self.run_key, self.inventory = source_id, run_key, inventory
        self.measured_at, self.shacl, self.link_check = measured_at, shacl, link_check
        self.shacl_budget, self.chunk, self.shacl_batch = shacl_max_per_run, chunk, shacl_batch
        self.totals = _Totals()
        self.seconds: Counter = Counter()
        self._buffer: list[_Item] = []
        self._shapes_version: str | None = None

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
        return self.aggregates()

    # ------------------------------------------------------------------ work

    def _flush(self) -> None:
        items, self._buffer = self._buffer, []
        shacl = self._shacl(items)
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

    def _shacl(self, items: list[_Item]) -> dict[str, dict[str, Any]]:
        """content hash -> stored or fresh outcome; hashes left out were not checked this run."""
        if not self.shacl:
            return {}
        from expectations.shacl import shapes_version
        from inventory.shacl_cache import get_results, put_results

        started = time.monotonic()
        self._shapes_version = self._shapes_version or shapes_version()
        hashes = [it.content_hash for it in items if it.content_hash and it.nt]
        known = get_results(self.inventory, hashes, self._shapes_version)
        self.seconds["shacl_lookup"] += time.monotonic() - started
        todo: dict[str, str] = {}
        for it in items:
            h = it.content_hash
            if h and it.nt and h not in known and h not in todo and len(todo) < self.shacl_budget:
                todo[h] = it.nt
        self.shacl_budget -= len(todo)
        if todo:
            started = time.monotonic()
            fresh = self._validate(todo)
            put_results(self.inventory, fresh, self._shapes_version, validated_at=self.measured_at)
            known.update(fresh)
            self.seconds["shacl_validate"] += time.monotonic() - started
        for it in items:
            if it.content_hash in known:
                if it.content_hash in todo:
                    self.totals.shacl_validated += 1
                else:
                    self.totals.shacl_cached += 1
            else:
                self.totals.shacl_not_checked += 1
        return known

    def _validate(self, todo: dict[str, str]) -> dict[str, dict[str, Any]]:
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
        try:
            score, stars = _score(it.nt or "", links={u: links.get(u) for u in it.urls} if links is not None else None,
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


def _score(nt: str, *, links: dict[str, bool | None] | None, shacl_conforms: bool | None) -> tuple[Any, int]:
    """(MqaScore, stars) from one parse of the graph."""
    from expectations.mqa import score_index
    from expectations.ntparse import index
    from expectations.stars import stars_of

    idx = index(nt)
    return score_index(idx, links=links, shacl_conforms=shacl_conforms), stars_of(idx)


def _band(mean: float | None) -> str | None:
    if mean is None:
        return None
    from expectations.mqa import method

    return method().band(round(mean))
