"""The DCAT harvester against DCAT documents served on 127.0.0.1 by citycat.localdcat.

Inputs are the recorded real samples (tests/data/dcat), the crafted quirk catalogue, and citycat's own
Hydra-paged feed written by ``publish.write_feed`` from mapped real datasets.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyoxigraph as ox
import pytest

import harvesters
from conftest_portal import fast_http, sleeps  # noqa: F401
from citycat.localdcat import LocalDcat
from harvesters.base import FatalSourceError, HarvestWindow, RawRecord
from harvesters.dcat import DcatHarvester, PageGraph, RdfSyntaxError, UnsafeXmlError, syntax_of
from harvesters.http import TruncatedResponseError, UnexpectedContentError
from publish import write_feed
from publish.feed_model import CatalogInfo, FeedDataset, SourceInfo
from transforms.base import Institution, SourceContext
from transforms.dcat import map_dataset

DATA = Path(__file__).parent / "data" / "dcat"
FULL = HarvestWindow()
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
CTX = SourceContext("src", "Src", "https://portal.example.org", Institution("Test Council", "council"),
                    "https://data.example.org/citycat")
TURTLE_HEAD = ("@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .\n"
               "@prefix hydra: <http://www.w3.org/ns/hydra/core#> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n")


def harvester(url: str, http, **options) -> DcatHarvester:
    options.setdefault("requests_per_second", 100)
    return DcatHarvester("test-dcat", url, DcatHarvester.Options(**options), http)


@pytest.fixture
def site():
    with LocalDcat() as s:
        yield s


def _dataset_ttl(n: int, modified: str = "2024-01-01T00:00:00Z") -> str:
    return (f"<https://data.example.org/id/ds-{n}> a dcat:Dataset ; dct:title \"Dataset {n}\" ; "
            f"dct:description \"Number {n}\" ; dct:modified \"{modified}\"^^xsd:dateTime .\n")


def _crafted_pages(site: LocalDcat, form: str, pages: int = 3, per_page: int = 2) -> list[str]:
    """Turtle pages linked in one Hydra form: 'view' (PartialCollectionView + next) or 'paged'
    (PagedCollection + nextPage)."""
    urls = [f"{site.url}/{form}/page-{i}.ttl" for i in range(1, pages + 1)]
    for i in range(pages):
        body = TURTLE_HEAD + "".join(_dataset_ttl(i * per_page + k) for k in range(per_page))
        if form == "view":
            body += f"<{site.url}/catalog> hydra:view <{urls[i]}> .\n<{urls[i]}> a hydra:PartialCollectionView"
            body += f" ; hydra:next <{urls[i + 1]}> .\n" if i + 1 < pages else " .\n"
        else:
            body += f"<{urls[i]}> a hydra:PagedCollection ; hydra:totalItems {pages * per_page}"
            body += f" ; hydra:nextPage \"{urls[i + 1]}\" .\n" if i + 1 < pages else " .\n"
        site.add(f"{form}/page-{i + 1}.ttl", body, "text/turtle")
    return urls


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("dcat") is DcatHarvester
    assert DcatHarvester.paging == "hydra-next-link"


# ----------------------------------------------------------------------------- real samples


@pytest.mark.parametrize("name,native_id,distributions", [
    ("rostock_dcatde_dataset.rdf", "https://www.opendata-hro.de/dataset/c1be4007-d811-48fb-8818-2cb358b06a63", 9),
    ("nobelmedia_dcatap_catalog.rdf", "http://nobelprize.org/datasets/dcat#ds1", 1),
])
def test_real_sample_gives_one_record_with_its_concise_bounded_description(site, fast_http, name, native_id,
                                                                          distributions):
    site.serve_directory(DATA)
    h = harvester(f"{site.url}/{name}", fast_http)
    records = list(h.records(FULL, "full"))
    assert [r.native_id for r in records] == [native_id]
    rec = records[0]
    assert rec.media_type == "application/n-triples" and h.stats.complete_listing
    triples = [q.triple for q in ox.parse(rec.payload.encode(), format=ox.RdfFormat.N_TRIPLES)]
    dists = {t.object for t in triples if t.predicate.value.endswith("#distribution")}
    assert len(dists) == distributions
    described = {t.subject for t in triples}
    assert dists <= described  # each distribution's own triples travel with the dataset
    assert not any(t.object.value.endswith("#Catalog") for t in triples if isinstance(t.object, ox.NamedNode))


def test_quirk_duplicated_publisher_blank_nodes_only_the_datasets_own(site, fast_http):
    """Nobel: the catalogue and the dataset each have a publisher blank node with the same content."""
    site.serve_directory(DATA)
    rec = next(harvester(f"{site.url}/nobelmedia_dcatap_catalog.rdf", fast_http).records(FULL, "full"))
    names = [line for line in rec.payload.splitlines() if "foaf/0.1/name" in line]
    assert len(names) == 1 and "Nobel Media AB" in names[0]
    assert "2014-09-25" not in rec.payload  # the catalogue's own dates are not the dataset's


def test_payload_bytes_are_stable_across_parses(site, fast_http):
    """Parsers invent blank-node labels; the payload relabels them by a walk from the dataset."""
    site.serve_directory(DATA)
    url = f"{site.url}/rostock_dcatde_dataset.rdf"
    first = next(harvester(url, fast_http).records(FULL, "full")).payload
    again = next(harvester(url, fast_http).records(FULL, "full")).payload
    assert first == again and "_:b1 " in first


# ----------------------------------------------------------------------------- syntaxes


def test_syntax_chosen_by_content_type_then_sniffed():
    assert syntax_of("application/rdf+xml; charset=utf-8", b"") == "rdf-xml"
    assert syntax_of("text/turtle", b"<?xml") == "turtle"
    assert syntax_of("text/plain", b'\xef\xbb\xbf  {"@id": "x"}') == "json-ld"
    assert syntax_of(None, b"<?xml version='1.0'?><rdf:RDF/>") == "rdf-xml"
    assert syntax_of("application/octet-stream", b"<http://a/b> <http://a/p> \"x\" .") == "turtle"
    assert syntax_of(None, b"@prefix dcat: <http://www.w3.org/ns/dcat#> .") == "turtle"


@pytest.mark.parametrize("fmt,media_type", [(ox.RdfFormat.TURTLE, "text/turtle"),
                                            (ox.RdfFormat.RDF_XML, "application/rdf+xml"),
                                            (ox.RdfFormat.JSON_LD, "application/ld+json"),
                                            (ox.RdfFormat.N_TRIPLES, "application/n-triples"),
                                            (ox.RdfFormat.RDF_XML, None), (ox.RdfFormat.JSON_LD, None),
                                            (ox.RdfFormat.N_TRIPLES, "text/plain")])
def test_every_syntax_by_type_or_sniffing_gives_the_same_records(site, fast_http, fmt, media_type):
    quads = list(ox.parse(path=DATA / "rostock_dcatde_dataset.rdf", format=ox.RdfFormat.RDF_XML))
    site.add("doc", ox.serialize([q.triple for q in quads], format=fmt), media_type)
    rec = next(harvester(f"{site.url}/doc", fast_http).records(FULL, "full"))
    site.serve_directory(DATA)
    ref = next(harvester(f"{site.url}/rostock_dcatde_dataset.rdf", fast_http).records(FULL, "full"))
    assert rec.native_id == ref.native_id
    assert rec.payload == ref.payload


def test_billion_laughs_rdfxml_is_refused_before_parsing(site, fast_http):
    lol = ('<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY a "aaaaaaaaaa">'
           + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
           + ']><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns:dct="http://purl.org/dc/terms/"><rdf:Description rdf:about="http://e/x">'
           '<dct:title>&i;</dct:title></rdf:Description></rdf:RDF>')
    url = site.add("lol.rdf", lol, "application/rdf+xml")
    with pytest.raises(UnsafeXmlError, match="EntitiesForbidden"):
        list(harvester(url, fast_http).records(FULL, "full"))


def test_external_entity_rdfxml_is_refused_and_the_file_never_read(site, fast_http, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dcat="http://www.w3.org/ns/dcat#" '
           'xmlns:dct="http://purl.org/dc/terms/"><dcat:Dataset rdf:about="http://e/x"><dct:title>&x;</dct:title>'
           '</dcat:Dataset></rdf:RDF>')
    url = site.add("xxe.rdf", xxe, "application/rdf+xml")
    with pytest.raises(UnsafeXmlError) as err:
        list(harvester(url, fast_http).records(FULL, "full"))
    assert "TOPSECRET" not in str(err.value) and "test-dcat" in str(err.value)


def test_json_ld_remote_context_is_not_fetched(site, fast_http):
    url = site.add("remote.jsonld", json.dumps({"@context": f"{site.url}/context.jsonld", "@id": "http://e/x",
                                                "@type": "dcat:Dataset"}), "application/ld+json")
    with pytest.raises(RdfSyntaxError, match="remote @context is never fetched"):
        list(harvester(url, fast_http).records(FULL, "full"))
    assert [r["path"] for r in site.requests] == ["/remote.jsonld"]


# ----------------------------------------------------------------------------- paging


@pytest.mark.parametrize("form", ["view", "paged"])
def test_both_hydra_forms_are_followed_to_the_end(site, fast_http, form):
    urls = _crafted_pages(site, form)
    h = harvester(urls[0], fast_http)
    ids = [r.native_id for r in h.records(FULL, "full")]
    assert ids == [f"https://data.example.org/id/ds-{i}" for i in range(6)]
    assert h.stats.pages == 3 and h.stats.complete_listing
    assert [r["path"] for r in site.requests] == [f"/{form}/page-{i}.ttl" for i in (1, 2, 3)]


def test_next_link_back_to_an_earlier_page_is_a_fatal_loop(site, fast_http):
    urls = _crafted_pages(site, "view")
    body, ctype = site.documents["/view/page-3.ttl"]
    site.add("view/page-3.ttl", body.decode() + f"<{urls[2]}> hydra:next <{urls[0]}> .\n", ctype)
    h = harvester(urls[0], fast_http)
    with pytest.raises(FatalSourceError, match="paging loop.*page-1.ttl"):
        list(h.records(FULL, "full"))
    assert not h.stats.complete_listing and len(site.requests) == 3


def test_own_published_feed_is_harvested_back_exactly(site, fast_http, tmp_path):
    """citycat's static feed (3+ pages, both Hydra forms on one node) → exactly its datasets, once each."""
    site.serve_directory(DATA)
    sources = [next(harvester(f"{site.url}/{n}", fast_http).records(FULL, "full"))
               for n in ("rostock_dcatde_dataset.rdf", "nobelmedia_dcatap_catalog.rdf")]
    crafted = list(harvester(f"{site.url}/quirks_crafted.ttl", fast_http).records(FULL, "full"))
    mapped = [map_dataset(r, CTX) for r in sources + crafted]
    feed = [FeedDataset("src", m.native_id, m.uri, m.ntriples(), T0, T0 + timedelta(days=1))
            for m in sorted(mapped, key=lambda m: m.native_id)]
    catalog = CatalogInfo(base_uri=site.url, title="t", description="d", publisher_name="p", publisher_uri=None,
                          homepage=None, licence_uri="http://publications.europa.eu/resource/authority/licence/CC0")
    result = write_feed(feed, tmp_path / "feed", catalog=catalog, page_size=3, generated_at=T0,
                        sources=[SourceInfo("src", "Src", "https://portal.example.org", "Test Council", None)])
    assert result.pages >= 3
    site.documents.clear()
    site.requests.clear()
    site.serve_directory(tmp_path / "feed")
    for ext in ("ttl", "rdf", "jsonld"):
        h = harvester(f"{site.url}/catalog.{ext}", fast_http)
        got = sorted(r.native_id for r in h.records(FULL, "full"))
        assert got == sorted(m.uri for m in mapped), ext  # the feed's datasets are its subject IRIs
        assert h.stats.pages == result.pages and h.stats.complete_listing


# ----------------------------------------------------------------------------- incremental


def test_modified_since_param_is_sent_and_the_window_still_applied_client_side(site, fast_http):
    urls = _crafted_pages(site, "view")
    for i, when in enumerate(["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"]):
        body, ctype = site.documents[f"/view/page-{i + 1}.ttl"]
        site.add(f"view/page-{i + 1}.ttl", body.decode().replace("2024-01-01T00:00:00Z", when), ctype)
    window = HarvestWindow(datetime(2024, 2, 1, tzinfo=timezone.utc), datetime(2024, 3, 1, tzinfo=timezone.utc))
    h = harvester(urls[0], fast_http, modified_since_param="modified_since")
    ids = [r.native_id for r in h.records(window, "incremental")]
    assert ids == ["https://data.example.org/id/ds-2", "https://data.example.org/id/ds-3"]
    assert {r["query"].get("modified_since") for r in site.requests} == {"2024-02-01T00:00:00Z"}
    assert h.stats.skipped == {"outside window": 4} and not h.stats.complete_listing


def test_without_the_option_no_parameter_is_sent(site, fast_http):
    urls = _crafted_pages(site, "paged")
    window = HarvestWindow(datetime(2030, 1, 1, tzinfo=timezone.utc), None)
    assert list(harvester(urls[0], fast_http).records(window, "incremental")) == []
    assert all(r["query"] == {} for r in site.requests)


# ----------------------------------------------------------------------------- faults


def test_server_error_then_recovery(site, fast_http, sleeps):
    urls = _crafted_pages(site, "view")
    site.inject("status", path="/view/page-2.ttl", times=2, status=500)
    assert len(list(harvester(urls[0], fast_http).records(FULL, "full"))) == 6
    assert len(sleeps.waits) == 2


def test_truncated_body_is_a_clear_error_naming_the_url(site, fast_http):
    urls = _crafted_pages(site, "view")
    site.inject("truncate", path="/view/page-2.ttl", times=-1)
    with pytest.raises(TruncatedResponseError, match="page-2.ttl"):
        list(harvester(urls[0], fast_http).records(FULL, "full"))


def test_body_cut_without_length_is_a_syntax_error_naming_the_url(site, fast_http):
    body = (DATA / "rostock_dcatde_dataset.rdf").read_bytes()
    url = site.add("cut.rdf", body[: len(body) // 2], "application/rdf+xml")
    with pytest.raises(RdfSyntaxError, match="cut.rdf"):
        list(harvester(url, fast_http).records(FULL, "full"))


def test_html_page_instead_of_rdf_is_refused(site, fast_http):
    urls = _crafted_pages(site, "view")
    site.inject("html200", path="/view/page-1.ttl")
    with pytest.raises(UnexpectedContentError, match="HTML page"):
        list(harvester(urls[0], fast_http).records(FULL, "full"))


def test_missing_page_names_status_and_url(site, fast_http):
    with pytest.raises(FatalSourceError, match="nothing.ttl answered HTTP 404"):
        list(harvester(f"{site.url}/nothing.ttl", fast_http).records(FULL, "full"))


def test_replay_mode_does_not_contact_the_source(fast_http):
    with pytest.raises(FatalSourceError, match="replay"):
        list(harvester("http://127.0.0.1:9/x.ttl", fast_http).records(FULL, "replay"))


# ----------------------------------------------------------------------------- crafted quirks


def _crafted(site, fast_http) -> dict[str, RawRecord]:
    site.serve_directory(DATA)
    return {r.native_id: r for r in harvester(f"{site.url}/quirks_crafted.ttl", fast_http).records(FULL, "full")}


def test_quirk_blank_node_datasets_get_identifier_or_content_hash(site, fast_http):
    records = _crafted(site, fast_http)
    assert "allotments-2024" in records
    hashed = [k for k in records if k.startswith("sha256:")]
    assert len(hashed) == 1 and "Public toilets" in records[hashed[0]].payload
    again = _crafted(site, fast_http)  # the hash is of the relabelled description: stable
    assert hashed[0] in again


def test_quirk_localhost_iris_are_native_ids_as_served(site, fast_http):
    records = _crafted(site, fast_http)
    rec = records["http://localhost:5000/dataset/street-lights"]
    assert "resource/1> <http://www.w3.org/ns/dcat#accessURL>" in rec.payload  # the distribution travels
    assert len(records) == 6  # the catalogue's dcat:dataset links add no second copy


def test_quirk_empty_typed_date_literals_do_not_break_the_window(site, fast_http):
    site.serve_directory(DATA)
    window = HarvestWindow(datetime(2024, 3, 2, tzinfo=timezone.utc), datetime(2024, 3, 6, tzinfo=timezone.utc))
    ids = [r.native_id for r in harvester(f"{site.url}/quirks_crafted.ttl", fast_http).records(window, "incremental")]
    # empty-dates has no usable dct:modified: kept; street-lights (03-01) and toilets (03-06) are outside
    assert sorted(ids) == ["allotments-2024", "https://data.example.org/id/empty-dates",
                           "https://data.example.org/id/prefixed-type", "https://data.example.org/id/string-urls"]


# ----------------------------------------------------------------------------- end to end


def _mixed_feed(site: LocalDcat) -> str:
    """Three pages, three syntaxes: Rostock as RDF/XML, Nobel as Turtle, the crafted quirks as JSON-LD
    served without a Content-Type (sniffed); linked by hydra:next on a PartialCollectionView."""
    docs = [(DATA / "rostock_dcatde_dataset.rdf", ox.RdfFormat.RDF_XML, ox.RdfFormat.RDF_XML, "application/rdf+xml"),
            (DATA / "nobelmedia_dcatap_catalog.rdf", ox.RdfFormat.RDF_XML, ox.RdfFormat.TURTLE, "text/turtle"),
            (DATA / "quirks_crafted.ttl", ox.RdfFormat.TURTLE, ox.RdfFormat.JSON_LD, None)]
    urls = [f"{site.url}/feed/page-{i}" for i in (1, 2, 3)]
    hydra = "http://www.w3.org/ns/hydra/core#"
    for i, (path, src_fmt, out_fmt, media_type) in enumerate(docs):
        triples = [q.triple for q in ox.parse(path=path, format=src_fmt)]
        view = ox.NamedNode(urls[i])
        triples.append(ox.Triple(view, ox.NamedNode(str(RDF_TYPE)), ox.NamedNode(hydra + "PartialCollectionView")))
        if i < 2:
            triples.append(ox.Triple(view, ox.NamedNode(hydra + "next"), ox.NamedNode(urls[i + 1])))
        site.add(f"feed/page-{i + 1}", ox.serialize(triples, format=out_fmt), media_type)
    return urls[0]


RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def test_run_source_of_kind_dcat_loads_the_inventory_and_publishes_conforming_pages(site, env_inventory):
    from citycat.config import load_sources
    from citycat.runner import run_source
    from helpers import feed_pages, validated_pages, write_sources

    tmp_path, inv = env_inventory
    first = _mixed_feed(site)
    sources = load_sources(write_sources(tmp_path / "sources.yaml", {
        "id": "feedsrc", "kind": "dcat", "url": first, "options": {"requests_per_second": 100}}))
    out = run_source(sources.sources[0], sources, run_id="r1", mode="full", now=T0, data_dir=tmp_path / "data",
                     inventory=inv)
    assert (out.status, out.created, out.failed) == ("success", 8, 0), out
    assert inv.count_datasets(status="active", source_id="feedsrc") == 8
    again = run_source(sources.sources[0], sources, run_id="r2", mode="full", now=T0 + timedelta(days=1),
                       data_dir=tmp_path / "data", inventory=inv)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)  # payloads and skolem IRIs are stable
    from citycat import pipeline

    pipeline.publish(sources, inventory=inv, data_dir=tmp_path / "data", generated_at=T0)
    pages = feed_pages(tmp_path / "data")
    assert len(pages) == 4  # 8 datasets, page_size 2
    violations = []
    for _, _, result in validated_pages(pages):
        violations += [m for m in result.messages if m.startswith("Violation")]
    # the one thing the normaliser cannot invent: the label of the Nobel sample's EuroVoc theme
    assert len(violations) == 1 and "eurovoc.europa.eu/100142 skos:prefLabel" in violations[0], violations


def test_publisher_described_inline_in_every_dataset_appears_once_per_description(site, fast_http):
    """RDF/XML repeats a shared publisher's triples per dataset (as Rostock's portal writes it); the parser
    does not de-duplicate, so the page graph must, or each description would carry every copy."""
    one = (DATA / "rostock_dcatde_dataset.rdf").read_text(encoding="utf-8")
    head, rest = one.split("<dcat:Dataset ", 1)
    body, tail = rest.rsplit("</dcat:Dataset>", 1)
    copies = "".join("<dcat:Dataset " + body.replace("c1be4007-d811-48fb-8818-2cb358b06a63", f"copy-{i}")
                     + "</dcat:Dataset>" for i in range(3))
    url = site.add("three.rdf", head + copies + tail, "application/rdf+xml")
    records = list(harvester(url, fast_http).records(FULL, "full"))
    assert len(records) == 3
    page = PageGraph([q.triple for q in ox.parse((head + copies + tail).encode(), format=ox.RdfFormat.RDF_XML)])
    publisher = ox.NamedNode("https://www.opendata-hro.de/organization/b952e781-ab4c-456a-8e7a-2845f7efaf83")
    assert len(page.by_subject[publisher]) == 2  # rdf:type + foaf:name, not 3 copies of each
