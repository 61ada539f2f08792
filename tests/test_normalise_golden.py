"""Golden outputs of normalise: canonical N-Triples, content hash, flat row and the normalised line.

The hash of a dataset's canonical N-Triples is what tells the inventory "unchanged"; a mapping or
serialisation speed-up that changes one byte would make every stored dataset look updated. So every
recorded real input of the JSON/XML kinds below, plus synthetic CKAN packages (harvest-source and
deleted ones included), is mapped, and SHA-256 digests of the outputs are compared with values
recorded before the normalise performance work (tests/data/golden/normalise.json).

Re-record only for an intended output change, and say so in the change:

    .venv/bin/python tests/test_normalise_golden.py --record
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from citycat.normalise import normalise_line  # noqa: E402
from citycat.synthetic import SyntheticPackages, SyntheticSpec  # noqa: E402
from harvesters.base import RawRecord  # noqa: E402
from transforms import get_mapping  # noqa: E402
from transforms.base import Institution, SourceContext  # noqa: E402

DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden" / "normalise.json"
FETCHED = "2026-11-20T02:00:00+00:00"
CTX = {
    "ckan": SourceContext("dgu", "data.gov.uk", "https://data.gov.uk", Institution("Test Authority", "council"),
                          "https://data.example.org/citycat"),
    "csw": SourceContext("geo", "Geoportal", "https://geo.example.org/csw", Institution("Example Council", "council"),
                         "https://data.example.org/citycat"),
    "dcat-us": SourceContext("apur", "APUR", "http://cassini.apur.opendata.arcgis.com/data.json",
                             Institution("Test Council", "council"), "https://data.example.org/citycat"),
    "socrata": SourceContext("sea", "Seattle", "https://data.seattle.gov", Institution("City of Seattle", "council"),
                             "https://data.example.org/citycat"),
    "opendatasoft": SourceContext("ods", "Etalab sandbox", "https://etalab-sandbox.opendatasoft.com",
                                  Institution("Etalab", "national"), "https://data.example.org/citycat"),
}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _packages(doc: Any) -> list[dict]:
    """CKAN package dicts in a recorded reply: package_show, package_search or a bare package."""
    body = doc.get("result", doc) if isinstance(doc, dict) else doc
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return [p for p in body["results"] if isinstance(p, dict)]
    if isinstance(body, list):
        return [p for p in body if isinstance(p, dict)]
    return [body] if isinstance(body, dict) else []


def cases() -> Iterator[tuple[str, str, RawRecord]]:
    """``(case name, kind, record)`` for every golden input, in a fixed order."""
    for folder in ("ckan", "ckan_mapping"):
        for path in sorted((DATA / folder).glob("*.json")):
            for k, pkg in enumerate(_packages(_json(path))):
                nid = str(pkg.get("id") or pkg.get("name") or k)
                yield (f"{folder}/{path.name}#{k}", "ckan",
                       RawRecord("dgu", nid, FETCHED, "application/json", pkg, pkg.get("state") == "deleted",
                                 pkg.get("metadata_modified")))
    for spec in (SyntheticSpec(count=200, seed=1, harvest_every=7, deleted_every=50),
                 SyntheticSpec(count=60, seed=3, generation=2, modified_fraction=0.4)):
        pkgs = SyntheticPackages(spec)
        for i in range(spec.count):
            p = pkgs.package(i)
            yield (f"synthetic/{spec.seed}/{spec.generation}/{i}", "ckan",
                   RawRecord("bench", p["id"], FETCHED, "application/json", p, p.get("state") == "deleted",
                             p["metadata_modified"]))
    for path in sorted([*(DATA / "csw").glob("*.xml"), *(DATA / "csw" / "pycsw").glob("*.xml")]):
        yield (f"csw/{path.relative_to(DATA / 'csw')}", "csw",
               RawRecord("geo", path.name, FETCHED, "application/xml", path.read_text(encoding="utf-8",
                                                                                      errors="replace")))
    for name in ("cftc_data.json", "apur_arcgis_opendata_data.json"):
        for k, ds in enumerate(_json(DATA / "dcat_us" / name)["dataset"]):
            yield f"dcat_us/{name}#{k}", "dcat-us", RawRecord("apur", str(ds.get("identifier") or k), FETCHED,
                                                              "application/json", ds)
    soc = [_json(DATA / "socrata" / "seattle_socrata_view_3k2p-39jp.json"),
           *_json(DATA / "socrata" / "catalog_v1_built_from_view.json")["results"]]
    for k, entry in enumerate(soc):
        yield f"socrata#{k}", "socrata", RawRecord("sea", f"s{k}", FETCHED, "application/json", entry)
    ods = [*_json(DATA / "opendatasoft" / "ods_v1_search_etalab_sandbox.json")["datasets"],
           *_json(DATA / "opendatasoft" / "explore_v21_built_from_v1.json")["results"]]
    for k, ds in enumerate(ods):
        yield f"opendatasoft#{k}", "opendatasoft", RawRecord("ods", f"o{k}", FETCHED, "application/json", ds)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest(kind: str, record: RawRecord) -> dict[str, Any]:
    """What must not change for one record: digests of nt, row (key order kept) and warnings, and of the
    normalised line as parsed JSON (so its shape is guarded, not the encoder's spacing)."""
    ctx = CTX[kind]
    out: dict[str, Any] = {}
    if record.deleted:
        out["outcome"] = "deleted"
    else:
        try:
            m = get_mapping(kind)(record, ctx)
            nt = m.ntriples()
        except Exception as exc:  # noqa: BLE001 - the error is part of the golden output
            out["error"] = f"{type(exc).__name__}: {exc}"
        else:
            out.update(nt=_sha(nt), hash=m.content_hash(), uri=m.uri,
                       row=_sha(json.dumps(m.row, ensure_ascii=False, default=str)),
                       warnings=_sha(json.dumps(m.warnings, ensure_ascii=False, default=str)))
    if isinstance(record.payload, (dict, list)):
        kind_, line, warnings, bug = normalise_line(1, record.to_json(), get_mapping(kind), ctx)
        out["line"] = (kind_, _sha(json.dumps(json.loads(line), ensure_ascii=False)), warnings)
    return out


def compute() -> dict[str, dict[str, Any]]:
    return {name: digest(kind, rec) for name, kind, rec in cases()}


def test_cases_cover_every_kind_and_real_inputs():
    names = [n for n, _, _ in cases()]
    assert len(names) == len(set(names))
    for prefix in ("ckan/", "ckan_mapping/", "synthetic/", "csw/", "dcat_us/", "socrata#", "opendatasoft#"):
        assert any(n.startswith(prefix) for n in names), prefix


def test_outputs_are_byte_identical_to_the_recorded_golden_values():
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = json.loads(json.dumps(compute()))  # tuples -> lists, as stored
    assert now.keys() == golden.keys()
    changed = [name for name in golden if now[name] != golden[name]]
    assert not changed, f"{len(changed)} records map differently from the golden values, e.g. {changed[:5]}: " \
                        f"{now[changed[0]]} != {golden[changed[0]]}"
    # the golden set holds mapped records of every kind, not only errors
    kinds = {name.split("/")[0].split("#")[0] for name, v in golden.items() if "nt" in v}
    assert {"ckan", "synthetic", "csw", "dcat_us", "socrata", "opendatasoft"} <= kinds, kinds


if __name__ == "__main__" and "--record" in sys.argv:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {GOLDEN}")


# ----------------------------------------------------------------------------- short cuts equal the general paths

TRICKY_URLS = ["http://example.org", "https://example.org/a b", "HTTP://Example.ORG:8080/x?y#z", "ftp://h/f.csv",
               "http://h:65535/", "http://h:65536/", "http://h:/", "http://h:99999999/", "http://./x", "http://-",
               "http://user@h/", "http://[::1]/", "http://[::1/", "https://exämple.org/", "http://h\t/x", "http:///x",
               "http://h?x", "http://h#f", "https://h.example/%zz", "www.example.org/x", "http://h h/", " http://h ",
               "https://data.example.org/leeds/x/resource-0.csv", "mailto:a@b.org", "javascript:alert(1)", "", "http:"]


def _reference_is_http_url(value: object) -> bool:
    from urllib.parse import urlsplit

    from transforms.uris import _IRI_ESCAPE_RE
    if not isinstance(value, str) or not value or _IRI_ESCAPE_RE.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def test_url_short_cuts_agree_with_urlsplit():
    from transforms import uris

    for url in TRICKY_URLS:
        assert uris.is_http_url(url) == _reference_is_http_url(url), url
        fast = uris.clean_url(url)
        # the short cut returns s unchanged only where the urlsplit checks accept it
        if fast is not None and not fast.startswith("mailto:"):
            assert _reference_is_http_url(fast) or fast.lower().startswith("ftp://"), url
    assert uris.clean_url("http://h:65536/") is None and uris.clean_url("http://h:65535/") == "http://h:65535/"


def test_fast_term_builders_equal_rdflib_constructors():
    from rdflib import Literal, URIRef
    from rdflib.namespace import GEO, XSD

    from transforms import rdf
    assert rdf._FAST_IRIS and rdf._FAST_TYPED, "rdflib changed: the fast builders fell back to the constructors"
    for v in ("http://example.org/a#b", "mailto:x@example.org"):
        fast, slow = rdf.iri(v), URIRef(v)
        assert type(fast) is URIRef and fast == slow and hash(fast) == hash(slow)
    for lexical, dt in [("0", XSD.nonNegativeInteger), ("4096", XSD.nonNegativeInteger), ("2020", XSD.gYear),
                        ("2020-02", XSD.gYearMonth), ("POLYGON((1 2,3 4))", GEO.wktLiteral),
                        ('{"type":"Point","coordinates":[1,2]}', GEO.geoJSONLiteral), ("007", XSD.nonNegativeInteger)]:
        fast, slow = rdf.typed_literal(lexical, dt), Literal(lexical, datatype=dt)
        assert fast == slow and rdf.term_nt(fast) == rdf.term_nt(slow)
        assert [getattr(fast, a) for a in rdf._LITERAL_SLOTS] == [getattr(slow, a) for a in rdf._LITERAL_SLOTS]


def test_raw_record_lines_are_the_same_json_whichever_encoder():
    pkgs = SyntheticPackages(SyntheticSpec(count=30, seed=2))
    for i in range(30):
        p = pkgs.package(i)
        plain = RawRecord("s", p["id"], FETCHED, "application/json", p, False, p["metadata_modified"])
        strict = RawRecord("s", p["id"], FETCHED, "application/json", p, False, p["metadata_modified"])
        strict.strict_json = True  # type: ignore[misc]
        assert strict.to_json() == plain.to_json()  # msgspec writes the json module's compact bytes here
        assert RawRecord.from_json(strict.to_json()) == plain
    odd = RawRecord("s", "n", FETCHED, "application/json", {"x": float("nan")})
    assert '"x":NaN' in odd.to_json() and RawRecord.from_json(odd.to_json()).payload["x"] != 0
