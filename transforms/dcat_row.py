"""The flat row of a normalised DCAT dataset, read back from its finished DCAT-AP 3 triples.

Reading the row from the output graph (rather than from the source as the CKAN mapping does) keeps the
two from disagreeing: whatever the normaliser upgraded, fixed or dropped is reflected in both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDFS, SKOS
from rdflib.term import Node

from transforms import vocab
from transforms.common import looks_like_file, offer_of
from transforms.rdf import LOCN, VCARD

_EU = vocab.EU


class _Index:
    def __init__(self, triples: list) -> None:
        self.sp: dict[tuple[Node, Node], list[Node]] = defaultdict(list)
        for s, p, o in triples:
            self.sp[(s, p)].append(o)

    def all(self, s: Node, p: Node) -> list[Node]:
        return list(dict.fromkeys(self.sp.get((s, p), ())))

    def one(self, s: Node, p: Node) -> Node | None:
        values = self.all(s, p)
        if not values:
            return None
        values.sort(key=lambda o: (not isinstance(o, Literal) or o.language not in (None, "en"), str(o)))
        return values[0]

    def text(self, s: Node, p: Node) -> str | None:
        v = self.one(s, p)
        return str(v) if v is not None else None


def _code(uri: str, table: str) -> str | None:
    prefix = f"{_EU}{table}/"
    return uri[len(prefix):] if uri.startswith(prefix) else None


def row_of(triples: list, ds: URIRef) -> dict[str, Any]:
    """Every FLAT_COLUMNS value that comes from the graph (identity columns are the caller's)."""
    g = _Index(triples)
    row: dict[str, Any] = {"title": g.text(ds, DCTERMS.title), "description": g.text(ds, DCTERMS.description)}
    pub = g.one(ds, DCTERMS.publisher)
    if pub is not None:
        row["publisher"] = g.text(pub, FOAF.name) or g.text(pub, SKOS.prefLabel) or g.text(pub, VCARD.fn)
    licences = g.all(ds, DCTERMS.license)
    dists = g.all(ds, DCAT.distribution)
    for d in dists:
        licences += [x for x in g.all(d, DCTERMS.license) if x not in licences]
    if licences:
        uri = str(licences[0])
        lic = vocab.licence(uri)
        row.update(licence_uri=uri, licence_label=lic.label if lic else uri, licence_open=lic.open if lic else None)
    row["access_rights"] = g.text(ds, DCTERMS.accessRights)

    formats: dict[str, None] = {}
    media: dict[str, None] = {}
    offer: set[str] = set()
    access: list[str] = []
    download: list[str] = []
    for d in dists:
        fts = [vocab.file_type(str(f)) for f in g.all(d, DCTERMS.format)]
        fts = [ft for ft in fts if ft is not None]
        for ft in fts:
            formats.setdefault(ft.code)
        for m in g.all(d, DCAT.mediaType):
            media.setdefault(str(m).rsplit("media-types/", 1)[-1])
        urls = [str(u) for u in g.all(d, DCAT.accessURL)]
        downs = [str(u) for u in g.all(d, DCAT.downloadURL)]
        access += urls
        download += downs
        url = (downs or urls or [""])[0]
        ft = fts[0] if fts else None
        is_file = bool(downs) or (bool(url) and looks_like_file(url, ft, vocab.file_type_for_url(url), ""))
        offer |= offer_of((ft.code.lower() if ft else ""), ft, url, is_file,
                           "api" if g.all(d, DCAT.accessService) else "")
    row.update(formats=sorted(formats), media_types=sorted(media), access_urls=access, download_urls=download,
               distribution_count=len(dists), offer=sorted(offer) if offer else ["request-only"])

    for col, p in (("issued", DCTERMS.issued), ("modified", DCTERMS.modified)):
        row[col] = g.text(ds, p)
    freq = g.text(ds, DCTERMS.accrualPeriodicity)
    row["frequency"] = _code(freq, "frequency") if freq else None
    row["themes"] = sorted({c for t in g.all(ds, DCAT.theme) if (c := _code(str(t), "data-theme"))})
    row["keywords"] = [str(k) for k in g.all(ds, DCAT.keyword)]
    spatial = g.one(ds, DCTERMS.spatial)
    if spatial is not None:
        skolem = f"{str(ds).split('#', 1)[0]}#" in str(spatial) or "#spatial-" in str(spatial)
        label = g.text(spatial, SKOS.prefLabel) or g.text(spatial, RDFS.label)
        geometry = g.text(spatial, LOCN.geometry) or g.text(spatial, DCAT.bbox)
        row["spatial"] = (label or (geometry or "")[:500] or None) if skolem else str(spatial)
    temporal = g.one(ds, DCTERMS.temporal)
    if temporal is not None:
        row["temporal_start"], row["temporal_end"] = g.text(temporal, DCAT.startDate), g.text(temporal, DCAT.endDate)
    contact = g.one(ds, DCAT.contactPoint)
    if contact is not None:
        row["contact_name"] = g.text(contact, VCARD.fn)
        email = g.text(contact, VCARD.hasEmail)
        row["contact_email"] = email[7:] if email and email.startswith("mailto:") else email
    row["landing_page"] = g.text(ds, DCAT.landingPage)
    return row
