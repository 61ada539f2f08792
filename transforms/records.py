"""The ``dcat:CatalogRecord`` every mapping writes at ``<base>#record``.

Its ``dct:modified`` is the source's own modification time, never the harvest time: a harvest time
would change the content hash on every run and make every dataset look updated. Where the source
says nothing, the record has no ``dct:modified`` and the mapping's warning names the field it lacked.
"""

from __future__ import annotations

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS

from transforms.common import Out
from transforms.dates import ParsedDate
from transforms.rdf import iri, plain_literal, terms
from transforms.uris import fragment

DCAT, DCTERMS, FOAF, RDF, RDFS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF, RDFS))

DCAT_AP_3 = URIRef("https://semiceu.github.io/DCAT-AP/releases/3.0.1/")
MISSING = "missing: the catalogue record has no dct:modified (mandatory)"
LEFT_TO_FEED = "no date: the catalogue record has no dct:modified (the feed adds the inventory's)"


def catalog_record(base: str, ds: URIRef, identifier: str, modified: ParsedDate | None, out: Out, *,
                   missing: tuple[str, str], language: str | None = None, source: bool = False,
                   see_also: str | None = None) -> URIRef:
    """``#record`` about ``ds``, conforming to DCAT-AP 3.

    ``missing`` is the (field, message) warned when there is no ``modified``. With ``source``, a dated
    record also points (``dct:source``) at ``#source-record``, the portal's own record of the dataset,
    with ``see_also`` (its API address) as ``rdfs:seeAlso``.
    """
    rec = fragment(base, "record")
    out.add(rec, RDF.type, DCAT.CatalogRecord)
    out.add(rec, FOAF.primaryTopic, ds)
    out.add(rec, DCTERMS.identifier, plain_literal(identifier))
    out.add(rec, DCTERMS.conformsTo, DCAT_AP_3)
    out.add(DCAT_AP_3, RDF.type, DCTERMS.Standard)
    if language:
        out.concept(rec, DCTERMS.language, language)
    if not modified:
        out.warn(*missing)
        return rec
    out.add(rec, DCTERMS.modified, modified.literal)
    if source:
        src = fragment(base, "source-record")
        out.add(rec, DCTERMS.source, src)
        out.add(src, RDF.type, DCAT.CatalogRecord)
        out.add(src, FOAF.primaryTopic, ds)
        out.add(src, DCTERMS.identifier, plain_literal(identifier))
        out.add(src, DCTERMS.modified, modified.literal)
        if see_also:
            out.add(src, RDFS.seeAlso, iri(see_also))
    return rec


__all__ = ["DCAT_AP_3", "LEFT_TO_FEED", "MISSING", "catalog_record"]
