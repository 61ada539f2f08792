"""One source's run, stage after stage, with its record in the inventory.

The CLI runs a whole source through :func:`run_source`; the Airflow DAG runs the same
stages as separate tasks and uses :func:`begin_run` / :func:`fail_run` / :func:`finish_load`
for the run record, so both paths leave the same trace in ``harvest_runs``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from citycat import pipeline
from citycat.config import SourceConfig, SourcesFile

log = logging.getLogger("citycat.runner")

MAX_STORED_ERRORS = 1000  # per run; the errors file under data/normalised keeps all of them


@dataclass
class SourceSummary:
    source_id: str
    run_id: str
    mode: str
    status: str  # success | failed | gate_failed
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    quarantined: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    reason: str | None = None
    stages: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def begin_run(source: SourceConfig, run_id: str, mode: str, *, since: datetime | None, until: datetime | None,
              now: datetime, inventory) -> tuple[str, datetime | None, datetime | None]:
    """Resolve the window and open the run record; returns (mode, window_start, window_end)."""
    mode, start, end = pipeline.resolve_window(source, mode, since=since, until=until, now=now, inventory=inventory)
    inventory.start_run(source_id=source.id, run_id=pipeline.run_key(source.id, run_id), mode=mode,
                        window_start=start, window_end=end, started_at=now)
    return mode, start, end


def fail_run(source_id: str, run_id: str, *, reason: str, status: str = "failed", finished_at: datetime,
             inventory, gate: dict | None = None, stats: dict | None = None, data_docs: str | None = None) -> None:
    inventory.finish_run(pipeline.run_key(source_id, run_id), status=status, finished_at=finished_at,
                         gate=gate, stats=stats, data_docs=data_docs, errors=[{"native_id": None, "field": None, "reason": reason,
                                                          "stage": status}])


def finish_load(source_id: str, run_id: str, *, counts: dict[str, Any], stats: dict[str, Any],
                errors_path: str | None, finished_at: datetime, inventory, gate: dict | None = None,
                data_docs: str | None = None) -> None:
    errors = pipeline.read_errors(errors_path, limit=MAX_STORED_ERRORS) if errors_path else []
    inventory.finish_run(pipeline.run_key(source_id, run_id), status="success", finished_at=finished_at,
                         counts={k: v for k, v in counts.items() if isinstance(v, int)}, gate=gate,
                         errors=errors, stats=stats, data_docs=data_docs)


GATE_KEYS = ("passed", "reasons", "failed")
VALIDATE_KEYS = ("passed", "reasons", "failed", "rows", "seconds", "quality_path", "data_docs")


def link_check_enabled(source: SourceConfig) -> bool:
    """Whether the source asks for the link check stage (``quality.link_check.enabled``)."""
    return bool(getattr(getattr(source.quality, "link_check", None), "enabled", False))


def check_links(source: SourceConfig, run_id: str, normalised: str, *, inventory, now: datetime) -> dict[str, Any]:
    """The link check stage (citycat.links), run before validate so MQA can use its results."""
    from citycat.links import check_links as run_check

    return run_check(source, run_id, normalised, inventory=inventory, now=now)


def run_source(source: SourceConfig, sources: SourcesFile, *, run_id: str, mode: str, now: datetime,
               data_dir: Path, inventory, since: datetime | None = None, until: datetime | None = None,
               replay_run: str | None = None,
               progress: Callable[[str], Callable[[int], None] | None] | None = None) -> SourceSummary:
    """Harvest → normalise → validate → load one source; never raises for a source's failure.

    One bad source must not stop the others, so every failure becomes a summary with the
    reason, and the run record says the same.
    """
    started = time.monotonic()
    summary = SourceSummary(source.id, run_id, mode, status="failed")
    pipeline.prewarm_validation()
    try:
        mode, start, end = begin_run(source, run_id, mode, since=since, until=until, now=now, inventory=inventory)
        summary.mode = mode
        h = pipeline.harvest(source, run_id, mode, window_start=start, window_end=end, data_dir=data_dir,
                             replay_run=replay_run, progress=progress("harvest") if progress else None)
        summary.stages["harvest"] = h.as_dict()
        summary.skipped = sum(h.skipped.values())
        n = pipeline.normalise(source, run_id, h.raw_path, data_dir=data_dir,
                               base_uri=sources.catalog.base_uri.rstrip("/"),
                               progress=progress("normalise") if progress else None)
        summary.stages["normalise"] = n.as_dict()
        summary.seen, summary.failed = n.seen, n.failed
        if link_check_enabled(source):
            summary.stages["links"] = check_links(source, run_id, n.normalised_path, inventory=inventory, now=now)
        v = pipeline.validate(source, run_id, n.normalised_path, failed_to_map=n.failed, data_dir=data_dir,
                              isolate=True, run_time=now, mode=mode, inventory=inventory)
        summary.stages["validate"] = {k: v.get(k) for k in VALIDATE_KEYS}
        gate = {k: v[k] for k in GATE_KEYS}
        if not v["passed"]:
            # the load is skipped: the inventory's datasets stay as they were; quality rows are kept
            summary.status, summary.reason = "gate_failed", "; ".join(v["reasons"])
            fail_run(source.id, run_id, reason=summary.reason, status="gate_failed", finished_at=now,
                     inventory=inventory, gate=gate, stats=dict(summary.stages), data_docs=v.get("data_docs"))
            return summary
        counts = pipeline.load(source, run_id, n.normalised_path, mode=mode, complete_listing=h.complete_listing,
                               inventory=inventory, loaded_at=now)
        summary.stages["load"] = counts
        for k in ("created", "updated", "unchanged", "withdrawn", "quarantined"):
            setattr(summary, k, int(counts.get(k, 0)))
        summary.updated += int(counts.get("reactivated", 0))
        if counts.get("quarantine_reason"):
            summary.reason = counts["quarantine_reason"]
        summary.status = "success"
        # re-cluster cross-source duplicates on the committed inventory (never raises)
        from inventory.clusters import after_load
        summary.stages["duplicates"] = after_load(inventory, sources.catalog.duplicates, computed_at=now)
        finish_load(source.id, run_id, counts=counts, stats=dict(summary.stages), errors_path=n.errors_path,
                    finished_at=now, inventory=inventory, gate=gate, data_docs=v.get("data_docs"))
    except Exception as exc:  # noqa: BLE001 - the reason is reported, the other sources go on
        summary.status, summary.reason = "failed", f"{type(exc).__name__}: {exc}"
        log.error("%s: run %s failed: %s", source.id, run_id, summary.reason)
        try:
            fail_run(source.id, run_id, reason=summary.reason, finished_at=now, inventory=inventory,
                     stats=dict(summary.stages))
        except Exception:  # the inventory itself may be what failed
            log.exception("%s: could not record the failed run", source.id)
    finally:
        summary.seconds = round(time.monotonic() - started, 2)
    return summary
