"""The body of the validate stage: one read of the run feeds the suites' frame and the quality pass.

Kept out of ``citycat.pipeline`` (which decides *where* it runs: in-process, or in the long-lived
validation process) so that module stays a readable list of stages. See docs/quality.md.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from citycat import archive
from citycat.config import SourceConfig
from citycat.pipeline import run_key

log = logging.getLogger("citycat.validation")

_CHILD_INVENTORIES: dict[str, Any] = {}


def _child_inventory(url: str):
    """The validation process's own inventory connection, one per URL for the process's life."""
    if url not in _CHILD_INVENTORIES:
        from inventory import Inventory

        _CHILD_INVENTORIES[url] = Inventory(url)
    return _CHILD_INVENTORIES[url]


def quality_limits(source: SourceConfig):
    """The suite's thresholds from the source's ``quality`` settings."""
    from expectations.row_checks import Limits

    q = source.quality
    return Limits(max_failed_share=q.max_failed_share, max_count_drop=q.max_count_drop,
                  modified_future_slack_hours=q.modified_future_slack_hours, frequency_slack=q.frequency_slack)


def run_validation(source: SourceConfig, run_id: str, normalised: str | Path, *, failed_to_map: int, data_dir: Path,
                   run_time: datetime | None, previous_rows: int | None, data_docs: bool, inventory=None,
                   inventory_url: str | None = None) -> dict[str, Any]:
    """Suites, Data Docs, quality pass and gate over one run (see citycat.pipeline.validate).

    In the validation process the inventory arrives as its URL (an engine cannot cross processes).
    """
    from citycat.normalised_reader import read_normalised
    from citycat.quality import QualityPass
    from expectations.gate import decide
    from expectations.row_checks import findings
    from expectations.lean_frame import LeanFrame
    from expectations.suites import CHECK_COLUMNS, RunFacts, frame_row, run_suite

    started = time.monotonic()
    if inventory is None and inventory_url:
        inventory = _child_inventory(inventory_url)
    limits = quality_limits(source)
    key = run_key(source.id, run_id)
    qpass = None
    if inventory is not None and run_time is not None:
        link_cfg = getattr(source.quality, "link_check", None)
        qpass = QualityPass(source_id=source.id, run_key=key, inventory=inventory, measured_at=run_time,
                            shacl=source.quality.shacl, shacl_max_per_run=source.quality.shacl_max_per_run,
                            link_check=bool(getattr(link_cfg, "enabled", False)))
    # The frame is the run's only per-row memory, kept without a Python object per row
    lean = LeanFrame()
    seen = failed_to_map
    for rec in read_normalised(normalised):
        seen += 1
        if rec.get("deleted"):
            continue
        row = rec["row"] or {}
        fr = frame_row(row, run_time=run_time, limits=limits)
        fr["uri"] = rec["uri"]
        if fr["native_id"] is None:
            fr["native_id"] = rec.get("native_id")
        if qpass is not None:
            qpass.add(rec, findings(row, run_time=run_time, limits=limits,
                                    derived={c: fr[c] for c in CHECK_COLUMNS}))
        lean.add(fr)
    df = lean.frame()
    docs_dir = Path(data_dir) / "quality" / source.id / archive.safe_name(run_id) / "data_docs"
    suite_started = time.monotonic()
    suite = run_suite(df, source_id=source.id, run_id=run_id, run_time=run_time, limits=limits,
                      run=RunFacts(seen=seen, failed_to_map=failed_to_map, rows=len(df), previous_rows=previous_rows),
                      docs_dir=docs_dir if data_docs else None, lean=lean)
    suite_seconds = time.monotonic() - suite_started
    if data_docs:
        share_static(docs_dir, Path(data_dir) / "quality" / "data_docs_static")
    verdict = decide(suite)
    index = docs_dir / "index.html"
    result = {"source_id": source.id, "run_id": run_id, "passed": verdict.passed, "reasons": verdict.reasons,
              "failed": verdict.failed, "rows": len(df), "suite": suite.as_dict(),
              "data_docs": str(index) if data_docs and index.exists() else None}
    if qpass is not None:
        quality = qpass.finish()
        quality.update(suite=suite.statistics, gate={"passed": verdict.passed, "failed": verdict.failed},
                       run_warnings={o.name: o.unexpected_count for o in suite.warning_failures},
                       data_docs=result["data_docs"])
        quality["seconds"]["suite"] = round(suite_seconds, 3)
        _save_run_quality(inventory, key, quality)
        result["quality"] = quality
    result["seconds"] = round(time.monotonic() - started, 3)
    qpath = Path(data_dir) / "quality" / source.id / f"{archive.safe_name(run_id)}.json"
    archive.write_json(qpath, result)
    result["quality_path"] = str(qpath)
    return result


def share_static(docs_dir: Path, shared: Path) -> None:
    """Replace a site's ``static/`` (~4 MB of GX fonts and images, the same for every run) by a
    relative link to one shared copy, so a year of nightly runs does not keep a thousand copies."""
    import os
    import shutil

    static = docs_dir / "static"
    if not static.is_dir() or static.is_symlink():
        return
    if not shared.is_dir():
        shared.parent.mkdir(parents=True, exist_ok=True)
        try:
            static.rename(shared)
        except OSError:  # another run got there first
            pass
    if shared.is_dir():
        shutil.rmtree(static, ignore_errors=True)
        os.symlink(os.path.relpath(shared, docs_dir), static, target_is_directory=True)


def _save_run_quality(inventory, key: str, quality: dict[str, Any]) -> None:
    from inventory.quality import QualityStoreError, save_run_quality

    try:
        save_run_quality(inventory, key, quality)
    except QualityStoreError as exc:  # validate called outside a recorded run (a script, a bench)
        log.warning("run aggregates not stored: %s", exc)
