"""Constraints → licence and access rights, and online resources → distributions, for the CSW mapping.

Split from :mod:`transforms.iso19139_build` (see its docstring for the decisions); both work on a
:class:`~transforms.geo_draft.GeoDraft`, so ISO 19139 and CSW Dublin Core records are judged alike.
"""

from __future__ import annotations

import re
from typing import Any

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS

from transforms import vocab
from transforms.common import Out, link_licence, looks_like_file, offer_of
from transforms.distributions import Distributions
from transforms.geo_draft import GeoDraft, Online
from transforms.iso19139_vocab import protocol_kind
from transforms.rdf import plain_literal, terms
from transforms.text import DEFAULT_MAX_CHARS, clean_line
from transforms.uris import clean_url, fragment, is_http_url

DCAT, DCTERMS, FOAF, RDF, RDFS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF, RDFS))
_NO_LIMITS = re.compile(r"^(no limitations?( on public access)?|geen beperkingen( voor publieke toegang)?|"
                        r"keine beschränkungen|aucune restriction|unrestricted)\.?$", re.I)
# words that make a constraint text a condition of use (a licence), whichever block it sits in
_USE_WORDS = re.compile(r"licen[cs]|licentie|lizenz|hergebruik|re-?use|copyright|attribution|naamsvermelding|"
                        r"open government|creative commons|\bCC[- ]?(BY|0)\b", re.I)
_INSPIRE_LIMITS = "inspire.ec.europa.eu/metadata-codelist/LimitationsOnPublicAccess/"


def rights(d: GeoDraft, base: str, ds: URIRef, row: dict[str, Any], out: Out) -> str | None:
    """Licence and access rights from the constraints; returns the licence node's URI for distributions."""
    access: str | None = None
    access_texts: list[str] = []
    use: list[tuple[str, str, str]] = []
    for r in d.rights:
        names_licence = bool(vocab.licence(r.href) or vocab.licence_in_text(r.text) or _USE_WORDS.search(r.text))
        if _INSPIRE_LIMITS in r.href:
            access = access or ("PUBLIC" if r.href.rstrip("/").endswith("noLimitations") else "NON_PUBLIC")
        elif names_licence or not r.access:
            use.append((r.field, r.text, r.href))
        elif r.text and _NO_LIMITS.match(r.text.strip()):
            access = access or "PUBLIC"
        elif r.text:
            access_texts.append(r.text)
    if access is None and any(c.lower() == "restricted" for _, c in d.access_codes):
        access = "RESTRICTED"
    ordered = [h for _, _, h in use if h] + [t for _, t, _ in use if t and re.search(r"https?://|www\.", t)] + \
              [t for _, t, _ in use if t and not re.search(r"https?://|www\.", t)]
    lic = next((x for x in (vocab.licence(c) or vocab.licence_in_text(c) for c in ordered) if x and x.uri), None)
    # the label shown is the text that names the licence, else the first that talks like one
    labels = sorted((t for _, t, _ in use if t), key=lambda t: (not (lic and vocab.licence_in_text(t) == lic),
                                                                not _USE_WORDS.search(t)))
    if labels:
        row["licence_label"] = labels[0][:500]
    node: str | None = None
    if lic:
        node = lic.uri
        row["licence_uri"], row["licence_open"] = lic.uri, lic.open
        link_licence(ds, lic.uri, True, out)
    elif labels:
        node = str(fragment(base, "licence"))
        out.add(ds, DCTERMS.license, URIRef(node))
        out.add(URIRef(node), RDF.type, DCTERMS.LicenseDocument)
        out.add(URIRef(node), RDFS.label, plain_literal("\n".join(dict.fromkeys(labels))[:DEFAULT_MAX_CHARS]))
        out.warn(use[0][0], f"no known licence named in {labels[0][:120]!r}; kept as licence text")
    if access:
        uri = vocab.access_right(access)
        out.concept(ds, DCTERMS.accessRights, uri)
        row["access_rights"] = uri
    elif access_texts:
        stmt = fragment(base, "access-rights")
        out.add(ds, DCTERMS.accessRights, stmt)
        out.add(stmt, RDF.type, DCTERMS.RightsStatement)
        out.add(stmt, RDFS.label, plain_literal("\n".join(dict.fromkeys(access_texts))[:DEFAULT_MAX_CHARS]))
    return node


def distributions(d: GeoDraft, base: str, ds: URIRef, licence: str | None, row: dict[str, Any], out: Out) -> None:
    """Online resources → distributions (services, downloads) and pages (first = landing page)."""
    fts = [(f, v, vocab.file_type(v)) for f, v in d.formats]
    for f, v, ft in fts:
        if ft is None:
            out.warn(f, f"{v[:60]!r} has no EU file type")
    data_ft = next((ft for _, _, ft in fts if ft and ft.kind == "file"), None)
    pages: list[str] = []
    targets: list[tuple[Online, str, str]] = []  # (resource, url, kind)
    seen: set[str] = set()
    for res in d.online:
        url = clean_url(res.url)
        if not url or not is_http_url(url):
            out.warn(res.field, f"{res.url[:80]!r} is not an http(s) URL")
            continue
        if url in seen:
            continue
        seen.add(url)
        kind = protocol_kind(res.protocol, res.function)
        if kind is None:
            found = offer_of("", None, url, False, "")
            kind = "visualisation" if "visualisation" in found else "api" if "api" in found else "page"
        if kind == "page" and looks_like_file(url, None, vocab.file_type_for_url(url), ""):
            kind = "download"  # a WWW:LINK (or bare link) to a .zip/.csv is a file, whatever the protocol says
        (pages.append(url) if kind == "page" else targets.append((res, url, kind)))
    for f, v in d.pages:
        if (url := clean_url(v)) and is_http_url(url) and url not in seen:
            seen.add(url)
            out.add(ds, FOAF.page, URIRef(url))
            out.add(URIRef(url), RDF.type, FOAF.Document)
    landing = pages[0] if pages else None
    for page in pages:
        out.add(ds, DCAT.landingPage if page == landing else FOAF.page, URIRef(page))
        out.add(URIRef(page), RDF.type, FOAF.Document)
    row["landing_page"] = landing
    if not targets and landing:  # only a web page: DCAT-AP wants a distribution, its data is on request there
        targets.append((Online("distributionInfo/onLine", landing), landing, "page"))
    dists = Distributions()
    for i, (res, url, kind) in enumerate(targets, 1):
        node = dists.node(base, ds, f"distribution-{i}", out)
        out.add(node, DCAT.accessURL, URIRef(url))
        dists.access_urls.append(url)
        if res.name:
            out.add(node, DCTERMS.title, plain_literal(clean_line(res.name)))
        if res.description:
            out.add(node, DCTERMS.description, plain_literal(clean_line(res.description)))
        if kind == "page":
            ft = None
        elif kind == "download":
            out.add(node, DCAT.downloadURL, URIRef(url))
            dists.download_urls.append(url)
            ft = vocab.file_type_for_url(url) or data_ft
        else:
            ft = vocab.file_type(res.protocol.split(":")[-1].split("-")[0]) if res.protocol else None
            service = fragment(base, f"service-{i}")
            out.add(node, DCAT.accessService, service)
            out.add(service, RDF.type, DCAT.DataService)
            out.add(service, DCAT.endpointURL, URIRef(url))
            out.add(service, DCTERMS.title, plain_literal(clean_line(res.name) or res.protocol or kind))
            out.add(service, DCAT.servesDataset, ds)
        if ft is not None:
            dists.add_file_type(node, ft, out)
        if licence:
            out.add(node, DCTERMS.license, URIRef(licence))
        if kind != "page":
            dists.offer.update(offer_of("", ft, url, kind == "download", kind) or {kind})
    row.update(dists.columns())


__all__ = ["distributions", "rights"]
