"""Vega-Lite chart specs (altair) for the report, each with its text alternative and data table.

A :class:`Chart` carries the spec, a one-sentence text alternative computed from the same
frame, and that frame as the table printed under the chart: what a screen-reader user or a
reader without JavaScript gets is the chart's data, not a paraphrase of it. Data is inlined
as ``values`` (never a URL), so the page works opened from disk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

WIDTH = 560
PERCENT = alt.Axis(format="%")


def count_axis(top: float) -> alt.Axis:
    """An axis of whole numbers: small counts get one tick per integer (no 0.5-dataset ticks)."""
    top = 0 if pd.isna(top) else int(top)
    if top <= 10:
        return alt.Axis(format=",d", values=list(range(0, top + 1)))
    return alt.Axis(format=",d", tickMinStep=1)


@dataclass
class Chart:
    key: str
    title: str
    alt_text: str
    spec: dict[str, Any]
    columns: list[tuple[str, str]]  # (frame column, table header)
    rows: list[list[str]] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return "chart-" + re.sub(r"[^a-z0-9-]", "-", self.key.lower())


def _values(df: pd.DataFrame) -> alt.InlineData:
    # Through JSON so numpy scalars and NaN become plain JSON (NaN -> null).
    return alt.InlineData(values=json.loads(df.to_json(orient="records", date_format="iso")))


def cell(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if column.endswith("share") and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _chart(key: str, title: str, alt_text: str, chart: alt.Chart, df: pd.DataFrame,
           columns: list[tuple[str, str]]) -> Chart:
    spec = chart.properties(title=title, description=f"{title}. {alt_text}").to_dict()
    rows = [[cell(r[c], c) for c, _ in columns] for r in df.to_dict("records")]
    return Chart(key, title, alt_text, spec, columns, rows)


def _height(n: int) -> int:
    return max(60, min(22 * n, 900))


def _top(df: pd.DataFrame, by: str, label: str) -> str:
    if df.empty:
        return "No data."
    r = df.sort_values(by, ascending=False).iloc[0]
    return f"Largest: {r[label]} ({cell(r[by], by)})."


def bar(key: str, title: str, df: pd.DataFrame, *, x: str, y: str, x_title: str, y_title: str, summary: str,
        columns: list[tuple[str, str]]) -> Chart:
    """A horizontal bar per category, sorted by value."""
    axis = PERCENT if x.endswith("share") else count_axis(df[x].max() if len(df) else 0)
    c = alt.Chart(_values(df)).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title, axis=axis), y=alt.Y(f"{y}:N", title=y_title, sort="-x"),
        tooltip=[alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{x}:Q", format=".1%" if x.endswith("share") else ",")],
    ).properties(width=WIDTH, height=_height(len(df)))
    return _chart(key, title, summary, c, df, columns)


def stacked(key: str, title: str, df: pd.DataFrame, *, y: str, color: str, order: list[str] | None, summary: str,
            columns: list[tuple[str, str]], normalize: bool = True, x: str = "datasets") -> Chart:
    """Per institution (row), the split of its datasets over ``color`` categories."""
    scale = alt.Scale(domain=order) if order else alt.Undefined
    c = alt.Chart(_values(df)).mark_bar().encode(
        x=alt.X(f"{x}:Q", stack="normalize" if normalize else True, title="share of datasets" if normalize else x,
                axis=PERCENT if normalize else count_axis(df.groupby(y)[x].sum().max() if len(df) else 0)),
        y=alt.Y(f"{y}:N", title=None),
        color=alt.Color(f"{color}:N", title=color, scale=scale, sort=order or "ascending"),
        order=alt.Order(f"{color}_rank:Q") if order else alt.Undefined,
        tooltip=[alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{x}:Q", format=",")],
    ).properties(width=WIDTH, height=_height(df[y].nunique()))
    if order:
        rank = {v: i for i, v in enumerate(order)}
        df = df.assign(**{f"{color}_rank": df[color].map(lambda v: rank.get(v, len(rank)))})
        c.data = _values(df)
    return _chart(key, title, summary, c, df, columns)


def grouped(key: str, title: str, df: pd.DataFrame, *, y: str, group: str, summary: str,
            columns: list[tuple[str, str]], x: str = "share", order: list[str] | None = None) -> Chart:
    """Per institution, one bar per measure (shares side by side)."""
    if order:  # categories the data has, in the given order, then any others
        order = [o for o in order if o in set(df[group])] + sorted(set(df[group]) - set(order))
    c = alt.Chart(_values(df)).mark_bar().encode(
        x=alt.X(f"{x}:Q", title="share of datasets", axis=PERCENT, scale=alt.Scale(domain=[0, 1])),
        y=alt.Y(f"{y}:N", title=None), yOffset=alt.YOffset(f"{group}:N", sort=order or "ascending"),
        color=alt.Color(f"{group}:N", title=group, sort=order or "ascending"),
        tooltip=[alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{group}:N"), alt.Tooltip(f"{x}:Q", format=".1%")],
    ).properties(width=WIDTH, height=_height(len(df)))
    return _chart(key, title, summary, c, df, columns)


def heatmap(key: str, title: str, df: pd.DataFrame, *, x: str, y: str, value: str, summary: str,
            columns: list[tuple[str, str]], percent: bool = True) -> Chart:
    fmt = ".0%" if percent else ","
    base = alt.Chart(_values(df)).encode(x=alt.X(f"{x}:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=220)),
                                         y=alt.Y(f"{y}:N", title=None))
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", title=value, scale=alt.Scale(scheme="blues", domain=[0, 1] if percent else
                                                                   alt.Undefined)),
        tooltip=[alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{x}:N"), alt.Tooltip(f"{value}:Q", format=fmt)])
    text = base.mark_text(baseline="middle").encode(
        text=alt.Text(f"{value}:Q", format=fmt),
        color=alt.condition(alt.datum[value] > (0.6 if percent else df[value].max() * 0.6 if len(df) else 0),
                            alt.value("white"), alt.value("black")))
    c = alt.layer(rect, text).properties(width=min(WIDTH, 110 * max(1, df[x].nunique())),
                                         height=_height(df[y].nunique()) + 10)
    return _chart(key, title, summary, c, df, columns)


def lines(key: str, title: str, df: pd.DataFrame, *, x: str, y: str, color: str, x_title: str, y_title: str,
          summary: str, columns: list[tuple[str, str]], temporal: bool = True, counts: bool = False) -> Chart:
    y_axis = count_axis(df[y].max() if len(df) else 0) if counts else alt.Axis()
    c = alt.Chart(_values(df)).mark_line(point=True).encode(
        x=alt.X(f"{x}:{'T' if temporal else 'O'}", title=x_title), y=alt.Y(f"{y}:Q", title=y_title, axis=y_axis),
        color=alt.Color(f"{color}:N", title=color),
        tooltip=[alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{x}:{'T' if temporal else 'O'}"),
                 alt.Tooltip(f"{y}:Q", format=",")],
    ).properties(width=WIDTH, height=240)
    return _chart(key, title, summary, c, df, columns)


def summary_top(df: pd.DataFrame, by: str, label: str) -> str:
    """A text alternative's usual opening: the biggest category and its value."""
    return _top(df, by, label)
