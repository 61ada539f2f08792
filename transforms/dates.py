"""Messy source dates → typed xsd literals, or an honest refusal with the reason.

Portals hand us ISO with and without timezone, microseconds, ``Z``, date-only strings, UK-style
``28/11/2026``, ``28 November 2026``, epoch seconds, and placeholders (``n/a``, ``0000-00-00``) or
ISO durations (``R/P1W``) typed into date fields. DCAT-AP accepts xsd:date, xsd:dateTime, xsd:gYear
and xsd:gYearMonth, so the literal keeps the precision the source gave and never invents a time.

Naive date-times (no offset) are taken to be UTC: CKAN stores ``metadata_modified`` in UTC without
saying so, and guessing a local zone would shift every record. An explicit offset is preserved.
Numeric dates are read day-first (UK/EU); when the second number cannot be a month (``11/28/2026``)
month-first is the only reading and is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from functools import lru_cache

from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from transforms.rdf import typed_literal, value_literal

MIN_YEAR, MAX_YEAR = 1000, 2999  # outside this a "date" is a typo or a placeholder

_PLACEHOLDERS = {"n/a", "na", "none", "null", "nil", "unknown", "not known", "tbc", "tbd", "-", "--", "?",
                 "various", "ongoing", "present", "current", "undefined", "nan", "0", "see notes"}
_MONTHS = {m: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
     ("oct", "october"), ("nov", "november"), ("dec", "december")], start=1) for m in names}

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ISO_YM = re.compile(r"^(\d{4})-(\d{2})$")
_ISO_DT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_DAY_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[ -]([a-z]+)\.?,?[ -](\d{4})$")
_MONTH_DAY = re.compile(r"^([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$")
_MONTH_YEAR = re.compile(r"^([a-z]+)\.?,? (\d{4})$")
_DURATION = re.compile(r"^p(\d|t)")
_ISO_INTERVAL = re.compile(r"^\d{4}-\d{2}")
_SPACE_RUNS = re.compile(r"\s+")
_XSD_DATE, _XSD_DATETIME = URIRef(XSD.date), URIRef(XSD.dateTime)


@dataclass(frozen=True)
class ParsedDate:
    """``literal`` and ``iso`` (its lexical form) when understood, else ``reason`` says why not."""

    literal: Literal | None
    iso: str | None
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.literal is not None


def _refuse(reason: str) -> ParsedDate:
    return ParsedDate(None, None, reason)


def _year_ok(y: int) -> bool:
    return MIN_YEAR <= y <= MAX_YEAR


def _from_date(d: date) -> ParsedDate:
    if not _year_ok(d.year):
        return _refuse(f"implausible year {d.year}")
    iso = d.isoformat()
    return ParsedDate(value_literal(d, iso, _XSD_DATE), iso)


def _from_datetime(dt: datetime) -> ParsedDate:
    if not _year_ok(dt.year):
        return _refuse(f"implausible year {dt.year}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    iso = dt.isoformat()  # rdflib's lexical form for a datetime; UTC as "+00:00"
    return ParsedDate(value_literal(dt, iso, _XSD_DATETIME), iso)


def _from_epoch(seconds: float) -> ParsedDate:
    if seconds > 1e11:  # milliseconds (JavaScript, Socrata-style APIs)
        seconds /= 1000.0
    try:
        return _from_datetime(datetime.fromtimestamp(seconds, tz=timezone.utc))
    except (OverflowError, OSError, ValueError):
        return _refuse(f"epoch value {seconds} out of range")


def _ymd(y: int, m: int, d: int, hh: int | None = None, mm: int | None = None, ss: int | None = None
         ) -> ParsedDate:
    try:
        if hh is None:
            return _from_date(date(y, m, d))
        return _from_datetime(datetime(y, m, d, hh, mm or 0, ss or 0))
    except ValueError as e:
        return _refuse(f"not a valid date ({e})")


def parse_date(value: Any) -> ParsedDate:
    """Understand one source date; never raises. See the module docstring for the rules."""
    if value is None:
        return _refuse("empty")
    if isinstance(value, bool):
        return _refuse("boolean is not a date")
    if isinstance(value, datetime):
        return _from_datetime(value)
    if isinstance(value, date):
        return _from_date(value)
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if type(value) is str:
        return _parse_text(value)
    return _parse_text.__wrapped__(str(value))


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> ParsedDate:
    """The string rules. Cached: a record repeats its timestamps (dataset, catalogue record, resources) and a
    portal repeats its placeholders; a ParsedDate is immutable, so sharing one is safe."""
    s = value.strip()
    if not s:
        return _refuse("empty")
    low = s.lower()
    if low in _PLACEHOLDERS or low.startswith("0000"):
        return _refuse(f"placeholder {s!r}")
    if low.startswith("r/") or low.startswith("r") and low[1:2].isdigit() and "/" in low:
        return _refuse(f"ISO 8601 repeating interval {s!r} is a frequency, not a date")
    if _DURATION.match(low):
        return _refuse(f"ISO 8601 duration {s!r} is not a date")
    if "/" in s and _ISO_INTERVAL.match(s):
        return _refuse(f"ISO 8601 interval {s!r} is a period, not a date")
    if _ISO_DT.match(s):
        try:
            return _from_datetime(datetime.fromisoformat(s.replace(" ", "T", 1)))
        except ValueError as e:
            return _refuse(f"not a valid date-time ({e})")
    if m := _ISO_DATE.match(s):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := _ISO_YM.match(s):
        y, mo = int(m[1]), int(m[2])
        if not (1 <= mo <= 12 and _year_ok(y)):
            return _refuse(f"not a valid year-month {s!r}")
        return ParsedDate(typed_literal(s, XSD.gYearMonth), s)
    if s.isdigit():
        if len(s) == 4:
            return ParsedDate(typed_literal(s, XSD.gYear), s) if _year_ok(int(s)) else _refuse(
                f"implausible year {s}")
        if len(s) == 8:
            return _ymd(int(s[:4]), int(s[4:6]), int(s[6:]))
        if len(s) in (9, 10, 12, 13):
            return _from_epoch(float(s))
        return _refuse(f"unrecognised number {s!r}")
    if m := _NUMERIC.match(s):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        day, month = (b, a) if b > 12 >= a else (a, b)
        t = [int(x) if x else None for x in (m[4], m[5], m[6])]
        return _ymd(y, month, day, *t)
    text = _SPACE_RUNS.sub(" ", low)
    if m := _DAY_MONTH.match(text):
        if m[2] in _MONTHS:
            return _ymd(int(m[3]), _MONTHS[m[2]], int(m[1]))
    if m := _MONTH_DAY.match(text):
        if m[1] in _MONTHS:
            return _ymd(int(m[3]), _MONTHS[m[1]], int(m[2]))
    if m := _MONTH_YEAR.match(text):
        if m[1] in _MONTHS and _year_ok(int(m[2])):
            iso = f"{int(m[2]):04d}-{_MONTHS[m[1]]:02d}"
            return ParsedDate(typed_literal(iso, XSD.gYearMonth), iso)
    return _refuse(f"unrecognised date {s[:80]!r}")


def to_literal(value: Any) -> Literal | None:
    """The typed literal or None, for callers that do not need the reason."""
    return parse_date(value).literal
