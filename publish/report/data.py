"""Read what the report needs from the inventory into pandas frames, once.

Only the few row fields the report uses are kept per dataset, so 100,000 datasets cost a
few tens of MB, not the whole JSON rows; rows stream from the database in batches. The
quality, cluster and run tables are optional inputs filled by other stages: an empty table
gives an empty frame, and each section then says "not measured yet" instead of failing.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

import pandas as pd
from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.engine import Engine

from inventory.models import dataset_clusters, dataset_quality, dataset_versions, datasets, harvest_runs
from publish.report.plan import IndicatorTable, PlanAccumulator, PlanStep

log = logging.getLogger("publish.report")

DIMENSIONS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")

# Row fields kept per dataset; lists are kept as tuples (hashable, smaller).
_SCALARS = ("institution", "licence_uri", "licence_label", "access_rights", "frequency", "modified")
# Fields only the listed (top-N) datasets need: fetched for those ids alone (read_details), which
# keeps 100,000 titles and URLs out of memory.
_DETAILS = ("title", "publisher", "landing_page", "modified")
_LISTS = ("formats", "offer", "themes")


@dataclass
class ReportInputs:
    """Everything the report reads, as plain frames."""

    datasets: pd.DataFrame  # one row per active dataset
    withdrawn: pd.DataFrame  # source_id, withdrawn (count)
    quality: pd.DataFrame  # latest measurement per active dataset (may be empty)
    clusters: pd.DataFrame  # dataset_id, cluster_id, is_primary, evidence (may be empty)
    runs: pd.DataFrame  # one row per harvest run
    run_scores: pd.DataFrame  # run_id, datasets measured, mean MQA total (may be empty)
    plans: dict[str, list[PlanStep]]  # institution -> improvement plan (empty when nothing is measured)
    details: Callable[[Iterable[int]], dict[int, dict[str, Any]]]  # ids -> title, uri, ... (read_details)


def _as_dict(value: Any) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):  # some drivers hand JSON back as text
        try:
            out = json.loads(value)
        except ValueError:
            return None
        return out if isinstance(out, dict) else None
    return None


def read_datasets(engine: Engine, *, institutions: dict[str, str], batch: int = 5000) -> pd.DataFrame:
    """The active datasets with the row fields the report uses.

    The fields are pulled out of the row JSON by the database (``json_extract`` on SQLite,
    ``->>`` on PostgreSQL): decoding 100,000 whole rows in Python was half the report's time.
    ``institutions`` maps source id to institution name, for rows that lack ``institution``
    (older mappings); the source id stands in when neither knows.
    """
    row = datasets.c.row
    cols = [datasets.c.id, datasets.c.source_id, datasets.c.native_id,
            # text, parsed by pandas in one vectorised pass below
            type_coerce(datasets.c.first_seen, String).label("first_seen"),
            type_coerce(datasets.c.last_changed, String).label("last_changed"), datasets.c.version,
            *[row[k].as_string().label(k) for k in _SCALARS],
            row["licence_open"].as_boolean().label("licence_open"),
            # lists as their JSON text: few distinct values, each parsed once (see _parse_lists)
            *[row[k].as_string().label(k) for k in _LISTS]]
    stmt = select(*cols).where(datasets.c.status == "active").order_by(datasets.c.id)
    names = [c.name for c in cols]
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
        df = pd.DataFrame([tuple(r) for r in result], columns=names)
    if df.empty:
        return df
    for k in _LISTS:
        df[k] = _parse_lists(df[k])
    missing = df["institution"].isna() | (df["institution"].astype("string").str.strip() == "")
    df.loc[missing, "institution"] = df.loc[missing, "source_id"].map(lambda s: institutions.get(s, s))
    for col in ("source_id", "institution", "frequency", "access_rights", "licence_uri", "licence_label"):
        df[col] = df[col].astype("category")
    df["first_seen"] = _utc(df["first_seen"])
    df["last_changed"] = _utc(df["last_changed"])
    # Source dates are ISO 8601 of varying precision (2024, 2024-05, dates, date-times with offsets).
    df["modified_at"] = pd.to_datetime(df["modified"], utc=True, errors="coerce", format="ISO8601")
    return df.drop(columns="modified")


def read_details(engine: Engine, ids: Iterable[int], *, chunk: int = 500) -> dict[int, dict[str, Any]]:
    """Title, publisher, URI, landing page and modified date of the given datasets."""
    row = datasets.c.row
    cols = [datasets.c.id, datasets.c.uri, *[row[k].as_string().label(k) for k in _DETAILS]]
    ids = list(ids)
    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for i in range(0, len(ids), chunk):
            for r in conn.execute(select(*cols).where(datasets.c.id.in_(ids[i:i + chunk]))):
                out[r.id] = dict(r._mapping)
    return out


def _as_tuple(text: Any) -> tuple[str, ...]:
    if text is None or text == "":
        return ()
    if isinstance(text, (list, tuple)):
        return tuple(str(x) for x in text)
    try:
        value = json.loads(text)
    except ValueError:  # a bare string where a list was expected
        return (str(text),)
    if isinstance(value, list):
        return tuple(str(x) for x in value)
    return () if value is None else (str(value),)


def _parse_lists(col: pd.Series) -> pd.Series:
    """JSON list texts -> tuples, parsing each distinct text once (formats, offers and themes
    repeat the same few combinations across thousands of datasets)."""
    codes, uniques = pd.factorize(col.astype(object).where(col.notna(), ""), use_na_sentinel=False)
    parsed = [_as_tuple(u) for u in uniques]
    return pd.Series([parsed[c] for c in codes], index=col.index, dtype=object)


def _utc(col: pd.Series) -> pd.Series:
    """Inventory timestamps: SQLite gives UTC text, PostgreSQL aware datetimes; both to UTC."""
    return pd.to_datetime(col, utc=True, format="ISO8601")


def read_update_intervals(engine: Engine) -> pd.Series:
    """Per active dataset with history: the median days between its successive source
    ``modified`` dates, as recorded in its stored versions (``dataset_versions``).

    Only datasets with more than one version are read, so an inventory that has seen few
    changes (most, most nights) costs almost nothing here.
    """
    v = dataset_versions
    stmt = (select(v.c.dataset_id, v.c.row["modified"].as_string().label("modified"))
            .join(datasets, datasets.c.id == v.c.dataset_id)
            .where(datasets.c.status == "active", datasets.c.version > 1))
    with engine.connect() as conn:
        hist = pd.DataFrame([tuple(r) for r in conn.execute(stmt)], columns=["dataset_id", "modified"])
    if hist.empty:
        return pd.Series(dtype=float, name="update_interval_days")
    hist["at"] = pd.to_datetime(hist["modified"], utc=True, errors="coerce", format="ISO8601")
    hist = hist.dropna(subset=["at"]).drop_duplicates(["dataset_id", "at"]).sort_values(["dataset_id", "at"])
    gaps = hist.groupby("dataset_id")["at"].diff().dt.total_seconds() / 86400
    out = gaps.groupby(hist["dataset_id"]).median().dropna().round(1)
    return out.rename("update_interval_days")


def read_withdrawn(engine: Engine) -> pd.DataFrame:
    stmt = (select(datasets.c.source_id, func.count().label("withdrawn"))
            .where(datasets.c.status == "withdrawn").group_by(datasets.c.source_id))
    with engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(stmt)], columns=["source_id", "withdrawn"])


def read_quality(engine: Engine, *, active: dict[tuple[str, str], str] | None = None,
                 plan: PlanAccumulator | None = None) -> pd.DataFrame:
    """The latest measurement (highest id) of every (source, native id) that has one.

    With ``active`` ((source id, native id) -> institution) and ``plan``, each active
    dataset's indicator map is added to the plan as it streams by and is then dropped: kept
    for 100,000 datasets those dicts were the largest thing in memory.
    """
    q = dataset_quality
    latest = (select(func.max(q.c.id).label("id")).group_by(q.c.source_id, q.c.native_id)).subquery()
    cols = [q.c.source_id, q.c.native_id, q.c.run_id, q.c.mqa_total, q.c.mqa_band,
            *[q.c[f"mqa_{d}"] for d in DIMENSIONS], q.c.stars, q.c.shacl_conforms]
    # The indicator map as text: datasets of one institution share a handful of distinct maps,
    # so they are counted by text and each distinct text is parsed once.
    stmt = select(*cols, type_coerce(q.c.mqa_indicators, String).label("ind")).join(latest, latest.c.id == q.c.id)
    names = [c.name for c in cols]
    rows = []
    seen: Counter[tuple[str, str]] = Counter()
    with engine.connect() as conn:
        for r in conn.execution_options(stream_results=True, yield_per=5000).execute(stmt):
            rows.append(tuple(r)[:-1])
            if plan is not None and active is not None and r.ind:
                inst = active.get((r.source_id, r.native_id))
                if inst is not None:
                    seen[(inst, r.ind if isinstance(r.ind, str) else json.dumps(r.ind))] += 1
    for (inst, text), times in seen.items():
        plan.add(inst, _as_dict(text), times=times)  # type: ignore[union-attr]
    return pd.DataFrame(rows, columns=names)


def read_clusters(engine: Engine) -> pd.DataFrame:
    c = dataset_clusters
    stmt = select(c.c.dataset_id, c.c.cluster_id, c.c.is_primary, c.c.evidence)
    with engine.connect() as conn:
        return pd.DataFrame([tuple(r) for r in conn.execute(stmt)],
                            columns=["dataset_id", "cluster_id", "is_primary", "evidence"])


def read_runs(engine: Engine) -> pd.DataFrame:
    r = harvest_runs
    stmt = select(r.c.run_id, r.c.source_id, r.c.mode, r.c.started_at, r.c.finished_at, r.c.status, r.c.counts,
                  r.c.quality).order_by(r.c.started_at, r.c.id)
    with engine.connect() as conn:
        rows = [dict(x._mapping) for x in conn.execute(stmt)]
    df = pd.DataFrame(rows, columns=["run_id", "source_id", "mode", "started_at", "finished_at", "status", "counts",
                                     "quality"])
    if not df.empty:
        df["started_at"] = pd.to_datetime(df["started_at"], utc=True)
        df["counts"] = df["counts"].map(lambda v: _as_dict(v) or {})
        df["quality"] = df["quality"].map(lambda v: _as_dict(v) or {})
    return df


def read_run_scores(engine: Engine) -> pd.DataFrame:
    """Mean MQA total and 5-star level per run, over the datasets that run measured."""
    q = dataset_quality
    stmt = (select(q.c.run_id, q.c.source_id, func.count(q.c.mqa_total).label("measured"),
                   func.avg(q.c.mqa_total).label("mqa_mean"), func.avg(q.c.stars).label("stars_mean"))
            .group_by(q.c.run_id, q.c.source_id))
    with engine.connect() as conn:
        return pd.DataFrame([tuple(r) for r in conn.execute(stmt)],
                            columns=["run_id", "source_id", "measured", "mqa_mean", "stars_mean"])


def gather(engine: Engine, *, table: IndicatorTable, institutions: dict[str, str] | None = None,
           plan_steps: int = 5) -> ReportInputs:
    """Read every input of the report (read-only; one query per table)."""
    ds = read_datasets(engine, institutions=institutions or {})
    if not ds.empty:
        ds["update_interval_days"] = ds["id"].map(read_update_intervals(engine))
    acc = PlanAccumulator(table)
    active = ({(s, n): str(i) for s, n, i in zip(ds["source_id"].astype(str), ds["native_id"], ds["institution"])}
              if not ds.empty else {})
    quality = read_quality(engine, active=active, plan=acc)
    del active
    return ReportInputs(datasets=ds, withdrawn=read_withdrawn(engine), quality=quality,
                        clusters=read_clusters(engine), runs=read_runs(engine), run_scores=read_run_scores(engine),
                        plans=acc.plans(plan_steps), details=lambda ids: read_details(engine, ids))


def reference_time(inputs: ReportInputs, generated_at: datetime | None) -> pd.Timestamp:
    """The report's "now": given, else the newest change in the inventory (never the clock)."""
    if generated_at is not None:
        return pd.Timestamp(generated_at).tz_convert("UTC")
    if not inputs.datasets.empty:
        return inputs.datasets["last_changed"].max()
    return pd.Timestamp("1970-01-01", tz="UTC")
