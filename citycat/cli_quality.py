"""``citycat quality SOURCE|INSTITUTION``: a source's or an institution's MQA score history.

Answers the institute's question "how good is this institution's data offer, and is it getting
better?" from the per-run rows the quality stage stores (``inventory.quality``): one line per run,
then the current standing (each source's latest run, weighted by its datasets). ``--csv`` writes
the per-run table for a spreadsheet.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import os
import sys
from pathlib import Path
from typing import Any

DIMS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")
BANDS = ("Excellent", "Good", "Sufficient", "Bad")
CSV_COLUMNS = ("run_id", "source_id", "started_at", "status", "datasets", "mean_total",
               *(f"mean_{d}" for d in DIMS), *(f"band_{b.lower()}" for b in BANDS), "shacl_validated",
               "shacl_conforming", "shacl_conforming_share", *(f"stars_{k}" for k in range(6)), "stars_unknown")


class TargetError(LookupError):
    """The name given matches no source id, institution name or institution URI."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="MQA score history of a source or an institution")
    p.add_argument("target", metavar="SOURCE|INSTITUTION",
                   help="a source id, or an institution's name or URI as written in sources.yaml")
    p.add_argument("--sources", default=os.environ.get("CITYCAT_SOURCES", "sources.yaml"),
                   help="sources file (default: $CITYCAT_SOURCES or ./sources.yaml)")
    p.add_argument("--csv", metavar="FILE", default=None, help="also write the per-run table as CSV")
    p.set_defaults(handler=_handle)


def resolve(sources: Any, target: str) -> tuple[str, list[str]]:
    """(label, source ids) for a source id, an institution name (any case) or an institution URI."""
    by_id = {s.id: s for s in sources.sources}
    if target in by_id:
        s = by_id[target]
        return f"source {s.id} ({s.title}, {s.institution.name})", [s.id]
    want = target.strip().casefold()
    hits = [s for s in sources.sources
            if s.institution.name.strip().casefold() == want or (s.institution.uri or "").rstrip("/") ==
            target.strip().rstrip("/")]
    if hits:
        return f"institution {hits[0].institution.name}", [s.id for s in hits]
    names = sorted({s.institution.name for s in sources.sources} | set(by_id))
    close = difflib.get_close_matches(target, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
        f"; known: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}"
    raise TargetError(f"{target!r} is no source id, institution name or institution URI in the sources file{hint}")


def standing(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Each source's latest run combined, means weighted by datasets measured."""
    latest: dict[str, dict[str, Any]] = {}
    for row in history:  # oldest first, so the last one per source wins
        latest[row["source_id"]] = row
    rows = [r for r in latest.values() if r["datasets"]]
    n = sum(r["datasets"] for r in rows)
    if not n:
        return None

    def mean(key: str) -> float | None:
        got = [(r[key], r["datasets"]) for r in rows if r[key] is not None]
        w = sum(k for _, k in got)
        return round(sum(v * k for v, k in got) / w, 2) if w else None

    from expectations.mqa import method

    total = mean("mean_total")
    return {"sources": sorted(latest), "datasets": n, "mean_total": total,
            "band_of_mean": method().band(round(total)) if total is not None else None,
            **{f"mean_{d}": mean(f"mean_{d}") for d in DIMS},
            **{f"band_{b.lower()}": sum(r[f"band_{b.lower()}"] for r in rows) for b in BANDS}}


def _fmt(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.1f}"
    elif hasattr(value, "strftime"):
        text = value.strftime("%Y-%m-%d %H:%M")
    else:
        text = str(value)
    return text.rjust(width) if isinstance(value, (int, float)) else text.ljust(width)


def _short_run(run_id: str, source_id: str) -> str:
    """The run id without the inventory's ``<source>__`` prefix (``pipeline.run_key``), cut from the
    left to fit (Airflow and CLI run ids end with the date)."""
    for sep in ("__", ":"):
        if run_id.startswith(source_id + sep):
            run_id = run_id[len(source_id) + len(sep):]
            break
    return run_id if len(run_id) <= 28 else "~" + run_id[-27:]


def format_history(label: str, history: list[dict[str, Any]], max_points: int = 405) -> str:
    lines = [f"MQA score history of {label} (out of {max_points} points)", ""]
    if not history:
        lines.append("no quality measurements stored yet (has the validate stage run for these sources?)")
        return "\n".join(lines)
    width = max(6, *(len(r["source_id"]) for r in history))
    head = (("started", 16), ("source", width), ("run", 28), ("datasets", 8), ("mean", 6), ("find", 5), ("acc", 5),
            ("int", 5), ("reu", 5), ("ctx", 5), ("Exc", 5), ("Good", 5), ("Suff", 5), ("Bad", 5), ("SHACL ok", 8),
            ("stars 0/1/2/3/4/5", 18))
    lines.append(" ".join(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(head)))
    for r in history:
        share = r["shacl_conforming_share"]
        stars = "/".join(str(r[f"stars_{k}"]) for k in range(6))
        cells = [_fmt(r["started_at"], 16), _fmt(r["source_id"], width),
                 _fmt(_short_run(r["run_id"], r["source_id"]), 28),
                 _fmt(r["datasets"], 8), _fmt(r["mean_total"], 6), *(_fmt(r[f"mean_{d}"], 5) for d in DIMS),
                 *(_fmt(r[f"band_{b.lower()}"], 5) for b in BANDS),
                 ("-" if share is None else f"{share:.0%}").rjust(8), stars.rjust(18)]
        lines.append(" ".join(cells))
    now = standing(history)
    if now:
        lines += ["", f"now ({now['datasets']} datasets, latest run of {', '.join(now['sources'])}): "
                      f"mean {now['mean_total']:.1f} / {max_points} -> {now['band_of_mean']}",
                  "  " + ", ".join(f"{d} {now[f'mean_{d}']:.1f}" for d in DIMS if now[f"mean_{d}"] is not None),
                  "  bands: " + ", ".join(f"{b} {now[f'band_{b.lower()}']}" for b in BANDS)]
    return "\n".join(lines)


def write_csv(path: str | Path, history: list[dict[str, Any]]) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in history:
            w.writerow({**r, "started_at": r["started_at"].isoformat() if r["started_at"] else None})


def _handle(args: argparse.Namespace) -> int:
    from citycat import pipeline
    from citycat.cli import _load
    from inventory.quality import quality_history

    sources = _load(args.sources)
    try:
        label, ids = resolve(sources, args.target)
    except TargetError as exc:
        print(exc, file=sys.stderr)
        return 1
    inventory = pipeline.open_inventory(pipeline.data_dir_from_env())
    try:
        history = quality_history(inventory, source_ids=ids)
    finally:
        inventory.close()
    print(format_history(label, history))
    if args.csv:
        write_csv(args.csv, history)
        print(f"csv: {args.csv} ({len(history)} runs)")
    return 0
