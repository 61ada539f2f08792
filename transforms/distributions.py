"""What every distribution builder shares: the flat-row columns it collects and how a file type
becomes ``dct:format`` and ``dcat:mediaType``.

Each source kind finds its distributions its own way (CKAN resources, data.json entries, register
cells, Socrata/OpenDataSoft API addresses, ISO online resources, repository identifiers), but the
row must count formats, media types, URLs and the offer the same way for all, or the audit report
compares unlike with unlike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

from transforms import vocab
from transforms.common import Out, offer_of
from transforms.rdf import plain_literal, terms
from transforms.uris import fragment

DCAT, DCTERMS, RDF, XSD = (terms(ns) for ns in (DCAT, DCTERMS, RDF, XSD))


@dataclass
class Distributions:
    """The distributions of one dataset as the flat row sees them."""

    formats: list[str] = field(default_factory=list)  # EU file-type codes, each once
    media_types: list[str] = field(default_factory=list)  # IANA media types, each once
    access_urls: list[str] = field(default_factory=list)
    download_urls: list[str] = field(default_factory=list)
    offer: set[str] = field(default_factory=set)
    count: int = 0
    pages: list[str] = field(default_factory=list)  # accessURL-only web pages (landing pages listed as data)
    landing_page: str | None = None  # a link that turned out to be a page about the data

    def node(self, base: str, dataset: URIRef, name: str, out: Out) -> URIRef:
        """A new ``dcat:Distribution`` at ``<base>#<name>``, linked from the dataset and counted."""
        node = fragment(base, name)
        out.add(dataset, DCAT.distribution, node)
        out.add(node, RDF.type, DCAT.Distribution)
        self.count += 1
        return node

    def add_format(self, node: URIRef, ft: vocab.FileType, out: Out) -> None:
        out.concept(node, DCTERMS.format, ft.uri)
        if ft.code not in self.formats:
            self.formats.append(ft.code)

    def add_media_type(self, node: URIRef, mt_uri: str, out: Out) -> None:
        out.concept(node, DCAT.mediaType, mt_uri)
        code = mt_uri.rsplit("media-types/", 1)[-1]
        if code not in self.media_types:
            self.media_types.append(code)

    def add_file_type(self, node: URIRef, ft: vocab.FileType, out: Out) -> None:
        """``dct:format``, and the media type the file type implies (where it names one)."""
        self.add_format(node, ft, out)
        if ft.media_type and (mt := vocab.media_type_uri(ft.media_type)):
            self.add_media_type(node, mt, out)

    def add(self, base: str, dataset: URIRef, key: str, *, access: str, title: str | None, fmt: str | None,
            download: bool, service: str | None, licence: str | None, out: Out,
            byte_size: int | None = None) -> URIRef:
        """One distribution at a known address (``<base>#distribution-<key>``), as the Socrata and OpenDataSoft
        mappings build them. ``service`` is the offer word of a non-file distribution (``api``,
        ``visualisation``); ``download`` claims ``dcat:downloadURL``."""
        node = self.node(base, dataset, f"distribution-{key}", out)
        out.add(node, DCAT.accessURL, URIRef(access))
        self.access_urls.append(access)
        if download:
            out.add(node, DCAT.downloadURL, URIRef(access))
            self.download_urls.append(access)
        if title:
            out.add(node, DCTERMS.title, plain_literal(title))
        ft = vocab.file_type(fmt) if fmt else None
        if ft is not None:
            self.add_file_type(node, ft, out)
        if licence:
            out.add(node, DCTERMS.license, URIRef(licence))
        if byte_size is not None:
            out.add(node, DCAT.byteSize, Literal(str(byte_size), datatype=XSD.nonNegativeInteger))
        self.offer |= offer_of(service or "", ft, access, download, service or "")
        return node

    def columns(self) -> dict[str, Any]:
        """The flat row's distribution columns; a dataset offered no way at all is ``request-only``."""
        return {"formats": sorted(self.formats), "media_types": sorted(self.media_types),
                "access_urls": self.access_urls, "download_urls": self.download_urls,
                "distribution_count": self.count, "offer": sorted(self.offer) if self.offer else ["request-only"]}


__all__ = ["Distributions"]
