"""Derive the duplicate-detection corpus from the real records in ``real/`` (see README.md).

    .venv/bin/python tests/data/duplicates/derive.py     # rewrites derived/*.json

Deterministic (no clock, no randomness): ids of derived records are uuid5 of the real ones.
The derived files are committed; tests read them, and test_clusters.py checks that re-deriving
gives the same bytes, so the corpus cannot drift from this recipe.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL, DERIVED = HERE / "real", HERE / "derived"
COUNCIL_URL = "https://data.council.example.gov.uk"
DGU_URL = "https://data.mirror.example.gov.uk"
HUB_URL = "https://hub.region.example.org"
NS = uuid.UUID("6f1c1b0e-1d2c-4e55-9a65-1f0e9c7d2a10")
FILE_EXT = re.compile(r"\.(csv|geojson|json|xlsx|xls|zip|pdf|shp|kml|xml)$", re.I)


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NS, "|".join(parts)))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:90]


def real_ckan() -> list[dict]:
    return [json.loads((REAL / n).read_text(encoding="utf-8"))["result"]
            for n in ("dgu_package_show_ashfield_smoke_control.json", "dgu_package_show_inspire.json")]


def real_dcat_us() -> list[dict]:
    out = []
    for n in ("cftc_data.json", "apur_arcgis_opendata_data.json"):
        out += json.loads((REAL / n).read_text(encoding="utf-8"))["dataset"]
    return out


def ckan_from_dcat_us(ds: dict, *, keep_identifier: bool = True) -> dict:
    """A council CKAN package for a DCAT-US dataset, shaped as ckanext-datajson imports one."""
    pid = _uuid("council", ds["identifier"])
    org = ds["publisher"]["name"]
    extras = [{"key": "modified", "value": ds["modified"]}] if not str(ds.get("modified", "")).startswith("R/") else []
    if keep_identifier:
        extras.append({"key": "identifier", "value": ds["identifier"]})
    resources = []
    for n, dist in enumerate(ds.get("distribution") or []):
        url = dist.get("downloadURL") or dist.get("accessURL")
        resources.append({"id": _uuid("resource", pid, str(n)), "package_id": pid, "position": n, "state": "active",
                          "name": dist.get("title") or f"Resource {n + 1}", "description": "",
                          "format": dist.get("format") or "", "mimetype": dist.get("mediaType"), "url": url,
                          "url_type": None, "size": None, "created": "2017-01-05T10:00:00", "last_modified": None})
    return {"id": pid, "name": _slug(ds["title"]), "title": ds["title"], "type": "dataset", "state": "active",
            "private": False, "notes": ds.get("description"), "url": ds.get("landingPage"),
            "license_id": None, "license_url": ds.get("license"), "metadata_created": "2017-01-05T10:00:00.000000",
            "metadata_modified": "2017-01-05T10:00:00.000000",
            "organization": {"id": _uuid("org", org), "name": _slug(org), "title": org, "type": "organization",
                             "is_organization": True, "state": "active"},
            "tags": [{"name": k, "display_name": k, "state": "active"} for k in ds.get("keyword") or []],
            "groups": [], "resources": resources, "num_resources": len(resources), "extras": extras}


def mirror(pkg: dict, n: int) -> dict:
    """A data.gov.uk-style harvested copy: new package id, the mirror's organisation, harvest extras.

    Even n: the copy carries ``harvest_url`` (ckanext-harvest ``default_extras``:
    ``{harvest_source_url}/dataset/{dataset_id}``) and drops the origin's ``identifier``/``guid``
    extras (a mirror that re-keys what it harvests); odd n: it keeps the origin's extras and carries
    ``guid`` = the origin's id when it has none (what ckanext-spatial/-dcat harvesters keep).
    """
    m = copy.deepcopy(pkg)
    m["id"] = _uuid("dgu", pkg["id"])
    m["metadata_created"] = m["metadata_modified"] = "2019-02-01T03:00:00.000000"
    org = pkg["organization"]["title"] if pkg.get("organization") else "Unknown"
    m["organization"] = {"id": _uuid("dgu-org", org), "name": "dgu-" + _slug(org), "title": org,
                         "type": "organization", "is_organization": True, "state": "active"}
    for r in m.get("resources") or []:
        r["id"] = _uuid("dgu-resource", r["id"])
        r["package_id"] = m["id"]
    m["harvest"] = [{"key": "harvest_object_id", "value": _uuid("harvest-object", pkg["id"])},
                    {"key": "harvest_source_id", "value": _uuid("harvest-source", "council")},
                    {"key": "harvest_source_title", "value": "Council open data portal"}]
    extras = [e for e in m.get("extras") or [] if e["key"] not in ("harvest_url",)]
    if n % 2 == 0:
        extras = [e for e in extras if e["key"] not in ("identifier", "guid")]
        extras.append({"key": "harvest_url", "value": f"{COUNCIL_URL}/dataset/{pkg['id']}"})
    elif not any(e["key"] == "guid" for e in extras):
        extras.append({"key": "guid", "value": pkg["id"]})
    m["extras"] = extras
    return m


def dcat_us_from_ckan(pkg: dict) -> dict:
    """The combined authority hub's DCAT-US copy: its own identifier URI, the same distributions."""
    dists = []
    for r in pkg.get("resources") or []:
        d = {"@type": "dcat:Distribution", "title": r.get("name") or "Resource", "format": r.get("format") or "WMS"}
        d["downloadURL" if FILE_EXT.search(r["url"].split("?")[0]) else "accessURL"] = r["url"]
        dists.append(d)
    return {"@type": "dcat:Dataset", "identifier": f"{HUB_URL}/datasets/{_slug(pkg['title'])}",
            "title": pkg["title"], "description": pkg.get("notes") or "", "keyword": [t["name"] for t in pkg["tags"]],
            "modified": pkg["metadata_modified"][:10], "publisher": {"name": pkg["organization"]["title"]},
            "contactPoint": {"@type": "vcard:Contact", "fn": "Hub team", "hasEmail": "mailto:hub@region.example.org"},
            "accessLevel": "public", "distribution": dists, "landingPage": f"{HUB_URL}/datasets/{_slug(pkg['title'])}"}


def near_misses(ckan: list[dict], dcat_us: list[dict]) -> list[dict]:
    """A neighbouring portal's packages that look like corpus datasets but are not the same dataset."""
    by_title = {d["title"]: d for d in dcat_us}
    out = []
    # a yearly edition of a series: same publisher, same title but the year, other files
    edition = copy.deepcopy(by_title["HAUTEUR BATI 2012"])
    edition.update(identifier="http://cassini.apur.opendata.arcgis.com/datasets/hauteur-bati-2015",
                   title="HAUTEUR BATI 2015", landingPage=None)
    for d in edition["distribution"]:
        d["accessURL"] = d["accessURL"].replace("2012", "2015").replace("ce1caec3ca034334a66fba97ffa20748",
                                                                          "hauteur-bati-2015")
    out.append(ckan_from_dcat_us(edition))
    # the same title from another publisher
    other = copy.deepcopy(by_title["Commitment of Traders"])
    other.update(identifier="cmx-cot", publisher={"name": "Commodity Exchange, Inc."})
    other["distribution"][0]["accessURL"] = "https://www.cmegroup.example.com/commitment-of-traders.html"
    out.append(ckan_from_dcat_us(other))
    # a near-identical title from a near-identical publisher name: another district's smoke control areas
    smoke = copy.deepcopy(ckan[0])
    smoke.update(id=_uuid("neighbour", smoke["id"]), name="mansfield-district-smoke-control-areas",
                 title="Mansfield District Smoke Control Areas")
    smoke["organization"] = dict(smoke["organization"], title="Mansfield District Council",
                                 name="mansfield-district-council", id=_uuid("org", "mansfield"))
    smoke["extras"] = [e for e in smoke["extras"] if e["key"] != "guid"]
    for r in smoke["resources"]:
        r["url"] = r["url"].replace("ashfield", "mansfield")
        r["id"] = _uuid("neighbour-resource", r["id"])
    out.append(smoke)
    # yearly editions on the CKAN side too: "... 2018" and "... 2019" of one publisher's series
    for year in ("2018", "2019"):
        ed = copy.deepcopy(ckan[1])
        ed.update(id=_uuid("neighbour", ed["id"], year), name=f"{ed['name']}-{year}", title=f"{ed['title']} {year}")
        ed["extras"] = [e for e in ed["extras"] if e["key"] != "guid"]
        for r in ed["resources"]:
            r["url"] = r["url"] + f"&edition={year}"
            r["id"] = _uuid("neighbour-resource", r["id"], year)
        out.append(ed)
    return out


def build() -> dict[str, object]:
    ckan, dcat_us = real_ckan(), real_dcat_us()
    council = list(ckan)  # the two real packages, verbatim
    # One APUR dataset keeps no identifier extra: its hub twin is found by the shared download URL.
    council += [ckan_from_dcat_us(d, keep_identifier=d["title"] != "APPUI INNOVATION") for d in dcat_us]
    dgu = [mirror(p, n) for n, p in enumerate(council)]
    hub = list(dcat_us) + [dcat_us_from_ckan(p) for p in ckan]  # the ten real DCAT-US datasets, verbatim
    neighbour = near_misses(ckan, dcat_us)
    groups = []
    for n, p in enumerate(council):
        hub_id = dcat_us[n - 2]["identifier"] if n >= 2 else dcat_us_from_ckan(p)["identifier"]
        groups.append([["council", p["id"]], ["dgu", dgu[n]["id"]], ["hub", hub_id]])
    near = [[["neighbour", neighbour[0]["id"]], ["hub", by_id(dcat_us, "HAUTEUR BATI 2012")]],
            [["neighbour", neighbour[0]["id"]], ["council", council[2 + idx(dcat_us, "HAUTEUR BATI 2012")]["id"]]],
            [["neighbour", neighbour[1]["id"]], ["hub", by_id(dcat_us, "Commitment of Traders")]],
            [["neighbour", neighbour[1]["id"]], ["council", council[2 + idx(dcat_us, "Commitment of Traders")]["id"]]],
            [["neighbour", neighbour[2]["id"]], ["council", ckan[0]["id"]]],
            [["neighbour", neighbour[2]["id"]], ["dgu", dgu[0]["id"]]],
            [["neighbour", neighbour[3]["id"]], ["council", ckan[1]["id"]]],
            [["neighbour", neighbour[4]["id"]], ["dgu", dgu[1]["id"]]]]
    return {"council_packages.json": council, "dgu_packages.json": dgu,
            "hub_data.json": {"@type": "dcat:Catalog", "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
                              "dataset": hub},
            "neighbour_packages.json": neighbour,
            "labels.json": {"groups": groups, "near_misses": near}}


def by_id(dcat_us: list[dict], title: str) -> str:
    return next(d["identifier"] for d in dcat_us if d["title"] == title)


def idx(dcat_us: list[dict], title: str) -> int:
    return next(n for n, d in enumerate(dcat_us) if d["title"] == title)


def render(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    DERIVED.mkdir(exist_ok=True)
    for name, obj in build().items():
        (DERIVED / name).write_text(render(obj), encoding="utf-8")
        print("wrote", DERIVED / name)
