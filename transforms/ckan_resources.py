"""CKAN resources → ``dcat:Distribution``s, and how the dataset is offered (download / api / visualisation).

``dcat:accessURL`` is mandatory in DCAT-AP, so a resource without a usable URL still gets one (the
landing page) and a warning. ``dcat:downloadURL`` is only claimed when the URL looks like a file
(an upload, a file extension, or a file format with no query string): an API endpoint or a web page
is not a download. Everything is one pass over the resources, so 10,000 resources cost 10,000 steps.
"""

from __future__ import annotations

from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

from transforms import vocab
from transforms.common import SERVICE_WORDS, Out, byte_size, date_of, looks_like_file, offer_of, text
from transforms.distributions import Distributions
from transforms.text import clean_line, to_plain_text
from transforms.rdf import iri, plain_literal, terms, typed_literal
from transforms.uris import clean_url

# Cached term access on the hot path (transforms.rdf.terms): the same URIs as rdflib's namespaces.
DCAT, DCTERMS, RDF, XSD = (terms(ns) for ns in (DCAT, DCTERMS, RDF, XSD))

RESOURCE_DESCRIPTION_MAX = 5_000


def distributions(pkg: dict[str, Any], base: str, dataset: URIRef, landing: str | None,
                  licence_uri: str | None, out: Out) -> Distributions:
    res = pkg.get("resources")
    result = Distributions()
    if res is None:
        return result
    if not isinstance(res, list):
        out.warn("resources", f"expected a list, got {type(res).__name__}")
        return result
    licence_ref = iri(licence_uri) if licence_uri else None  # one node for every distribution
    seen_ids: set[str] = set()
    for i, r in enumerate(res):
        where = f"resources[{i}]"
        if not isinstance(r, dict):
            out.warn(where, f"expected an object, got {type(r).__name__}")
            continue
        if text(r.get("state")) == "deleted":
            continue
        rid = text(r.get("id")) or str(i)
        if rid in seen_ids:
            rid = f"{rid}-{i}"
        seen_ids.add(rid)
        node = result.node(base, dataset, f"distribution-{rid}", out)

        raw_url = text(r.get("url"))
        url = clean_url(raw_url) if raw_url else None
        if url and url.startswith("mailto:"):
            url = None
        if url is None:
            what = f"not a usable URL {raw_url[:120]!r}" if raw_url else "no URL"
            if landing:
                out.warn(f"{where}.url", f"{what}; landing page used as dcat:accessURL")
            else:
                out.warn(f"{where}.url", f"{what} and no landing page: distribution has no dcat:accessURL")
        access = url or landing
        if access:
            out.add(node, DCAT.accessURL, iri(access))
            result.access_urls.append(access)

        fmt_raw = text(r.get("format"))
        ft = vocab.file_type(fmt_raw) if fmt_raw else None
        mt_raw = text(r.get("mimetype"))
        url_ft = vocab.file_type_for_url(url) if url else None
        if ft is None and mt_raw:
            ft = vocab.file_type(mt_raw)
        if ft is None and not fmt_raw:
            ft = url_ft
        if fmt_raw and ft is None and fmt_raw.lower() not in SERVICE_WORDS:
            out.warn(f"{where}.format", f"{fmt_raw[:60]!r} has no EU file type")
        if ft is not None:
            result.add_format(node, ft, out)
        mt_uri = vocab.media_type_uri(mt_raw) if mt_raw else None
        if mt_raw and mt_uri is None:
            out.warn(f"{where}.mimetype", f"{mt_raw[:60]!r} is not an IANA media type")
        if mt_uri is None and ft is not None and ft.media_type:
            mt_uri = vocab.media_type_uri(ft.media_type)
        if mt_uri:
            result.add_media_type(node, mt_uri, out)

        url_type = (text(r.get("url_type")) or "").lower()
        download = bool(url) and looks_like_file(url, ft, url_ft, url_type)
        if download:
            out.add(node, DCAT.downloadURL, iri(url))
            result.download_urls.append(url)
        rtype = (text(r.get("resource_type")) or "").lower()
        result.offer |= offer_of((fmt_raw or "").lower(), ft, url or "", download, rtype)

        if (title := clean_line(r.get("name"))):
            out.add(node, DCTERMS.title, plain_literal(title))
        if text(r.get("description")):
            desc = to_plain_text(r.get("description"), RESOURCE_DESCRIPTION_MAX)
            if desc.text:
                out.add(node, DCTERMS.description, plain_literal(desc.text))
            if desc.truncated:
                out.warn(f"{where}.description", f"{desc.original_length} characters cut to {RESOURCE_DESCRIPTION_MAX}")
        size_raw = r.get("size")
        if text(size_raw) is not None:
            size = byte_size(size_raw)
            if size is None:
                out.warn(f"{where}.size", f"not a byte count {str(size_raw)[:40]!r}")
            else:
                out.add(node, DCAT.byteSize, typed_literal(str(size), XSD.nonNegativeInteger))
        if licence_uri:
            out.add(node, DCTERMS.license, licence_ref or URIRef(licence_uri))
        if (d := date_of(f"{where}.created", r.get("created"), out)):
            out.add(node, DCTERMS.issued, d.literal)
        modified = r.get("last_modified") or r.get("metadata_modified")
        if (d := date_of(f"{where}.last_modified", modified, out)):
            out.add(node, DCTERMS.modified, d.literal)
    return result
