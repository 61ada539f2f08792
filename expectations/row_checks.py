"""Per-row facts the warning expectations test, computed once per dataset from its flat row.

Why derived columns instead of GX over the raw row: the flat row's list columns (formats, media
types, URLs) and long texts would make the run's frame grow with every dataset's metadata, and the
vocabulary lookups are Python dict hits GX cannot express. So each warning is reduced here to one
small value per row — ``None`` when the row passes, else a short text naming the offending value —
and GX asserts that column is null. The quality pass calls the same :func:`problems` to give each
dataset its own findings, so the per-dataset findings and the run's GX results cannot disagree.

Nothing here reads the clock: "in the future" and "stale" are relative to the run's time, passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable

MAX_VALUE = 120  # characters of an offending value kept in a problem text

# Days between updates for each EU frequency code (publications.europa.eu/resource/authority/frequency).
# Sub-daily and continuous codes count as daily: a nightly harvest cannot see finer than that.
FREQUENCY_DAYS: dict[str, float] = {
    "1MIN": 1, "5MIN": 1, "10MIN": 1, "15MIN": 1, "30MIN": 1, "HOURLY": 1, "BIHOURLY": 1, "TRIHOURLY": 1,
    "12HRS": 1, "CONT": 1, "UPDATE_CONT": 1, "DAILY": 1, "DAILY_2": 1,
    "WEEKLY": 7, "WEEKLY_2": 3.5, "WEEKLY_3": 7 / 3, "WEEKLY_5": 7 / 5, "BIWEEKLY": 14,
    "MONTHLY": 31, "MONTHLY_2": 15.5, "MONTHLY_3": 31 / 3, "BIMONTHLY": 62, "QUARTERLY": 92,
    "ANNUAL": 366, "ANNUAL_2": 183, "ANNUAL_3": 122, "BIENNIAL": 731, "TRIENNIAL": 1096,
    "QUADRENNIAL": 1461, "QUINQUENNIAL": 1827, "SEXENNIAL": 2192, "DECENNIAL": 3653,
    "BIDECENNIAL": 7305, "TRIDECENNIAL": 10958,
}
# Codes that promise no schedule, so no modification history can contradict them.
FREQUENCY_UNCHECKED = frozenset({"IRREG", "AS_NEEDED", "NEVER", "NOT_PLANNED", "OTHER", "UNKNOWN", "OP_DATPRO"})
FREQUENCY_GRACE_DAYS = 1  # date-only `modified` values and the harvest's own schedule


@dataclass(frozen=True)
class Limits:
    """Thresholds of the suite for one source (citycat.config.QualityConfig carries the same keys)."""

    max_failed_share: float = 0.1
    max_count_drop: float = 0.8
    modified_future_slack_hours: float = 24.0
    frequency_slack: float = 3.0

    def __post_init__(self) -> None:
        for name in ("max_failed_share", "max_count_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.modified_future_slack_hours < 0 or self.frequency_slack < 1:
            raise ValueError("modified_future_slack_hours must be >= 0 and frequency_slack >= 1")


# warning rule name -> (derived column, what passing means); the order is the suite's order
CHECKS: dict[str, tuple[str, str]] = {
    "description_longer_than_title": ("chk_description_length", "every description is longer than its title"),
    "licence_recognised": ("chk_licence_known", "every licence_uri is a licence of the EU or SPDX tables"),
    "access_urls_valid": ("chk_urls", "every access and download URL is an absolute http(s) URL"),
    "formats_known": ("chk_formats", "every format is an EU file-type code"),
    "media_types_known": ("chk_media_types", "every media type is registered at IANA"),
    "modified_valid": ("chk_modified", "every modified date parses and is not after the run's time"),
    "publisher_present": ("chk_publisher", "every row names a publisher"),
    "contact_point_present": ("chk_contact", "every row has a contact point (name or email)"),
    "frequency_consistent": ("chk_frequency",
                             "no dataset is older than its stated update frequency allows"),
}
CHECK_COLUMNS = tuple(col for col, _ in CHECKS.values())


def _cut(value: Any) -> str:
    s = str(value)
    return s if len(s) <= MAX_VALUE else s[:MAX_VALUE - 1] + "…"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return [v for v in value if v is not None]
    except TypeError:
        return []


def parse_modified(value: Any) -> tuple[datetime, datetime] | None:
    """(earliest, latest) instant an ISO date, year-month, year or date-time can mean; None if not ISO.

    A year says only "some time that year": the future test uses its start and the staleness test
    its end, so imprecision never counts against the dataset.
    """
    s = _text(value)
    if not s:
        return None
    try:
        if re.fullmatch(r"\d{4}", s):
            start = datetime(int(s), 1, 1, tzinfo=timezone.utc)
            return start, datetime(int(s) + 1, 1, 1, tzinfo=timezone.utc)
        if re.fullmatch(r"\d{4}-\d{2}", s):
            y, m = map(int, s.split("-"))
            start = datetime(y, m, 1, tzinfo=timezone.utc)
            end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=timezone.utc)
            return start, end
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if len(s) == 10:  # a date: the whole day
        dt = dt.replace(tzinfo=timezone.utc)
        return dt, dt + timedelta(days=1)
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return dt, dt


# scheme http(s), a non-empty authority, no whitespace anywhere (a URL with a space is not a URL)
_HTTP_URL = re.compile(r"(?i:https?)://(?:[^\s/?#@]*@)?(?:[^\s/?#@:\[\]]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?(?:[/?#]\S*)?")


def _valid_url(url: Any) -> bool:
    return isinstance(url, str) and _HTTP_URL.fullmatch(url) is not None


@lru_cache(maxsize=1)
def _format_codes() -> frozenset[str]:
    from transforms.vocab import _format_index

    return frozenset(ft.code for ft in _format_index()[0].values())


@lru_cache(maxsize=4096)
def _licence_known(uri: str) -> bool:
    from transforms.vocab import licence

    return licence(uri) is not None


@lru_cache(maxsize=4096)
def _media_type_known(value: str) -> bool:
    from transforms.vocab import media_type_uri

    return media_type_uri(value) is not None


def _first_bad(values: Iterable[Any], ok) -> str | None:  # noqa: ANN001
    for v in values:
        if not ok(v):
            return _cut(v)
    return None


def problems(row: dict[str, Any], *, run_time: datetime | None, limits: Limits) -> dict[str, str | None]:
    """Derived column -> None (passes) or a short text naming what is wrong, for one flat row.

    Without ``run_time`` the two time-relative checks are not evaluated (None): they are never
    judged against the clock.
    """
    out: dict[str, str | None] = dict.fromkeys(CHECK_COLUMNS)
    title, desc = _text(row.get("title")), _text(row.get("description"))
    if desc and title and len(desc) <= len(title):
        out["chk_description_length"] = f"description of {len(desc)} characters, title of {len(title)}"
    lic = _text(row.get("licence_uri"))
    if lic and not _licence_known(lic):
        out["chk_licence_known"] = _cut(lic)
    out["chk_urls"] = _first_bad(_list(row.get("access_urls")) + _list(row.get("download_urls")), _valid_url)
    codes = _format_codes()
    out["chk_formats"] = _first_bad(_list(row.get("formats")), lambda f: isinstance(f, str) and f in codes)
    out["chk_media_types"] = _first_bad(_list(row.get("media_types")),
                                        lambda m: isinstance(m, str) and _media_type_known(m))
    if not _text(row.get("publisher")):
        out["chk_publisher"] = "no publisher"
    if not (_text(row.get("contact_name")) or _text(row.get("contact_email"))):
        out["chk_contact"] = "no contact point"
    modified = row.get("modified")
    span = parse_modified(modified)
    if _text(modified) and span is None:
        out["chk_modified"] = f"not a date: {_cut(modified)}"
    elif span is not None and run_time is not None:
        if span[0] > run_time + timedelta(hours=limits.modified_future_slack_hours):
            out["chk_modified"] = f"{_cut(modified)} is after the run's time {run_time.date().isoformat()}"
        else:
            out["chk_frequency"] = _stale(row.get("frequency"), span[1], run_time, limits)
    return out


def _stale(frequency: Any, latest: datetime, run_time: datetime, limits: Limits) -> str | None:
    """The staleness rule: a stated frequency is contradicted when the dataset was last modified
    more than ``frequency_slack`` periods (plus a day of grace) before the run."""
    code = _text(frequency).rsplit("/", 1)[-1].upper()
    days = FREQUENCY_DAYS.get(code)
    if not code or code in FREQUENCY_UNCHECKED or days is None:
        return None
    age = (run_time - latest).total_seconds() / 86400
    allowed = days * limits.frequency_slack + FREQUENCY_GRACE_DAYS
    if age > allowed:
        return f"{code} but last modified {age:.0f} days before the run (allowed {allowed:.0f})"
    return None


_PRESENCE = (  # the row-level warnings GX checks on plain columns: rule -> (failed?, message)
    ("identifier_present", lambda r: r.get("identifier") in (None, ""), "no identifier"),
    ("description_present", lambda r: not _text(r.get("description")), "no description"),
    ("licence_present", lambda r: not _text(r.get("licence_uri")), "no licence_uri"),
    ("distribution_present", lambda r: not (isinstance(r.get("distribution_count"), (int, float))
                                            and r["distribution_count"] >= 1), "no distribution"),
)


def findings(row: dict[str, Any], *, run_time: datetime | None, limits: Limits,
             derived: dict[str, str | None] | None = None) -> list[dict[str, str]]:
    """The row-level warnings one dataset fails, as [{rule, severity, message}] (the run's GX
    results say the same per rule; uniqueness is a property of the run and is not repeated here)."""
    out = [{"rule": rule, "severity": "warning", "message": msg} for rule, failed, msg in _PRESENCE if failed(row)]
    derived = derived if derived is not None else problems(row, run_time=run_time, limits=limits)
    for rule, (column, _) in CHECKS.items():
        if derived.get(column) is not None:
            out.append({"rule": rule, "severity": "warning", "message": derived[column]})
    return out
