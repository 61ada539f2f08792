"""Register cell values → DCAT-AP terms: access classifications, lists, contacts, distributions.

Registers are typed by people, so every helper accepts free text; anything it cannot place becomes a
warning naming the register's own column header (the word the register's author will recognise).
"""

from __future__ import annotations

import re
from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from transforms import vocab
from transforms.common import Out, looks_like_file, offer_of
from transforms.distributions import Distributions
from transforms.rdf import plain_literal, terms
from transforms.uris import clean_url, is_email, is_http_url

DCAT, DCTERMS, RDF = (terms(ns) for ns in (DCAT, DCTERMS, RDF))

# Access / security classification → EU access-right code (docs/mapping-register.md explains each).
# UK Government Security Classifications: OFFICIAL is the baseline for routine public-sector information
# (releasable, e.g. under FOI); OFFICIAL-SENSITIVE is shared on a need-to-know basis; SECRET and above never
# published. The older GPMS word "RESTRICTED" and "on request" style answers mean "available under conditions".
ACCESS_RIGHTS: dict[str, str] = {
    **dict.fromkeys(["public", "open", "open data", "official", "unclassified", "not protectively marked", "npm",
                     "published", "none", "no restrictions", "unrestricted"], "PUBLIC"),
    **dict.fromkeys(["restricted", "official sensitive", "limited", "on request", "by request", "by agreement",
                     "registered users", "partners only", "shared", "licensed", "commercial",
                     "commercial in confidence"], "RESTRICTED"),
    **dict.fromkeys(["confidential", "highly confidential", "strictly confidential", "secret", "top secret",
                     "private", "personal", "personal data", "sensitive", "special category", "internal",
                     "internal only", "internal use only", "not public", "non public", "closed", "exempt"],
                    "NON_PUBLIC"),
}
NOT_DIGITAL = {"paper", "hard copy", "hardcopy", "physical", "microfiche", "microfilm", "card index"}
REQUEST_NOTE = ("Listed in the institution's information asset register but not published online: "
                "ask the information asset owner for access.")

_SPLIT = re.compile(r"\s*(?:[,;|\n]|\s/\s)\s*")
_EMAIL_IN = re.compile(r"[^\s<>()\[\],;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def fold(value: str) -> str:
    """Case-folded, hyphens/underscores as spaces, whitespace collapsed: how classification words compare."""
    return " ".join(re.sub(r"[-_]+", " ", value).split()).casefold()


def split_list(value: str | None) -> list[str]:
    """``"CSV, XLSX"``, ``"Database; PDF"``, ``"CSV / JSON"`` → items, order kept, duplicates dropped."""
    out: dict[str, None] = {}
    for item in _SPLIT.split(value or ""):
        if item.strip():
            out.setdefault(item.strip())
    return list(out)


def access_right(value: str) -> str | None:
    """EU access-right URI for a register's access/classification cell, or None when unknown."""
    code = ACCESS_RIGHTS.get(fold(value))
    return vocab.access_right(code) if code else None


def contact_parts(value: str) -> tuple[str | None, str | None]:
    """(name, e-mail) from ``"Parks Team <parks@x.gov.uk>"``, ``"parks@x.gov.uk"`` or ``"Democratic Services"``."""
    match = _EMAIL_IN.search(value)
    email = match.group(0).removeprefix("mailto:") if match and is_email(match.group(0).removeprefix("mailto:")) \
        else None
    name = value
    if match:
        name = (value[:match.start()] + value[match.end():])
    name = " ".join(name.replace("mailto:", "").strip(" <>()[],;:-\"'").split())
    return (name or None), email


def _file_types(raw: str | None, header: str, out: Out) -> list[vocab.FileType]:
    found: dict[str, vocab.FileType] = {}
    for word in split_list(raw):
        ft = vocab.file_type(word)
        if ft is not None:
            found.setdefault(ft.code, ft)
        elif fold(word) in NOT_DIGITAL:
            out.warn(header, f"{word!r}: held on paper, not a digital format (no dct:format)")
        else:
            out.warn(header, f"{word[:60]!r} has no EU file type")
    return list(found.values())


def distributions(base: str, ds: URIRef, url_raw: str | None, url_header: str, formats_raw: str | None,
                  format_header: str, fallback: str | None, licence_uri: str | None, out: Out) -> Distributions:
    """One ``dcat:Distribution`` per recognised format (or one without a format), all at the row's URL.

    A row without a URL still gets them, at ``fallback`` (the institution's or the source's web address),
    described as available on request: the inventory must show data that is held but not published.
    """
    result = Distributions()
    url = clean_url(url_raw) if url_raw else None
    if url_raw and not (url and is_http_url(url)):
        out.warn(url_header, f"not an http(s) URL {url_raw[:120]!r}")
        url = None
    types = _file_types(formats_raw, format_header, out)
    access = url or fallback
    if access is None:
        out.warn(url_header, "no URL, and neither the institution nor the source has a web address: no distribution")
        return result
    url_ft = vocab.file_type_for_url(url) if url else None
    # Only the link's own file extension makes it a download: the format column describes the asset, and
    # registers link web pages about it (CKAN's "single file format" rule would call those downloads).
    is_file = bool(url) and looks_like_file(url, None, url_ft, "")
    if url and not is_file and not offer_of("", None, url, False, ""):
        result.landing_page = url  # a web page about the data, not the data itself
    licence_ref = URIRef(licence_uri) if licence_uri else None
    for ft in types or [None]:
        node = result.node(base, ds, f"distribution-{ft.code.lower() if ft else ('link' if url else 'request')}", out)
        out.add(node, DCAT.accessURL, URIRef(access))
        result.access_urls.append(access)
        if ft is not None:
            result.add_file_type(node, ft, out)
        if licence_ref is not None:
            out.add(node, DCTERMS.license, licence_ref)
        if url is None:
            out.add(node, DCTERMS.description, plain_literal(REQUEST_NOTE))
            result.offer.add("request-only")
            continue
        download = is_file and (ft is None or url_ft is None or url_ft.code == ft.code or len(types) == 1)
        if download:
            out.add(node, DCAT.downloadURL, URIRef(url))
            result.download_urls.append(url)
        result.offer |= offer_of(ft.code.lower() if ft else "", ft, url, download, "")
    result.access_urls = list(dict.fromkeys(result.access_urls))
    result.download_urls = list(dict.fromkeys(result.download_urls))
    return result
