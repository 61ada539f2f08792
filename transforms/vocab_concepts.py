"""Concept vocabularies: frequencies, data themes, languages, access rights, and the SHACL bridge triples.

Split from :mod:`transforms.vocab` (which re-exports everything here) to keep modules small; the same
rules apply: one folded key, one dict built once from the shipped tables, ``None`` for the unknown.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCTERMS, RDF, SKOS

from transforms.base import Triple
from transforms.rdf import terms
from transforms.vocab_base import EU, IANA, _key, _rows

# DCAT-AP range class of each EU table (the range.ttl shapes check these with sh:class).
# The shared term objects (transforms.rdf.terms): canonical N-Triples then finds these IRIs by identity.
DCTERMS, RDF, SKOS = (terms(ns) for ns in (DCTERMS, RDF, SKOS))

_TABLES = {"licence": DCTERMS.LicenseDocument, "file-type": DCTERMS.MediaTypeOrExtent,
           "frequency": DCTERMS.Frequency, "data-theme": SKOS.Concept,
           "access-right": DCTERMS.RightsStatement, "language": DCTERMS.LinguisticSystem}

# ----------------------------------------------------------------------------- frequency, theme, language

# The retired Dublin Core collection frequency vocabulary (purl.org/cld/freq/...) and plain phrases.
_FREQ_ALIASES = {
    "ANNUAL": ["annually", "yearly", "every year", "once a year", "p1y", "r/p1y", "annual"],
    "ANNUAL_2": ["semiannual", "biannual", "biannually", "half-yearly", "half yearly", "six monthly",
                 "six-monthly", "every six months", "every 6 months", "p6m", "r/p6m"],
    "ANNUAL_3": ["threetimesayear", "three times a year"],
    "BIENNIAL": ["biennial", "every two years", "p2y", "r/p2y"],
    "TRIENNIAL": ["triennial", "p3y", "r/p3y"],
    "QUARTERLY": ["quarterly", "every quarter", "every three months", "p3m", "r/p3m"],
    "MONTHLY": ["monthly", "every month", "p1m", "r/p1m"],
    "BIMONTHLY": ["bimonthly", "every two months", "p2m", "r/p2m"],
    "MONTHLY_2": ["semimonthly", "twice a month"],
    "MONTHLY_3": ["threetimesamonth"],
    "WEEKLY": ["weekly", "every week", "p1w", "r/p1w", "p7d"],
    "BIWEEKLY": ["biweekly", "fortnightly", "every two weeks", "p2w", "r/p2w"],
    "WEEKLY_2": ["semiweekly", "twice a week"],
    "WEEKLY_3": ["threetimesaweek"],
    "DAILY": ["daily", "every day", "p1d", "r/p1d"],
    "HOURLY": ["hourly", "every hour", "pt1h", "r/pt1h"],
    "CONT": ["continuous"],
    "UPDATE_CONT": ["real-time", "realtime", "real time", "live", "continually", "continuously updated"],
    "IRREG": ["irregular", "irregularly", "ad hoc", "ad-hoc", "adhoc", "as and when", "sporadic"],
    "AS_NEEDED": ["as needed", "as required", "when required", "on demand"],
    "NEVER": ["never", "not updated", "one-off", "one off", "static", "no updates", "historic"],
    "NOT_PLANNED": ["not planned"],
    "UNKNOWN": ["unknown"],
}


def _table_index(name: str, extra: dict[str, list[str]], *, label_col: str = "label_en") -> dict[str, str]:
    idx: dict[str, str] = {}
    rows = _rows(f"{name}.csv")
    for r in rows:
        idx.setdefault(_key(r["code"]), r["uri"])
        idx.setdefault(r["uri"].lower(), r["uri"])
    for code, spellings in extra.items():
        for s in spellings:
            idx.setdefault(_key(s), f"{EU}{name}/{code}")
    for r in rows:
        if r.get(label_col):
            idx.setdefault(_key(r[label_col]), r["uri"])
    return idx


@lru_cache(maxsize=1)
def _freq_index() -> dict[str, str]:
    return _table_index("frequency", _FREQ_ALIASES)


def frequency(value: Any) -> str | None:
    """EU frequency URI for a label (``monthly``), code, ISO 8601 duration, EU or purl.org/cld/freq URI."""
    if value is None or not str(value).strip():
        return None
    s = str(value).strip()
    if s.lower().startswith("http"):
        if "purl.org/cld/freq/" in s.lower():
            s = s.rsplit("/", 1)[-1]
        else:
            return _freq_index().get(s.lower().replace("https://", "http://"))
    return _freq_index().get(_key(s))


# CKAN / data.gov.uk group and theme names → EU data theme, only where the meaning is the same.
_THEME_ALIASES = {
    "AGRI": ["agriculture", "farming", "fisheries", "food"],
    "ECON": ["economy", "business-and-economy", "business", "finance", "economy-and-finance"],
    "EDUC": ["education", "culture", "sport", "education-culture-and-sport"],
    "ENER": ["energy"],
    "ENVI": ["environment", "climate", "nature"],
    "GOVE": ["government", "government-spending", "government-and-public-sector", "public-sector",
             "council", "democracy"],
    "HEAL": ["health", "health-and-social-care", "public-health"],
    "INTR": ["international", "international-issues"],
    "JUST": ["crime-and-justice", "crime", "justice", "public-safety", "community-safety", "law"],
    "REGI": ["towns-and-cities", "regions-and-cities", "planning", "housing"],
    "SOCI": ["society", "population", "population-and-society", "census", "demographics", "communities"],
    "TECH": ["science", "technology", "science-and-technology", "digital"],
    "TRAN": ["transport", "transportation", "travel", "highways", "roads"],
}


@lru_cache(maxsize=1)
def _theme_index() -> dict[str, str]:
    return _table_index("data-theme", _THEME_ALIASES)


def theme(value: Any) -> str | None:
    """EU data-theme URI for a theme code, label, URI or a CKAN group name with the same meaning."""
    if value is None or not str(value).strip():
        return None
    s = str(value).strip()
    return _theme_index().get(s.lower() if s.lower().startswith("http") else _key(s))


@lru_cache(maxsize=1)
def _language_index() -> dict[str, str]:
    idx: dict[str, str] = {}
    rows = _rows("language.csv")
    for col in ("code", "iso639_1", "iso639_3", "label_en"):
        for r in rows:
            if r[col]:
                idx.setdefault(_key(r[col]), f"{EU}language/{r['code']}")
    return idx


def language(value: Any) -> str | None:
    """EU language URI for ``en``, ``en-GB``, ``eng``, ``ENG``, ``English`` or an EU / id.loc.gov URI."""
    if value is None or not str(value).strip():
        return None
    s = str(value).strip()
    if s.lower().startswith("http"):
        s = s.rstrip("/").rsplit("/", 1)[-1]
    idx = _language_index()
    return idx.get(_key(s)) or idx.get(_key(re.split(r"[-_]", s)[0]))


def access_right(code: str) -> str:
    """EU access-right URI for a code known to be in the table (PUBLIC, NON_PUBLIC, RESTRICTED)."""
    return f"{EU}access-right/{code}"


# ----------------------------------------------------------------------------- SHACL bridge


@lru_cache(maxsize=1)
def _labels() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("licence", "file-type", "frequency", "data-theme", "access-right"):
        for r in _rows(f"{name}.csv"):
            out[r["uri"]] = r["label_en"]
    return out


def concept_triples(uri: str, *, with_label: bool = True) -> list[Triple]:
    """Background triples that let the DCAT-AP range and vocabulary shapes accept a vocabulary URI.

    EU concepts get their range class and ``skos:inScheme`` (and the English label); IANA media types
    are typed ``dct:MediaType``. Anything else gets nothing. Only the URIs a record uses are bridged,
    never whole tables (that would make every concept a SHACL focus node).
    """
    ref = URIRef(uri)
    if uri.startswith(IANA):
        return [(ref, RDF.type, DCTERMS.MediaType)]
    if not uri.startswith(EU):
        return []
    table = uri[len(EU):].split("/", 1)[0]
    cls = _TABLES.get(table)
    if cls is None:
        return []
    out: list[Triple] = [(ref, RDF.type, cls), (ref, SKOS.inScheme, URIRef(EU + table))]
    if with_label:
        label = _labels().get(uri) if table != "language" else _language_label(uri)
        if label:
            out.append((ref, SKOS.prefLabel, Literal(label, lang="en")))
    return out


# Tables whose .ttl is shipped for the SHACL bridge (expectations/shacl.py adds their inScheme/labels at
# validation time). Language is not among them: its 2.2 MB .ttl is not shipped, so its concepts carry
# inScheme and label in the stored graph itself.
_BRIDGED = {"licence", "file-type", "frequency", "data-theme", "access-right"}


@lru_cache(maxsize=4096)
def stored_concept_triples(uri: str) -> tuple[Triple, ...]:
    """What a dataset graph itself says about a vocabulary value it uses.

    Always the DCAT-AP range class (``dct:LicenseDocument``, ``dct:MediaTypeOrExtent``...), which is a
    fact about the value every consumer may rely on; ``skos:inScheme`` and the label only for tables the
    validation bridge cannot supply (language). Adding ``skos:inScheme`` for bridged tables would make the
    bridge pull in the scheme nodes themselves, which the shapes then check as ``skos:ConceptScheme``s.
    """
    if uri.startswith(EU) and uri[len(EU):].split("/", 1)[0] in _BRIDGED:
        return tuple(concept_triples(uri)[:1])
    return tuple(concept_triples(uri))


def _language_label(uri: str) -> str | None:
    return _language_labels().get(uri.rsplit("/", 1)[-1]) or None


@lru_cache(maxsize=1)
def _language_labels() -> dict[str, str]:
    return {r["code"]: r["label_en"] for r in _rows("language.csv")}
