"""The audit report: one self-contained HTML file answering who holds what, how open,
interoperable, shareable and fresh it is, and what to fix first (docs/report.md).

``build_report`` is the one entry point: read the inventory (:mod:`.data`), aggregate
(:mod:`.measures`, :mod:`.plan`), make charts (:mod:`.charts`), compose (:mod:`.build`) and
render (:mod:`.render`). It only reads the inventory.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from publish.report.build import Options, build_model
from publish.report.data import gather, reference_time
from publish.report.measures import FormatInfo
from publish.report.plan import IndicatorTableError, load_indicators
from publish.report.render import render, write_atomic

log = logging.getLogger("publish.report")

__all__ = ["IndicatorTableError", "ReportResult", "build_report"]


@dataclass
class ReportResult:
    path: Path
    datasets: int
    institutions: int
    charts: int
    bytes: int
    seconds: float

    def as_dict(self) -> dict:
        return {"path": str(self.path), "datasets": self.datasets, "institutions": self.institutions,
                "charts": self.charts, "bytes": self.bytes, "seconds": self.seconds}


def build_report(engine: Engine, out_path: Path, *, title: str = "City region", generated_at: datetime | None = None,
                 institutions: dict[str, str] | None = None, source_titles: dict[str, str] | None = None,
                 theme_labels: dict[str, str] | None = None, format_info: FormatInfo | None = None,
                 indicators_csv: Path | None = None, top_n: int = 15) -> ReportResult:
    """Write the report for the inventory behind ``engine`` to ``out_path`` (atomically).

    ``institutions`` / ``source_titles`` map source ids to names (from sources.yaml; the caller
    knows the config, this package does not). ``format_info(code)`` answers (machine-readable,
    non-proprietary) for an EU file-type code; without it those shares say "not computed".
    ``generated_at`` dates the report and is the "now" of the freshness figures; the newest
    change in the inventory stands in when it is not given.
    """
    started = time.monotonic()
    table = load_indicators(indicators_csv)
    inputs = gather(engine, table=table, institutions=institutions)
    now = reference_time(inputs, generated_at)
    opts = Options(source_titles=source_titles or {}, theme_labels=theme_labels or {}, format_info=format_info,
                   table=table, top_n=top_n)
    model = build_model(inputs, opts, now=now, title=title)
    html = render(model)
    path = write_atomic(html, Path(out_path))
    charts = sum(len(s["charts"]) for s in model["sections"])
    result = ReportResult(path=path, datasets=len(inputs.datasets), institutions=len(model["institutions"]),
                          charts=charts, bytes=len(html.encode("utf-8")), seconds=round(time.monotonic() - started, 3))
    log.info("report: %s (%d datasets, %d charts, %.1f kB, %.1f s, peak RSS %.0f MB)", path, result.datasets, charts,
             result.bytes / 1024, result.seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result
