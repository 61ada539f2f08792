"""The tombstone feed: withdrawn datasets, so downstream harvesters can delete them too.

DCAT has no term for "this dataset is gone", so each withdrawn dataset is an
ActivityStreams 2.0 ``as:Tombstone`` (the W3C vocabulary for a deleted object) with
``as:formerType dcat:Dataset`` and ``as:deleted`` (the withdrawal time), plus its
``dct:identifier`` (the source's record id) and ``dct:source`` → the source's
sub-catalogue. The page is a ``hydra:Collection`` (``<base>/catalog/withdrawn``) with the
tombstones as ``hydra:member`` and the same two Hydra paging forms as the catalogue.
``.json`` gives the same list as plain JSON for scripts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import pyoxigraph as ox
from rdflib.namespace import DCAT, DCTERMS, RDF, Namespace

from publish.feed_rdf import HYDRA, dt_literal, paged_collection_triples, serialize, source_catalog_uri

AS = Namespace("https://www.w3.org/ns/activitystreams#")  # not shipped by rdflib.namespace (7.6)


def _n(term: str) -> ox.NamedNode:
    return ox.NamedNode(str(term))


def tombstone_triples(base: str, rows: list[dict[str, Any]], *, page: int, pages: int, total: int,
                      page_size: int, page_url: Callable[[int], str]) -> list[ox.Triple]:
    coll = _n(f"{base}/catalog/withdrawn")
    a = _n(RDF.type)
    out = paged_collection_triples(f"{base}/catalog/withdrawn", page_url, page=page, pages=pages, total=total,
                                   page_size=page_size)
    for r in rows:
        if not r.get("uri"):
            continue
        node = _n(r["uri"])
        out += [ox.Triple(coll, _n(HYDRA.member), node),
                ox.Triple(node, a, _n(AS.Tombstone)),
                ox.Triple(node, _n(AS.formerType), _n(DCAT.Dataset)),
                ox.Triple(node, _n(AS.deleted), dt_literal(r["withdrawn_at"], what="withdrawn_at")),
                ox.Triple(node, _n(DCTERMS.identifier), ox.Literal(r["native_id"])),
                ox.Triple(node, _n(DCTERMS.source), _n(source_catalog_uri(base, r["source_id"])))]
        if r.get("withdrawn_reason"):
            out.append(ox.Triple(node, _n(AS.summary), ox.Literal(r["withdrawn_reason"])))
    return out


def tombstone_rdf(base: str, rows: list[dict[str, Any]], ext: str, **paging: Any) -> bytes:
    return serialize(tombstone_triples(base, rows, **paging), ext)


def tombstone_json(rows: list[dict[str, Any]], *, page: int, pages: int, total: int, page_size: int,
                   page_url: Callable[[int], str]) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return None if t is None else dt_literal(t).value

    return {"total": total, "page": page, "pages": pages, "page_size": page_size,
            "next": page_url(page + 1) if page < pages else None,
            "previous": page_url(page - 1) if page > 1 else None,
            "items": [{"uri": r["uri"], "source_id": r["source_id"], "native_id": r["native_id"],
                       "withdrawn_at": iso(r["withdrawn_at"]), "reason": r.get("withdrawn_reason")} for r in rows]}
