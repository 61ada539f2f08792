"""Compose the report: the region's sections (charts + tables) and one section per institution.

The output is a plain dict of strings, numbers and :class:`~publish.report.charts.Chart`
objects for the template; nothing here formats HTML, so escaping stays in one place (Jinja's
autoescape in :mod:`publish.report.render`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pandas as pd

from publish.report import charts as ch
from publish.report import measures as m
from publish.report.data import ReportInputs
from publish.report.plan import IndicatorTable

NOT_MEASURED = "not measured yet"
Details = Callable[[Iterable[int]], dict[int, dict[str, Any]]]


@dataclass
class Options:
    source_titles: dict[str, str]
    theme_labels: dict[str, str]
    format_info: m.FormatInfo | None
    table: IndicatorTable
    top_n: int = 15


def _pct(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else f"{x:.1%}"


def _days(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else f"{int(round(x)):,}"


def safe_url(url: Any) -> str | None:
    """Only http(s) URLs become links: a harvested ``javascript:`` URL must not be clickable."""
    if isinstance(url, str) and re.match(r"^https?://[^\s]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def _anchor(name: str, used: set[str]) -> str:
    base = "inst-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")
    out, i = base, 2
    while out in used:
        out, i = f"{base}-{i}", i + 1
    used.add(out)
    return out


def _section(key: str, title: str, question: str, charts: list[ch.Chart], notes: list[str] | None = None,
             tables: list[dict] | None = None) -> dict[str, Any]:
    return {"id": key, "title": title, "question": question, "charts": charts, "notes": notes or [],
            "tables": tables or []}


def build_model(inputs: ReportInputs, opts: Options, *, now: pd.Timestamp, title: str) -> dict[str, Any]:
    df = inputs.datasets
    if df.empty:
        return {"title": title, "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "empty": True, "sections": [],
                "institutions": [], "summary": []}
    df = df.copy()
    df["licence_status"] = m.licence_status(df)
    df["access"] = m.access_label(df)
    flags = m.format_flags(df, opts.format_info)
    if flags is not None:
        df = df.join(flags)
    q = m.with_quality(df, inputs.quality)
    fr = m.freshness(df, now)
    df["stale"] = fr["stale"]
    repub = m.republishing(df, inputs.clusters, opts.source_titles)
    sections = [
        _held(df, opts),
        _published(df, flags is not None),
        _shareable(df),
        _interoperable(df, q, opts),
        _fresh(fr),
        _trends(inputs),
        _duplicates(repub, inputs.clusters),
    ]
    institutions = _institutions(df, q, inputs.clusters, inputs.plans, opts, inputs.details)
    summary = [("datasets (active)", f"{len(df):,}"), ("institutions", f"{df['institution'].nunique():,}"),
               ("sources", f"{df['source_id'].nunique():,}"),
               ("withdrawn datasets", f"{int(inputs.withdrawn['withdrawn'].sum()) if len(inputs.withdrawn) else 0:,}"),
               ("open licence", _pct((df["licence_status"] == "open").mean())),
               ("licence missing", _pct((df["licence_status"] == "missing").mean())),
               ("machine-readable format",
                _pct(df["machine_readable"].mean()) if flags is not None else "not computed"),
               ("mean MQA score", f"{q['mqa_total'].mean():.0f} / {opts.table.total_max}"
                if not q.empty and q["mqa_total"].notna().any() else NOT_MEASURED),
               ("stale (older than twice the stated frequency)", f"{int(fr['stale'].sum()):,}")]
    return {"title": title, "generated": now.strftime("%Y-%m-%d %H:%M UTC"), "empty": False, "summary": summary,
            "sections": sections, "institutions": institutions, "total_max": opts.table.total_max,
            "indicator_source": opts.table.path.name}


# --------------------------------------------------------------------------- region sections


def _held(df: pd.DataFrame, opts: Options) -> dict[str, Any]:
    src = m.held_by_source(df, opts.source_titles)
    by_inst = src.groupby("institution")["datasets"].sum().reset_index()
    c1 = ch.stacked("held-source", "Datasets by institution and source", src, y="institution", color="source",
                    order=None, normalize=False,
                    summary=f"{len(df):,} active datasets from {src['source_id'].nunique()} sources. "
                            + ch.summary_top(by_inst, "datasets", "institution"),
                    columns=[("institution", "institution"), ("source", "source"), ("datasets", "datasets")])
    th = m.held_by_theme(df, opts.theme_labels)
    c2 = ch.bar("held-theme", "Datasets by theme", th, x="datasets", y="theme", x_title="datasets", y_title=None,
                summary=ch.summary_top(th[th["theme"] != "no theme"], "datasets", "theme") + " "
                + f"{int(th.loc[th['theme'] == 'no theme', 'datasets'].sum()):,} datasets have no theme.",
                columns=[("theme", "theme"), ("datasets", "datasets")])
    gr = m.first_seen_by_month(df)
    c3 = ch.lines("held-growth", "Datasets over time (by month first seen)", gr, x="month", y="datasets",
                  color="institution", x_title="month first seen", y_title="datasets (running total)", counts=True,
                  summary=f"First dataset seen {gr['month'].min()}, latest additions {gr['month'].max()}.",
                  columns=[("institution", "institution"), ("month", "month"), ("new", "new"),
                           ("datasets", "running total")])
    return _section("held", "What is held", "Which institution holds which datasets, from which source, on "
                    "which themes, and since when.", [c1, c2, c3])


def _published(df: pd.DataFrame, have_flags: bool) -> dict[str, Any]:
    off = m.offer_shares(df)
    c1 = ch.grouped("pub-offer", "How datasets are offered", off, y="institution", group="offer",
                    order=list(m.OFFER_ORDER),
                    summary="Share of each institution's datasets offered as downloads, APIs/services, "
                            "visualisations/maps, or on request only (a dataset may offer several).",
                    columns=[("institution", "institution"), ("offer", "offered as"), ("datasets", "datasets"),
                             ("share", "share")])
    fm = m.top_formats(df)
    c2 = ch.bar("pub-formats", "Most common formats", fm, x="datasets", y="format", x_title="datasets", y_title=None,
                summary=ch.summary_top(fm, "datasets", "format"),
                columns=[("format", "format"), ("datasets", "datasets")])
    charts = [c1, c2]
    notes = []
    if have_flags:
        shares = df.groupby("institution", observed=True)[["machine_readable", "non_proprietary"]].mean().round(4)
        long = shares.reset_index().melt(id_vars="institution", var_name="measure", value_name="share")
        long["measure"] = long["measure"].str.replace("_", "-")
        charts.append(ch.grouped("pub-mr", "Machine-readable and non-proprietary formats", long, y="institution",
                                 group="measure",
                                 summary=f"Region: {df['machine_readable'].mean():.1%} of datasets offer a "
                                         f"machine-readable format, {df['non_proprietary'].mean():.1%} a "
                                         "non-proprietary one (data.europa.eu MQA format lists).",
                                 columns=[("institution", "institution"), ("measure", "measure"),
                                          ("share", "share")]))
    else:
        notes.append("Machine-readable and non-proprietary shares: not computed (no format vocabulary given).")
    return _section("published", "How it is published", "Downloads, APIs, maps or on request; in which formats; "
                    "how much is machine-readable and non-proprietary.", charts, notes)


def _shareable(df: pd.DataFrame) -> dict[str, Any]:
    lic = m.category_counts(df, "licence_status", order=m.LICENCE_ORDER)
    c1 = ch.stacked("share-licence", "Licences", lic, y="institution", color="licence_status",
                    order=list(m.LICENCE_ORDER),
                    summary=f"Region: {(df['licence_status'] == 'open').mean():.1%} openly licensed, "
                            f"{(df['licence_status'] == 'missing').mean():.1%} with no licence, "
                            f"{(df['licence_status'] == 'stated, openness unknown').mean():.1%} with a licence "
                            "whose openness is unknown.",
                    columns=[("institution", "institution"), ("licence_status", "licence"), ("datasets", "datasets"),
                             ("share", "share")])
    acc = m.category_counts(df, "access")
    c2 = ch.stacked("share-access", "Access rights", acc, y="institution", color="access", order=None,
                    summary=f"{(df['access'] == 'not stated').mean():.1%} of datasets state no access rights.",
                    columns=[("institution", "institution"), ("access", "access rights"), ("datasets", "datasets"),
                             ("share", "share")])
    return _section("shareable", "Shareable", "Which datasets may be reused: open licences, missing or unclear "
                    "licences, access rights.", [c1, c2])


def _interoperable(df: pd.DataFrame, q: pd.DataFrame, opts: Options) -> dict[str, Any]:
    voc = m.vocabulary_use(df)
    charts = [ch.heatmap("interop-vocab", "Use of standard vocabularies", voc, x="vocabulary", y="institution",
                         value="share", summary="Share of each institution's datasets whose licence, theme, format, "
                         "frequency and access rights use the EU controlled vocabularies.",
                         columns=[("institution", "institution"), ("vocabulary", "vocabulary"), ("share", "share")])]
    notes = []
    measured = q[q["mqa_total"].notna()] if not q.empty else q
    if measured.empty:
        notes.append(f"MQA scores, bands, 5-star levels and DCAT-AP (SHACL) conformance: {NOT_MEASURED}.")
    else:
        dims = m.mqa_by_dimension(measured, opts.table)
        charts.append(ch.heatmap("interop-mqa", "MQA score per dimension (share of the maximum)", dims, x="dimension",
                                 y="institution", value="share",
                                 summary=f"{len(measured):,} of {len(df):,} datasets measured; region mean "
                                         f"{measured['mqa_total'].mean():.0f} of {opts.table.total_max} points.",
                                 columns=[("institution", "institution"), ("dimension", "dimension"),
                                          ("mean_points", "mean points"), ("max_points", "max points"),
                                          ("share", "share")]))
        bands = m.mqa_bands(measured, opts.table)
        order = [b[0] for b in opts.table.bands] + ["not scored"]
        charts.append(ch.stacked("interop-bands", "MQA rating bands", bands, y="institution", color="band",
                                 order=order, summary=ch.summary_top(
                                     bands.groupby("band")["datasets"].sum().reset_index(), "datasets", "band"),
                                 columns=[("institution", "institution"), ("band", "band"), ("datasets", "datasets"),
                                          ("share", "share")]))
        stars = m.star_levels(q)
        charts.append(ch.stacked("interop-stars", "5-star open data levels", stars, y="institution", color="level",
                                 order=[f"{i}★" for i in range(6)] + ["not rated"],
                                 summary=ch.summary_top(stars.groupby("level")["datasets"].sum().reset_index(),
                                                        "datasets", "level"),
                                 columns=[("institution", "institution"), ("level", "level"),
                                          ("datasets", "datasets"), ("share", "share")]))
    shacl = q["shacl_conforms"].dropna() if not q.empty else pd.Series(dtype=bool)
    if shacl.empty:
        if not measured.empty:
            notes.append(f"DCAT-AP conformance (SHACL): {NOT_MEASURED}.")
    else:
        sh = q[q["shacl_conforms"].notna()].assign(
            conformance=q["shacl_conforms"].map(lambda v: "conforms" if v else "violations"))
        tab = m.category_counts(sh, "conformance", order=("conforms", "violations"))
        charts.append(ch.stacked("interop-shacl", "DCAT-AP 3 conformance (SHACL)", tab, y="institution",
                                 color="conformance", order=["conforms", "violations"],
                                 summary=f"{shacl.astype(bool).mean():.1%} of {len(shacl):,} validated datasets "
                                         "conform to the DCAT-AP 3 shapes.",
                                 columns=[("institution", "institution"), ("conformance", "result"),
                                          ("datasets", "datasets"), ("share", "share")]))
    return _section("interoperable", "Interoperable", "Standard vocabularies, DCAT-AP conformance, MQA score per "
                    "dimension and band, 5-star levels.", charts, notes)


def _fresh(fr: pd.DataFrame) -> dict[str, Any]:
    tab = m.freshness_by_frequency(fr)
    long = tab.assign(current=tab["datasets"] - tab["stale"])[["frequency", "current", "stale"]].melt(
        id_vars="frequency", var_name="state", value_name="datasets")
    long["state"] = long["state"].map({"current": "on schedule or no schedule", "stale": "stale"})
    long = long[long["datasets"] > 0].sort_values(["frequency", "state"]).reset_index(drop=True)
    c1 = ch.stacked("fresh-frequency", "Stated update frequency and stale datasets", long, y="frequency",
                    color="state", order=["on schedule or no schedule", "stale"], normalize=False,
                    summary=f"Stale (last modified more than {m.STALE_PERIODS} stated periods ago): "
                            f"{int(tab['stale'].sum()):,} datasets. No stated frequency: "
                            f"{int(tab.loc[tab['frequency'] == 'not stated', 'datasets'].sum()):,} datasets.",
                    columns=[("frequency", "frequency"), ("state", "state"), ("datasets", "datasets")])
    table = {"title": "Stated frequency vs modification history", "columns": [
        "stated frequency", "datasets", "expected days between updates", "observed days between updates "
        "(median)", "datasets with a modification history", "median days since modified",
        "changes seen by the inventory", "stale", "stale share"],
        "rows": [[r.frequency, f"{r.datasets:,}", _days(r.expected_days), _days(r.median_update_interval),
                  f"{int(r.with_history):,}", _days(r.median_days_since_modified), f"{int(r.changes_seen):,}",
                  f"{r.stale:,}", _pct(r.stale_share)] for r in tab.itertuples()]}
    return _section("fresh", "Fresh", "Does each dataset change as often as it says it does?", [c1],
                    tables=[table])


def _trends(inputs: ReportInputs) -> dict[str, Any]:
    tr = m.run_trends(inputs.runs, inputs.run_scores)
    if tr.empty:
        return _section("trends", "Change over time", "Counts and scores per harvest run.", [],
                        ["No harvest runs recorded yet."])
    seen = tr[tr["seen"].notna()]
    charts = [ch.lines("trend-seen", "Datasets seen per harvest run", seen, x="started", y="seen", color="source_id",
                       x_title="run started", y_title="datasets seen", counts=True,
                       summary=f"{len(tr):,} runs from {tr['started'].min()} to {tr['started'].max()}.",
                       columns=[("source_id", "source"), ("started", "started"), ("status", "status"),
                                ("seen", "seen"), ("created", "created"), ("updated", "updated"),
                                ("withdrawn", "withdrawn"), ("failed", "failed")])]
    notes = []
    scored = tr[tr["mqa_mean"].notna()]
    if scored.empty:
        notes.append(f"MQA score per run: {NOT_MEASURED}.")
    else:
        charts.append(ch.lines("trend-mqa", "Mean MQA score per harvest run", scored, x="started", y="mqa_mean",
                               color="source_id", x_title="run started", y_title="mean MQA points",
                               summary=f"Latest run mean {scored['mqa_mean'].iloc[-1]:.0f} points.",
                               columns=[("source_id", "source"), ("started", "started"), ("mqa_mean", "mean MQA")]))
    return _section("trends", "Change over time", "Counts and scores per harvest run.", charts, notes)


def _duplicates(repub: pd.DataFrame, clusters: pd.DataFrame) -> dict[str, Any]:
    if clusters.empty:
        return _section("duplicates", "Duplicates and re-publishing", "Which portals re-publish whose data.", [],
                        ["No duplicates found or computed yet."])
    c = ch.heatmap("dup-republish", "Who re-publishes whose datasets", repub, x="original", y="portal",
                   value="datasets", percent=False,
                   summary=(f"{int(repub['datasets'].sum()):,} datasets are copies of another institution's or "
                            "portal's dataset. "
                            + (f"Most: {repub.iloc[0]['portal']} ({repub.iloc[0]['republisher']}) re-publishes "
                               f"{repub.iloc[0]['datasets']:,} of {repub.iloc[0]['original']}'s."
                               if len(repub) else "")),
                   columns=[("portal", "re-published on (source)"), ("republisher", "by institution"),
                            ("original", "original from"), ("datasets", "datasets")])
    return _section("duplicates", "Duplicates and re-publishing", "Which portals re-publish whose data.", [c])


# --------------------------------------------------------------------------- per institution


def _institutions(df: pd.DataFrame, q: pd.DataFrame, clusters: pd.DataFrame, plans: dict, opts: Options,
                  details: Details) -> list[dict[str, Any]]:
    used: set[str] = set()
    qi = q.set_index("id") if not q.empty else None
    mirrors = set(clusters.loc[~clusters["is_primary"].astype(bool), "dataset_id"]) if not clusters.empty else set()
    republished = set(clusters.loc[~clusters["is_primary"].astype(bool), "cluster_id"]) if not clusters.empty else set()
    by_inst = {str(k): v for k, v in q.groupby("institution", observed=True)} if not q.empty else {}
    out = []
    for name, part in sorted(df.groupby("institution", observed=True), key=lambda kv: str(kv[0]).lower()):
        name = str(name)
        iq = by_inst.get(name, pd.DataFrame())
        figs = [("datasets", f"{len(part):,}"), ("sources", ", ".join(sorted(map(str, part["source_id"].unique())))),
                ("open licence", _pct((part["licence_status"] == "open").mean())),
                ("no licence", f"{int((part['licence_status'] == 'missing').sum()):,}"),
                ("downloadable", _pct(part["offer"].map(lambda o: "download" in o).mean()))]
        if "machine_readable" in part:
            figs.append(("machine-readable format", _pct(part["machine_readable"].mean())))
        scored = iq["mqa_total"].dropna() if not iq.empty else pd.Series(dtype=float)
        if scored.empty:
            figs.append(("MQA score", NOT_MEASURED))
        else:
            mean = scored.mean()
            figs.append(("MQA score (mean)", f"{mean:.0f} / {opts.table.total_max} ({opts.table.band(mean) or '–'})"))
        figs.append(("stale datasets", f"{int(part['stale'].sum()):,}"))
        if clusters.empty:
            figs.append(("duplicates", "none found or computed"))
        else:
            figs.append(("copies of others' datasets", f"{int(part['id'].isin(mirrors).sum()):,}"))
            figs.append(("its datasets re-published elsewhere", f"{int(part['id'].isin(republished).sum()):,}"))
        plan = plans.get(name, [])
        out.append({"name": name, "anchor": _anchor(name, used), "figures": figs, "plan": plan,
                    "plan_note": (NOT_MEASURED if iq.empty else "nothing to improve on the measured indicators")
                    if not plan else None,
                    "datasets": _top_datasets(part, qi, opts, details), "count": len(part)})
    return out


def _top_datasets(part: pd.DataFrame, qi: pd.DataFrame | None, opts: Options, details: Details) -> dict[str, Any]:
    """The top-N datasets most in need of work: lowest MQA first, else oldest modification date."""
    part = part[["id", "source_id", "native_id", "licence_status", "formats", "modified_at"]].copy()
    has_q = qi is not None and not qi.empty
    part["mqa"] = part["id"].map(qi["mqa_total"]) if has_q else None
    part["stars"] = part["id"].map(qi["stars"]) if has_q else None
    if part["mqa"].notna().any():
        top = part.sort_values(["mqa", "id"], na_position="last").head(opts.top_n)
        basis = "lowest MQA score first"
    else:
        top = part.sort_values(["modified_at", "id"], na_position="first").head(opts.top_n)
        basis = "oldest modification date first"
    info = details(top["id"].tolist())
    rows = []
    for r in top.itertuples():
        d = info.get(r.id, {})
        rows.append({"title": d.get("title") or r.native_id, "href": safe_url(d.get("uri")),
                     "original": safe_url(d.get("landing_page")), "source": str(r.source_id),
                     "licence": r.licence_status, "formats": ", ".join(r.formats) or "–",
                     "modified": d.get("modified") or "–", "mqa": "–" if pd.isna(r.mqa) else f"{int(r.mqa)}",
                     "stars": "–" if pd.isna(r.stars) else f"{int(r.stars)}★", "publisher": d.get("publisher") or "–"})
    return {"basis": basis, "rows": rows, "shown": len(rows), "total": len(part)}
