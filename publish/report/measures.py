"""The report's figures: plain pandas aggregations over the frames of :mod:`publish.report.data`.

Every function returns small, long-form frames (one row per institution x category), which
the charts plot and the tables behind the charts print, so a chart and its table can never
disagree. Shares are fractions of the institution's active datasets.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from publish.report.data import DIMENSIONS
from publish.report.plan import IndicatorTable

# dct:accrualPeriodicity (EU frequency codes) -> days between updates a reader may expect.
# Codes that promise no schedule (IRREG, UNKNOWN, NEVER, OTHER, AS_NEEDED...) are absent: a
# dataset stating them cannot be late.
FREQUENCY_DAYS = {
    "CONT": 1, "UPDATE_CONT": 1, "1MIN": 1, "5MIN": 1, "10MIN": 1, "15MIN": 1, "30MIN": 1, "HOURLY": 1,
    "BIHOURLY": 1, "TRIHOURLY": 1, "12HRS": 1, "DAILY": 1, "DAILY_2": 1, "WEEKLY": 7, "WEEKLY_2": 4,
    "WEEKLY_3": 3, "BIWEEKLY": 14, "MONTHLY": 31, "MONTHLY_2": 16, "MONTHLY_3": 11, "BIMONTHLY": 62,
    "QUARTERLY": 92, "ANNUAL": 366, "ANNUAL_2": 183, "ANNUAL_3": 122, "BIENNIAL": 731, "TRIENNIAL": 1096,
    "QUADRENNIAL": 1461, "QUINQUENNIAL": 1827, "DECENNIAL": 3653,
}
# A dataset is stale when its modification date is older than this many stated periods (one
# period of slack for publishers who stamp the date at the end of the period).
STALE_PERIODS = 2

OFFER_ORDER = ("download", "api", "visualisation", "request-only")
LICENCE_ORDER = ("open", "not open", "stated, openness unknown", "missing")
EU_ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"

FormatInfo = Callable[[str], "tuple[bool, bool] | None"]


def _share(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0)).fillna(0.0).round(4)


def category_counts(df: pd.DataFrame, col: str, *, order: tuple[str, ...] = ()) -> pd.DataFrame:
    """institution, <col>, datasets, share — from a column holding one category per dataset."""
    totals = df.groupby("institution", observed=True).size().rename("total")
    out = df.groupby(["institution", col], observed=True).size().rename("datasets").reset_index()
    out = out[out["datasets"] > 0].merge(totals, left_on="institution", right_index=True)
    out["share"] = _share(out["datasets"], out["total"])
    if order:
        rank = {v: i for i, v in enumerate(order)}
        out["_o"] = out[col].map(lambda v: rank.get(v, len(rank)))
        out = out.sort_values(["institution", "_o", col]).drop(columns="_o")
    return out.drop(columns="total").reset_index(drop=True)


def _exploded(df: pd.DataFrame, col: str, empty: str) -> pd.DataFrame:
    s = df[["institution", col]].copy()
    s[col] = s[col].map(lambda t: t if t else (empty,))
    return s.explode(col)


# --------------------------------------------------------------------------- what is held


def held_by_source(df: pd.DataFrame, source_titles: dict[str, str]) -> pd.DataFrame:
    out = df.groupby(["institution", "source_id"], observed=True).size().rename("datasets").reset_index()
    out = out[out["datasets"] > 0].copy()
    out["source"] = out["source_id"].astype(str).map(lambda s: source_titles.get(s, s))
    return out.sort_values(["institution", "source_id"]).reset_index(drop=True)


def held_by_theme(df: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    ex = _exploded(df, "themes", "no theme")
    out = ex.groupby("themes").size().rename("datasets").reset_index().rename(columns={"themes": "theme"})
    if labels:
        out["theme"] = out["theme"].map(lambda t: labels.get(t, t))
    return out.sort_values(["datasets", "theme"], ascending=[False, True]).reset_index(drop=True)


def first_seen_by_month(df: pd.DataFrame) -> pd.DataFrame:
    """New datasets per month and institution, with the running total (the inventory's growth)."""
    month = df["first_seen"].dt.tz_convert(None).dt.to_period("M").dt.to_timestamp()
    out = df.assign(month=month).groupby(["institution", "month"], observed=True).size().rename("new")
    out = out.reset_index()
    out = out[out["new"] > 0].sort_values(["institution", "month"])
    out["datasets"] = out.groupby("institution", observed=True)["new"].cumsum()
    out["month"] = out["month"].dt.strftime("%Y-%m")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- how it is published


def offer_shares(df: pd.DataFrame) -> pd.DataFrame:
    """Per institution and channel: datasets offered that way (a dataset may offer several)."""
    ex = _exploded(df, "offer", "request-only")
    totals = df.groupby("institution", observed=True).size().rename("total")
    ex = ex.rename_axis("_row").reset_index().drop_duplicates(["_row", "offer"])  # one count per dataset
    out = ex.groupby(["institution", "offer"], observed=True).size().rename("datasets")
    out = out.reset_index().merge(totals, left_on="institution", right_index=True)
    out["share"] = _share(out["datasets"], out["total"])
    rank = {v: i for i, v in enumerate(OFFER_ORDER)}
    out["_o"] = out["offer"].map(lambda v: rank.get(v, len(rank)))
    return out.sort_values(["institution", "_o", "offer"]).drop(columns=["_o", "total"]).reset_index(drop=True)


def top_formats(df: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    ex = df[["formats"]].explode("formats").dropna()
    out = ex.groupby("formats").size().rename("datasets").reset_index().rename(columns={"formats": "format"})
    return out.sort_values(["datasets", "format"], ascending=[False, True]).head(n).reset_index(drop=True)


def format_flags(df: pd.DataFrame, format_info: FormatInfo | None) -> pd.DataFrame | None:
    """Per dataset: offers at least one machine-readable / non-proprietary format (MQA lists)."""
    if format_info is None:
        return None
    cache: dict[str, tuple[bool, bool]] = {}

    def flags(codes: tuple[str, ...]) -> tuple[bool, bool]:
        mr = npr = False
        for c in codes:
            if c not in cache:
                cache[c] = format_info(c) or (False, False)
            mr, npr = mr or cache[c][0], npr or cache[c][1]
        return mr, npr

    pairs = df["formats"].map(flags)
    return pd.DataFrame({"machine_readable": pairs.map(lambda p: p[0]),
                         "non_proprietary": pairs.map(lambda p: p[1])}, index=df.index)


# --------------------------------------------------------------------------- shareable


def licence_status(df: pd.DataFrame) -> pd.Series:
    stated = df["licence_uri"].notna() | df["licence_label"].astype(object).fillna("").astype(str).str.strip().ne("")
    status = pd.Series("missing", index=df.index)
    status[stated] = "stated, openness unknown"
    status[df["licence_open"] == True] = "open"  # noqa: E712 - a nullable column: True, False or None
    status[df["licence_open"] == False] = "not open"  # noqa: E712
    return status


def access_label(df: pd.DataFrame) -> pd.Series:
    return df["access_rights"].astype(object).map(
        lambda u: "not stated" if not u else str(u).rstrip("/").rsplit("/", 1)[-1])


# --------------------------------------------------------------------------- interoperable


def vocabulary_use(df: pd.DataFrame) -> pd.DataFrame:
    """Share of datasets using the EU controlled vocabularies DCAT-AP asks for, per institution."""
    checks = pd.DataFrame({
        "institution": df["institution"],
        "licence (EU licence NAL / SPDX)": df["licence_uri"].notna(),
        "theme (EU data theme)": df["themes"].map(bool),
        "format (EU file type)": df["formats"].map(bool),
        "frequency (EU frequency)": df["frequency"].notna(),
        "access rights (EU access right)": df["access_rights"].astype(object).map(
            lambda u: bool(u) and str(u).startswith(EU_ACCESS_RIGHT)),
    })
    out = checks.groupby("institution", observed=True).mean().round(4).reset_index()
    return out.melt(id_vars="institution", var_name="vocabulary", value_name="share")


def with_quality(df: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """The active datasets that have a measurement, joined with their latest one."""
    if quality.empty or df.empty:
        return pd.DataFrame()
    keys = df[["id", "source_id", "native_id", "institution"]].astype({"source_id": str})
    return keys.merge(quality.astype({"source_id": str}), on=["source_id", "native_id"], how="inner")


def mqa_by_dimension(q: pd.DataFrame, table: IndicatorTable) -> pd.DataFrame:
    """Mean points per dimension as a share of the dimension's maximum, per institution and region."""
    rows = []
    dims = {d.lower(): d for d in table.dimensions}
    for scope, part in [("Region", q), *q.groupby("institution", observed=True)]:
        for key in DIMENSIONS:
            col = part[f"mqa_{key}"].dropna()
            if col.empty or key not in dims:
                continue
            mean = float(col.mean())
            rows.append({"institution": str(scope), "dimension": dims[key], "mean_points": round(mean, 1),
                         "max_points": table.dimension_max[dims[key]],
                         "share": round(mean / table.dimension_max[dims[key]], 4)})
    return pd.DataFrame(rows, columns=["institution", "dimension", "mean_points", "max_points", "share"])


def mqa_bands(q: pd.DataFrame, table: IndicatorTable) -> pd.DataFrame:
    band = q["mqa_band"].where(q["mqa_band"].notna(), q["mqa_total"].map(table.band))
    out = category_counts(q.assign(band=band.fillna("not scored")), "band",
                  order=tuple(b[0] for b in table.bands) + ("not scored",))
    return out


def star_levels(q: pd.DataFrame) -> pd.DataFrame:
    stars = q["stars"].map(lambda s: "not rated" if pd.isna(s) else f"{int(s)}★")
    return category_counts(q.assign(level=stars), "level", order=tuple(f"{i}★" for i in range(6)) + ("not rated",))


# --------------------------------------------------------------------------- fresh


def freshness(df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Per dataset: stated period, days since modified, changes observed, stale flag."""
    freq = df["frequency"].astype(object)
    period = freq.map(lambda f: FREQUENCY_DAYS.get(str(f)) if f else None)
    age = (now - df["modified_at"]).dt.days
    observed_days = (now - df["first_seen"]).dt.days.clip(lower=1)
    stale = period.notna() & (age.isna() | (age > period.fillna(0) * STALE_PERIODS))
    return pd.DataFrame({"institution": df["institution"], "frequency": freq.fillna("not stated"),
                         "period_days": period, "days_since_modified": age, "changes_seen": df["version"] - 1,
                         "observed_days": observed_days, "stale": stale,
                         "update_interval_days": df.get("update_interval_days", pd.Series(index=df.index,
                                                                                           dtype=float))},
                        index=df.index)


def freshness_by_frequency(fr: pd.DataFrame) -> pd.DataFrame:
    g = fr.groupby("frequency")
    out = pd.DataFrame({
        "datasets": g.size(),
        "expected_days": g["period_days"].first(),
        "median_days_since_modified": g["days_since_modified"].median().round(0),
        "changes_seen": g["changes_seen"].sum(),
        "with_history": g["update_interval_days"].count(),
        "median_update_interval": g["update_interval_days"].median().round(0),
        "stale": g["stale"].sum().astype(int),
    }).reset_index()
    out["stale_share"] = _share(out["stale"], out["datasets"])
    return out.sort_values(["datasets", "frequency"], ascending=[False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------- change over time


def run_trends(runs: pd.DataFrame, run_scores: pd.DataFrame) -> pd.DataFrame:
    """One row per run: when, source, counts, and the mean MQA score it measured (if any)."""
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "source_id", "started", "status", "seen", "created", "updated",
                                     "withdrawn", "failed", "mqa_mean"])
    out = runs[["run_id", "source_id", "started_at", "status"]].copy()
    for k in ("seen", "created", "updated", "withdrawn", "failed"):
        out[k] = runs["counts"].map(lambda c, k=k: c.get(k) if isinstance(c.get(k), (int, float)) else None)
    # The run's own aggregate (harvest_runs.quality.mqa.mean_total) when the quality stage wrote one;
    # else the mean over the dataset_quality rows of that run.
    stated = runs["quality"].map(lambda qd: ((qd.get("mqa") or {}) if isinstance(qd, dict) else {}).get("mean_total"))
    stated = pd.to_numeric(stated, errors="coerce")
    if not run_scores.empty:
        weights = run_scores.assign(w=run_scores["mqa_mean"].astype(float) * run_scores["measured"])
        agg = weights.groupby("run_id")[["w", "measured"]].sum()
        stated = stated.fillna(out["run_id"].map(agg["w"] / agg["measured"].where(agg["measured"] > 0)))
    out["mqa_mean"] = stated.astype(float).round(1)
    out["started"] = out["started_at"].dt.strftime("%Y-%m-%dT%H:%MZ")
    return out.drop(columns="started_at").reset_index(drop=True)


# --------------------------------------------------------------------------- duplicates


def republishing(df: pd.DataFrame, clusters: pd.DataFrame, source_titles: dict[str, str] | None = None) -> pd.DataFrame:
    """Copy counts: which portal (source) re-publishes which institution's datasets.

    A cluster's primary is the original; every other member is a copy held by its own source.
    """
    cols = ["portal", "republisher", "original", "datasets"]
    if clusters.empty or df.empty:
        return pd.DataFrame(columns=cols)
    by_id = df.set_index("id")
    inst = by_id["institution"].astype(str)
    src = by_id["source_id"].astype(str).map(lambda s: (source_titles or {}).get(s, s))
    mirrors = clusters[~clusters["is_primary"].astype(bool)]
    pairs = pd.DataFrame({"portal": mirrors["dataset_id"].map(src), "republisher": mirrors["dataset_id"].map(inst),
                          "original": mirrors["cluster_id"].map(inst)}).dropna()
    out = pairs.groupby(["portal", "republisher", "original"]).size().rename("datasets").reset_index()
    return out.sort_values(["datasets", "portal"], ascending=[False, True]).reset_index(drop=True)[cols]
