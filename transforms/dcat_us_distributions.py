"""DCAT-US ``distribution[]`` → ``dcat:Distribution``s, and how the dataset is offered.

DCAT-US says outright which URL is a file (``downloadURL``) and which is a way in (``accessURL``: an API,
a map service, or just a web page), so "download" here is simply "has a downloadURL". The API /
visualisation classification of formats and URLs is the one the CKAN mapping uses, so a dataset counts the
same way in the inventory whichever kind of catalogue listed it.

Distribution nodes are named after a hash of their URL (``#distribution-<hash>``), not their position:
ArcGIS Hub reorders distributions between exports, and a reorder must not look like a change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from transforms import vocab
from transforms.common import Out, offer_of, text
from transforms.distributions import Distributions
from transforms.rdf import plain_literal, terms
from transforms.text import clean_line, to_plain_text
from transforms.uris import clean_url, is_http_url

DCAT, DCTERMS, FOAF, RDF = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF))
DESCRIPTION_MAX = 5_000


def _url(d: dict[str, Any], key: str, where: str, out: Out) -> str | None:
    raw = text(d.get(key))
    if raw is None:
        return None
    url = clean_url(raw)
    if url is None or not is_http_url(url) and not url.startswith("ftp://"):
        out.warn(f"{where}.{key}", f"not a usable URL {raw[:120]!r}")
        return None
    return url


def _node_name(d: dict[str, Any], url: str | None, taken: set[str]) -> str:
    seed = url or json.dumps(d, sort_keys=True, ensure_ascii=False, default=str)
    name = "distribution-" + hashlib.sha1(seed.encode("utf-8")).hexdigest()[:12]
    n, unique = 2, name
    while unique in taken:
        unique, n = f"{name}-{n}", n + 1
    taken.add(unique)
    return unique


def _is_page(ft: vocab.FileType | None, url: str) -> bool:
    """A web page rather than data: format "Web page"/HTML, or no format and an .htm(l) URL."""
    ft = ft or vocab.file_type_for_url(url)
    return ft is not None and ft.kind == "page"


def distributions(ds: dict[str, Any], base: str, node: URIRef, landing: str | None, licence_uri: str | None,
                  out: Out) -> Distributions:
    result = Distributions()
    items = ds.get("distribution")
    if items is None:
        return result
    if not isinstance(items, list):
        out.warn("distribution", f"expected a list, got {type(items).__name__}")
        return result
    taken: set[str] = set()
    for i, d in enumerate(items):
        where = f"distribution[{i}]"
        if not isinstance(d, dict):
            out.warn(where, f"expected an object, got {type(d).__name__}")
            continue
        download = _url(d, "downloadURL", where, out)
        access = _url(d, "accessURL", where, out)
        dist = result.node(base, node, _node_name(d, download or access, taken), out)
        # DCAT-AP makes accessURL mandatory; for a file it is the file itself
        entry = access or download or landing
        if entry:
            out.add(dist, DCAT.accessURL, URIRef(entry))
            result.access_urls.append(entry)
            if not (access or download):
                out.warn(where, "neither accessURL nor downloadURL; the landing page is used as dcat:accessURL")
        else:
            out.warn(where, "neither accessURL nor downloadURL and no landing page: no dcat:accessURL")
        if download:
            out.add(dist, DCAT.downloadURL, URIRef(download))
            result.download_urls.append(download)

        fmt_raw = text(d.get("format"))
        mt_raw = text(d.get("mediaType"))
        ft = vocab.file_type(fmt_raw) if fmt_raw else None
        if ft is None and mt_raw:
            ft = vocab.file_type(mt_raw)
        if ft is None and not fmt_raw:
            ft = vocab.file_type_for_url(download or access)
        if fmt_raw and ft is None:
            out.warn(f"{where}.format", f"{fmt_raw[:60]!r} has no EU file type")
        if ft is not None:
            result.add_format(dist, ft, out)
        mt_uri = vocab.media_type_uri(mt_raw) if mt_raw else None
        if mt_raw and mt_uri is None:
            out.warn(f"{where}.mediaType", f"{mt_raw[:60]!r} is not an IANA-registered media type")
        if mt_uri is None and ft is not None and ft.media_type:
            mt_uri = vocab.media_type_uri(ft.media_type)
        if mt_uri:
            result.add_media_type(dist, mt_uri, out)

        url = download or access or ""
        result.offer |= offer_of((fmt_raw or "").lower(), ft, url, bool(download), "")
        if access and not download and _is_page(ft, access):
            result.pages.append(access)

        if title := clean_line(d.get("title")):
            out.add(dist, DCTERMS.title, plain_literal(title))
        if text(d.get("description")):
            desc = to_plain_text(d.get("description"), DESCRIPTION_MAX)
            if desc.text:
                out.add(dist, DCTERMS.description, plain_literal(desc.text))
        if licence_uri:
            out.add(dist, DCTERMS.license, URIRef(licence_uri))
        if (doc := _url(d, "describedBy", where, out)):
            out.add(dist, FOAF.page, URIRef(doc))
            out.add(URIRef(doc), RDF.type, FOAF.Document)
        if (std := _url(d, "conformsTo", where, out)):
            out.add(dist, DCTERMS.conformsTo, URIRef(std))
            out.add(URIRef(std), RDF.type, DCTERMS.Standard)
    return result
