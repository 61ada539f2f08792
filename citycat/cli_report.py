"""``citycat report``: write the audit report (publish/report) from the inventory.

Also holds ``write_report``, the stage function the publish DAG calls after the feed, so the
CLI and Airflow write the same file. This module is where the config (sources.yaml) and the
vocabularies (transforms) meet the report, which knows neither: it passes plain names,
labels and a format lookup in.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("citycat.report")

ROOT = Path(__file__).resolve().parent.parent
# The MQA table the quality stage scores with, when the expectations part ships it; the
# report's own copy (same facts) otherwise.
EXPECTATIONS_MQA = ROOT / "expectations" / "mqa_data" / "mqa_indicators.csv"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the HTML audit report of the inventory")
    p.add_argument("--sources", default=os.environ.get("CITYCAT_SOURCES", "sources.yaml"),
                   help="sources file, for institution and source names (default: $CITYCAT_SOURCES or ./sources.yaml)")
    p.add_argument("--out", default=None, help="output directory (default: $CITYCAT_DATA_DIR/report); "
                                               "the report is <out>/index.html")
    p.add_argument("--top", type=int, default=15, help="datasets listed per institution (default 15)")
    p.set_defaults(handler=_handle)


def format_info(code: str) -> tuple[bool, bool] | None:
    """(machine-readable, non-proprietary) for an EU file-type code, per the MQA lists."""
    from transforms.vocab import file_type

    ft = file_type(code)
    return (ft.machine_readable, ft.non_proprietary) if ft else None


def theme_labels() -> dict[str, str]:
    from transforms.vocab_base import DATA

    with open(Path(DATA) / "data-theme.csv", encoding="utf-8", newline="") as fh:
        return {r["code"]: r["label_en"] or r["code"] for r in csv.DictReader(fh)}


def write_report(sources: Any, *, inventory: Any, data_dir: Path, generated_at: datetime | None,
                 out_dir: Path | None = None, top_n: int = 15) -> dict[str, Any]:
    """Write ``<out_dir or data_dir/report>/index.html``; returns path and counts (JSON-able, for XCom)."""
    from publish.report import build_report

    names: dict[str, str] = {}
    titles: dict[str, str] = {}
    title = "City region"
    if sources is not None:
        title = sources.catalog.title
        names = {s.id: s.institution.name for s in sources.sources}
        titles = {s.id: s.title for s in sources.sources}
    out = Path(out_dir) if out_dir else Path(data_dir) / "report"
    result = build_report(inventory.engine, out / "index.html", title=title, generated_at=generated_at,
                          institutions=names, source_titles=titles, theme_labels=theme_labels(),
                          format_info=format_info, top_n=top_n,
                          indicators_csv=EXPECTATIONS_MQA if EXPECTATIONS_MQA.is_file() else None)
    return result.as_dict()


def _handle(args: argparse.Namespace) -> int:
    from citycat import pipeline
    from citycat.cli import _now
    from citycat.config import ConfigError, load_sources

    sources = None
    if Path(args.sources).is_file():
        try:
            sources = load_sources(args.sources)
        except ConfigError as exc:
            for p in exc.problems:
                print(p, file=sys.stderr)
            print(f"fix {args.sources} first (citycat sources check --sources {args.sources})", file=sys.stderr)
            return 1
    else:
        print(f"{args.sources}: not found; institutions are named from the datasets' rows", file=sys.stderr)
    data_dir = pipeline.data_dir_from_env()
    inventory = pipeline.open_inventory(data_dir)
    try:
        # The CLI is the one place that reads the clock (citycat.cli._now): freshness is judged as of now.
        result = write_report(sources, inventory=inventory, data_dir=data_dir, generated_at=_now(),
                              out_dir=Path(args.out) if args.out else None, top_n=args.top)
    finally:
        inventory.close()
    print(f"report: {result['path']} ({result['datasets']:,} datasets, {result['institutions']} institutions, "
          f"{result['charts']} charts, {result['bytes'] / 1024:,.0f} kB)")
    return 0
