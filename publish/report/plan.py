"""The MQA indicator table and the per-institution improvement plan computed from it.

The plan answers "what should this institution fix first": for every MQA indicator a dataset
was checked on but did not get full points for, the missing points are what fixing it would
add. Summed per institution and indicator, the largest sums are the changes worth most.
Indicators a run did not check (``null`` in ``mqa_indicators``) are never counted as missing:
we cannot promise points nobody measured.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

OWN_CSV = Path(__file__).resolve().parent / "mqa_indicators.csv"

# What a publisher does to earn an indicator's points, in the words a plan reader acts on.
ACTIONS = {
    "Keyword usage": "add keywords",
    "Categories": "add a theme (EU data theme)",
    "Geo search": "state the spatial coverage",
    "Time based search": "state the temporal coverage",
    "AccessURL accessibility": "fix broken access URLs",
    "DownloadURL": "add download URLs",
    "DownloadURL accessibility": "fix broken download URLs",
    "Format": "state the distribution formats",
    "Media type": "state the media types",
    "Format / Media type from vocabulary": "use EU file-type / IANA media-type codes",
    "Non-proprietary": "offer a non-proprietary format",
    "Machine readable": "offer a machine-readable format",
    "DCAT-AP compliance": "fix the DCAT-AP (SHACL) violations",
    "Licence information": "add a licence",
    "Licence vocabulary": "use a licence from the EU licence vocabulary",
    "Access restrictions": "state the access rights",
    "Access restrictions vocabulary": "use the EU access-right vocabulary",
    "Contact point": "add a contact point",
    "Publisher": "name the publisher",
    "Rights": "add a rights statement",
    "File size": "state the file sizes",
    "Date of issue": "add the date of issue",
    "Modification date": "add the modification date",
}


class IndicatorTableError(ValueError):
    """The MQA indicator CSV is missing or malformed."""


@dataclass(frozen=True)
class Indicator:
    name: str
    dimension: str
    points: int


@dataclass(frozen=True)
class IndicatorTable:
    indicators: dict[str, Indicator]
    dimension_max: dict[str, int]
    total_max: int
    bands: list[tuple[str, int, int]]  # (name, min, max), best first
    path: Path

    @property
    def dimensions(self) -> list[str]:
        return list(self.dimension_max)

    def band(self, total: float | None) -> str | None:
        if total is None:
            return None
        for name, lo, hi in self.bands:
            if lo <= round(total) <= hi:
                return name
        return None


def load_indicators(path: Path | None = None) -> IndicatorTable:
    """Read the MQA table (``record_type`` rows: indicator, dimension_max, total_max, rating_band)."""
    path = Path(path) if path else OWN_CSV
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise IndicatorTableError(f"cannot read the MQA indicator table {path}: {exc}") from exc
    inds: dict[str, Indicator] = {}
    dims: dict[str, int] = {}
    total = 0
    bands: list[tuple[str, int, int]] = []
    try:
        for r in rows:
            kind = r["record_type"]
            if kind == "indicator":
                inds[r["indicator"]] = Indicator(r["indicator"], r["dimension"], int(r["points"]))
            elif kind == "dimension_max":
                dims[r["dimension"]] = int(r["points"])
            elif kind == "total_max":
                total = int(r["points"])
            elif kind == "rating_band":
                bands.append((r["indicator"], int(r["points_min"]), int(r["points_max"])))
    except (KeyError, ValueError) as exc:
        raise IndicatorTableError(f"{path}: malformed row ({exc}); expected the columns of "
                                  "publish/report/mqa_indicators.csv") from exc
    if not inds or not dims or not total:
        raise IndicatorTableError(f"{path}: no indicator, dimension_max or total_max rows")
    bands.sort(key=lambda b: -b[2])
    return IndicatorTable(inds, dims, total, bands, path)


@dataclass
class PlanStep:
    indicator: str
    dimension: str
    action: str
    datasets: int
    points_each: int  # the indicator's maximum
    total_gain: int
    mean_gain: float = field(default=0.0)

    @property
    def text(self) -> str:
        each = (f"+{self.points_each} {self.dimension.lower()} points each" if self.mean_gain == self.points_each
                else f"up to +{self.points_each} {self.dimension.lower()} points each")
        noun = "dataset" if self.datasets == 1 else "datasets"
        return f"{self.action} on {self.datasets:,} {noun}: {each}"


class PlanAccumulator:
    """Sums, per institution and indicator, the points each measured dataset is missing.

    Fed one dataset at a time while the quality rows stream from the database, so the
    indicator maps (one dict per dataset) are never all held in memory.
    """

    def __init__(self, table: IndicatorTable) -> None:
        self.table = table
        self._max = {name: ind.points for name, ind in table.indicators.items()}
        self._gains: dict[str, dict[str, list[int]]] = defaultdict(dict)

    def add(self, institution: str, indicators: Mapping[str, int | None] | None, *, times: int = 1) -> None:
        """Count one dataset's indicator map (``times`` datasets with the same map)."""
        if not indicators:
            return
        per = self._gains[institution]
        for name, got in indicators.items():
            if got is None:  # not checked: no promise of points
                continue
            top = self._max.get(name)
            if top is None:  # a name the table does not know (a scorer's extra diagnostic)
                continue
            try:
                missing = top - int(got)
            except (TypeError, ValueError):
                continue
            if missing > 0:
                acc = per.get(name)
                if acc is None:
                    per[name] = [times, missing * times]
                else:
                    acc[0] += times
                    acc[1] += missing * times

    def plans(self, steps: int = 5) -> dict[str, list[PlanStep]]:
        """Per institution, the ``steps`` indicator fixes with the largest total gain."""
        out: dict[str, list[PlanStep]] = {}
        for inst, per in self._gains.items():
            plan = [PlanStep(name, self.table.indicators[name].dimension, ACTIONS.get(name, f"improve “{name}”"), n,
                             self.table.indicators[name].points, total, total / n)
                    for name, (n, total) in per.items()]
            plan.sort(key=lambda s: (-s.total_gain, s.indicator))
            if plan:
                out[inst] = plan[:steps]
        return out


def improvement_plan(indicator_maps: Iterable[tuple[str, Mapping[str, int | None] | None]],
                     table: IndicatorTable, *, steps: int = 5) -> dict[str, list[PlanStep]]:
    """Per institution, the ``steps`` indicator fixes with the largest total gain.

    ``indicator_maps`` yields ``(institution, mqa_indicators)`` for each active dataset's latest
    measurement.
    """
    acc = PlanAccumulator(table)
    for inst, indicators in indicator_maps:
        acc.add(inst, indicators)
    return acc.plans(steps)
