"""docs/mapping-ckan.md is the contract: its table must equal ``FIELD_MAP`` and every documented
property path must really appear in the mapped graph when the CKAN field is present."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import doc_table, follow
from rdflib import URIRef

from transforms.base import Institution, SourceContext
from transforms.ckan import FIELD_MAP, map_package

DATA = Path(__file__).parent / "data" / "ckan_mapping"
CTX = SourceContext("dgu", "data.gov.uk", "https://data.gov.uk", Institution("Test Council", "council"),
                    "https://data.example.org/citycat")
# Fields whose value may legitimately not map (an unrecognised licence, a group that is no EU theme).
CONDITIONAL = {"license_id", "license_url", "extras.licence", "groups[].name", "extras.theme"}


def test_doc_table_equals_field_map():
    doc = doc_table("mapping-ckan.md")
    assert list(doc) == list(FIELD_MAP), "same fields, same order"
    assert doc == FIELD_MAP


def _present(pkg: dict, field: str) -> bool:
    def filled(v):
        return v not in (None, "", [], {})

    if field.startswith("extras."):
        key = field[7:]
        return any(e.get("key") == key and filled(e.get("value")) for e in pkg.get("extras") or [])
    if "[]" in field:
        head, _, tail = field.partition("[]")
        items = pkg.get(head) or []
        return bool(items) if not tail else any(filled(i.get(tail[1:])) for i in items if isinstance(i, dict))
    if "." in field:
        head, _, tail = field.partition(".")
        return isinstance(pkg.get(head), dict) and filled(pkg[head].get(tail))
    return field in pkg and filled(pkg[field]) if not isinstance(pkg.get(field), bool) else True


def _check(pkg: dict, *, skip: set[str]) -> list[str]:
    mapped = map_package(pkg, CTX)
    g, ds = mapped.graph(), URIRef(mapped.uri)
    missing = []
    for field, paths in FIELD_MAP.items():
        if field in skip or not _present(pkg, field):
            continue
        for path in paths:
            if path == "@id":
                uri = next(e["value"] for e in pkg["extras"] if e["key"] == "uri")
                ok = mapped.uri == uri
            else:
                ok = bool(follow(g, ds, path))
            if not ok:
                missing.append(f"{field} -> {path}")
    return missing


def _full_package() -> dict:
    """The data.gov.uk package with every other documented field filled in (derived here, not recorded)."""
    pkg = copy.deepcopy(json.loads((DATA / "dgu_package_show_inspire.json").read_text(encoding="utf-8"))["result"])
    pkg.update(url="https://www.gov.uk/guidance/inspire-index-polygons", version="2.1", maintainer="Land Team",
               maintainer_email="land@example.gov.uk", author="Data Office", author_email="data@example.gov.uk",
               license_id="uk-ogl", license_url="http://www.nationalarchives.gov.uk/doc/open-government-licence/",
               groups=[{"name": "environment", "title": "Environment"}])
    pkg["resources"][0].update(description="<p>WMS <b>capabilities</b></p>", mimetype="application/xml",
                               size=2048, last_modified="2019-03-01T12:00:00")
    pkg["extras"] += [{"key": k, "value": v} for k, v in {
        "uri": "https://portal.example.gov.uk/id/dataset/inspire-index", "identifier": "HMLR-INSPIRE-1",
        "issued": "2012-05-01", "modified": "28 November 2019", "frequency": "monthly", "update_frequency": "monthly",
        "theme": "ENVI", "language": "en", "spatial_text": "England and Wales",
        "spatial_uri": "https://sws.geonames.org/2635167/", "temporal_start": "2012-01-01", "temporal_end": "2019-12-31",
        "harvest_url": "https://council.example.gov.uk/dataset/inspire-index",  # origin pointer
    }.items()]
    return pkg


def test_every_documented_field_is_covered_by_the_full_package():
    pkg = _full_package()
    assert [f for f in FIELD_MAP if not _present(pkg, f)] == []


def test_every_documented_path_appears_for_the_full_package():
    assert _check(_full_package(), skip=set()) == []


@pytest.mark.parametrize("name", ["dgu_package_show_inspire.json", "ckan22_package_show_no_resources.json"])
def test_documented_paths_appear_for_real_packages(name):
    pkg = json.loads((DATA / name).read_text(encoding="utf-8"))["result"]
    assert _check(pkg, skip=CONDITIONAL) == []


def test_the_check_can_fail():
    """A field the mapping ignores must be reported: guard against a vacuous path check."""
    pkg = _full_package()
    pkg["extras"] = [e for e in pkg["extras"] if e["key"] != "frequency-of-update"]
    pkg["extras"] = [dict(e, value="whenever") if e["key"] in ("frequency", "update_frequency") else e
                     for e in pkg["extras"]]
    assert "extras.frequency -> dct:accrualPeriodicity" in _check(pkg, skip=set())
