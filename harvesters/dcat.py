"""DCAT catalogue documents in any RDF syntax, paged with Hydra (``kind: dcat``).

A DCAT feed is one RDF document per page: Turtle, RDF/XML, JSON-LD or N-Triples, picked from the
response's ``Content-Type`` (portals often say ``text/plain`` or ``application/octet-stream``, so an
unknown or generic type falls back to sniffing the body). Pages link to the next one with
``hydra:next`` (current Hydra, on a ``hydra:PartialCollectionView``) or ``hydra:nextPage`` (the
older ``hydra:PagedCollection``, which ckanext-dcat still writes); both are read, and a link to a
page already fetched is a loop (:class:`FatalSourceError`, from the shared paginator).

One raw record per ``dcat:Dataset`` (a subject typed so, or an object of ``dcat:dataset``). Its
payload is the dataset's **concise bounded description** as N-Triples: the dataset's own triples,
plus, recursively, those of every blank node it reaches and of the IRI nodes it *owns* (reached by
:data:`OWNED`: distributions, contact point, publisher, creator, temporal/spatial coverage,
qualified attributions...) as described in this document. Other datasets and the catalogue are never pulled in. Blank nodes are
relabelled ``_:b1, _:b2...`` in a deterministic walk from the dataset, so the same page gives the same
payload bytes on every run (parsers invent fresh labels).

``native_id`` is the dataset IRI; for a blank-node dataset its first ``dct:identifier``, else
``sha256:`` + the SHA-256 of the relabelled, sorted N-Triples of its description (stable while the
description is unchanged; an edit makes it a new record, which a full harvest then withdraws).

Incremental: with ``modified_since_param`` set, each page request carries
``<param>=<window start, ISO 8601 UTC>``; whether or not the server honours it, records are then
filtered client-side by their modification time (the ``dct:modified`` of the ``dcat:CatalogRecord``
whose ``foaf:primaryTopic`` is the dataset, else the dataset's own ``dct:modified``). Records with no
readable modification time are kept (counted in ``stats.skipped["undated, kept"]``'s log line only).

Safety: pyoxigraph's RDF/XML parser expands internal DTD entities (a billion-laughs document becomes
gigabytes) and rdflib's, via expat, is slow to refuse them; so every RDF/XML body is first screened
with ``defusedxml`` (DTD entity declarations and external references refused) and only then parsed by
pyoxigraph. pyoxigraph's JSON-LD parser never fetches a remote ``@context`` (it fails instead, which
is reported), and bodies are size-capped by the shared HTTP client.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterator, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyoxigraph as ox
from pydantic import Field
from rdflib.namespace import DCAT, DCTERMS, FOAF, PROV, RDF, Namespace

from harvesters.base import (FatalSourceError, HarvestWindow, HttpOptions, Mode, RawRecord, now_iso, parse_utc,
                             register)
from harvesters.http import HttpHarvester, UnexpectedContentError
from harvesters.paging import NextLinkPaginator

log = logging.getLogger("citycat.harvesters.dcat")

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
ACCEPT = ("text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8, application/n-triples;q=0.8, "
          "application/xml;q=0.5, */*;q=0.1")
SYNTAXES = {"turtle": ox.RdfFormat.TURTLE, "rdf-xml": ox.RdfFormat.RDF_XML, "json-ld": ox.RdfFormat.JSON_LD,
            "n-triples": ox.RdfFormat.N_TRIPLES}
# Media types portals actually send for RDF; generic ones (text/plain, octet-stream) mean "sniff".
_BY_MEDIA_TYPE = {"text/turtle": "turtle", "application/x-turtle": "turtle", "text/n3": "turtle",
                  "application/rdf+xml": "rdf-xml", "application/xml": "rdf-xml", "text/xml": "rdf-xml",
                  "application/ld+json": "json-ld", "application/json": "json-ld",
                  "application/n-triples": "n-triples"}


def _n(term: object) -> ox.NamedNode:
    return ox.NamedNode(str(term))


A, T_DATASET, P_DATASET = _n(RDF.type), _n(DCAT.Dataset), _n(DCAT.dataset)
P_MODIFIED, P_IDENTIFIER, P_PRIMARY_TOPIC = _n(DCTERMS.modified), _n(DCTERMS.identifier), _n(FOAF.primaryTopic)
NEXT_LINKS = (_n(HYDRA.next), _n(HYDRA.nextPage))
VIEW_TYPES = frozenset({_n(HYDRA.PartialCollectionView), _n(HYDRA.PagedCollection)})
# Properties whose IRI objects belong to the dataset's description (their triples travel with it).
OWNED = frozenset(_n(p) for p in (DCAT.distribution, DCAT.contactPoint, ADMS.contactPoint, DCTERMS.publisher,
                                  DCTERMS.creator, DCTERMS.temporal, DCTERMS.spatial, DCAT.accessService,
                                  DCTERMS.rightsHolder, DCAT.qualifiedRelation, PROV.qualifiedAttribution,
                                  PROV.agent, DCAT.hadRole))


class RdfSyntaxError(UnexpectedContentError):
    """A page is not parseable in the syntax it was served (or sniffed) as; names the URL and the parser's reason."""


class UnsafeXmlError(UnexpectedContentError):
    """An RDF/XML page declares DTD entities or external references; refused before parsing."""


# --------------------------------------------------------------------------- parsing


def syntax_of(content_type: str | None, body: bytes) -> str:
    """The RDF syntax name for a response: its media type when specific, else sniffed from the body."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _BY_MEDIA_TYPE:
        return _BY_MEDIA_TYPE[media]
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json-ld"
    if head[:1] == b"<" and (head[:5] == b"<?xml" or head[1:2].isalpha() or head[1:2] == b"!"):
        if not head[1:].split(b">", 1)[0].count(b"://"):  # "<http://...>" starts N-Triples/Turtle
            return "rdf-xml"
    return "turtle"  # N-Triples is a subset of Turtle, so Turtle reads both


def screen_xml(body: bytes, url: str, source_id: str | None = None) -> None:
    """Refuse RDF/XML with entity declarations or external references (billion laughs, XXE)."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    try:
        DET.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXmlError(f"{url}: RDF/XML refused ({type(exc).__name__}: entity declarations and external "
                             "references are not accepted)", source_id=source_id, field="body") from None
    except Exception as exc:  # noqa: BLE001 - expat's ParseError and friends: not well-formed XML
        raise RdfSyntaxError(f"{url}: not well-formed XML ({exc})", source_id=source_id, field="body") from None


def parse_page(body: bytes, syntax: str, base_iri: str, source_id: str | None = None) -> list[ox.Triple]:
    """The page's triples (default graph and, for TriG-like JSON-LD, every graph), parsed by pyoxigraph."""
    if syntax == "rdf-xml":
        screen_xml(body, base_iri, source_id)
    try:
        return [q.triple for q in ox.parse(body, format=SYNTAXES[syntax], base_iri=base_iri)]
    except SyntaxError as exc:
        hint = " (a remote @context is never fetched; serve expanded JSON-LD or another syntax)" \
            if syntax == "json-ld" and "remote context" in str(exc).lower() else ""
        raise RdfSyntaxError(f"{base_iri}: not parseable as {syntax}: {str(exc)[:300]}{hint}",
                             source_id=source_id, field="body") from None


# --------------------------------------------------------------------------- the page graph


class PageGraph:
    """A parsed page indexed by subject, with what the harvester asks of it."""

    def __init__(self, triples: list[ox.Triple]) -> None:
        self.by_subject: dict[Any, list[ox.Triple]] = defaultdict(list)
        # RDF/XML that describes a shared publisher inline in every dataset repeats its triples per dataset;
        # without de-duplication each description would carry them all (quadratic in the page size).
        for t in dict.fromkeys(triples):
            self.by_subject[t.subject].append(t)

    def objects(self, s: Any, p: ox.NamedNode) -> list[Any]:
        return [t.object for t in self.by_subject.get(s, ()) if t.predicate == p]

    def next_link(self) -> str | None:
        """``hydra:next`` / ``hydra:nextPage`` of the page's view (a subject typed as a Hydra view first)."""
        found: list[tuple[int, str]] = []
        for s, triples in self.by_subject.items():
            is_view = any(t.predicate == A and t.object in VIEW_TYPES for t in triples)
            for t in triples:
                if t.predicate in NEXT_LINKS and isinstance(t.object, (ox.NamedNode, ox.Literal)):
                    found.append((0 if is_view else 1, t.object.value.strip()))
        found.sort()
        return found[0][1] if found and found[0][1] else None

    def datasets(self) -> list[Any]:
        """Subjects typed ``dcat:Dataset`` and described objects of ``dcat:dataset``, in document order."""
        out: dict[Any, None] = {}
        for s, triples in self.by_subject.items():
            for t in triples:
                if t.predicate == A and t.object == T_DATASET:
                    out.setdefault(s)
                elif t.predicate == P_DATASET and t.object in self.by_subject:
                    out.setdefault(t.object)
        return list(out)

    def description(self, root: Any) -> list[ox.Triple]:
        """The concise bounded description of ``root`` (see module doc), blank nodes relabelled ``_:bN``."""
        labels: dict[Any, ox.BlankNode] = {}
        if isinstance(root, ox.BlankNode):
            labels[root] = ox.BlankNode("b0")
        out: list[ox.Triple] = []
        queue, seen = [root], {root}
        while queue:
            node = queue.pop(0)
            triples = sorted(self.by_subject.get(node, ()), key=self._order_key)
            for t in triples:
                o = t.object
                follow = isinstance(o, ox.BlankNode) or (t.predicate in OWNED and isinstance(o, ox.NamedNode))
                if follow and o not in seen and o in self.by_subject and not self._is_dataset(o):
                    seen.add(o)
                    queue.append(o)
                if isinstance(o, ox.BlankNode) and o not in labels:
                    labels[o] = ox.BlankNode(f"b{len(labels) + (0 if root in labels else 1)}")
                out.append(t)
        relabel = labels.get
        return [ox.Triple(relabel(t.subject, t.subject), t.predicate, relabel(t.object, t.object)) for t in out]

    def _is_dataset(self, node: Any) -> bool:
        return any(t.predicate == A and t.object == T_DATASET for t in self.by_subject.get(node, ()))

    def _order_key(self, t: ox.Triple) -> tuple[str, str]:
        """Blank-node objects sort by their own (non-blank) content, not by the parser's random label."""
        o = t.object
        if isinstance(o, ox.BlankNode):
            inner = sorted(f"{x.predicate} {x.object}" for x in self.by_subject.get(o, ())
                           if not isinstance(x.object, ox.BlankNode))
            return str(t.predicate), "\x00" + "\n".join(inner)
        return str(t.predicate), str(o)

    def record_modified(self) -> dict[Any, str]:
        """Dataset → ``dct:modified`` of the ``dcat:CatalogRecord`` that has it as ``foaf:primaryTopic``."""
        out: dict[Any, str] = {}
        for s, triples in self.by_subject.items():
            topics = [t.object for t in triples if t.predicate == P_PRIMARY_TOPIC]
            mods = [t.object.value for t in triples if t.predicate == P_MODIFIED and isinstance(t.object, ox.Literal)]
            for topic in topics:
                if mods:
                    out.setdefault(topic, mods[0].strip())
        return out


def ntriples(triples: list[ox.Triple]) -> str:
    """Sorted N-Triples text of a description (sorted so the bytes do not depend on the page's order)."""
    text = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode("utf-8")
    lines = sorted(set(line for line in text.splitlines() if line.strip()))
    return "\n".join(lines) + "\n" if lines else ""


def parse_time(value: str | None) -> datetime | None:
    """A ``dct:modified`` lexical form → aware UTC datetime (naive and date-only values are UTC); None if unreadable."""
    return parse_utc(value)


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name] + [(name, value)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# --------------------------------------------------------------------------- the harvester


@register
class DcatHarvester(HttpHarvester):
    """Harvest a DCAT catalogue served as RDF pages linked by Hydra."""

    kind = "dcat"
    cursor = "dct:modified"
    paging = "hydra-next-link"
    resumable = True  # the next page's URL

    class Options(HttpOptions):
        syntax: Literal["auto", "turtle", "rdf-xml", "json-ld", "n-triples"] = Field(
            "auto", description="RDF syntax of the pages; 'auto' = from the Content-Type, sniffing the body when "
                                "the type is missing or generic.")
        modified_since_param: str | None = Field(
            None, description="Query parameter the feed understands for 'changed since' (e.g. 'modified_since'); "
                              "sent with the window start in incremental mode. Omitted = filter client-side only.")
        max_pages: int = Field(100_000, ge=1, description="Stop with an error after this many pages.")
        requests_per_second: float = Field(5, gt=0, le=100, description="Politeness limit for the feed's host.")
        max_response_mb: int = Field(100, ge=1, le=2048, description="Largest accepted page body, in MiB.")

    options: Options

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        bounds = self.bounds(window, mode)
        pager = NextLinkPaginator(self.url, source_id=self.source_id, max_pages=self.options.max_pages)
        seen: set[str] = set()
        if self.resume_position is not None:
            pager.restore(self.resume_position["pager"])
            seen = set(self.resumed_ids)
        try:
            for req in pager:
                graph = self._fetch(req.url or self.url, bounds, req.number)
                pager.feed(graph.next_link())
                self.stats.pages += 1
                yield from self._records_of(graph, bounds, seen, req.url or self.url)
                self.page_done({"pager": pager.state()})
            self.stats.complete_listing = mode == "full" and pager.done
        finally:
            self.count_requests()

    def _fetch(self, url: str, bounds: HarvestWindow | None, number: int) -> PageGraph:
        param = self.options.modified_since_param
        request_url = url
        if param and bounds is not None and bounds.start is not None:
            start = bounds.start.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
            request_url = _with_param(url, param, start)
        resp = self.client.request("GET", request_url, headers={"Accept": ACCEPT})
        if resp.status_code >= 400:
            raise self.error(FatalSourceError, f"page {number} at {request_url} answered HTTP {resp.status_code}")
        body = resp.content
        ctype = resp.headers.get("Content-Type")
        if (ctype or "").split(";")[0].strip().lower() == "text/html":
            raise self.error(UnexpectedContentError, f"page {number} at {request_url} is an HTML page, not RDF; "
                                                     "the URL is probably the portal's web page, not its DCAT feed")
        syntax = self.options.syntax if self.options.syntax != "auto" else syntax_of(ctype, body)
        return PageGraph(parse_page(body, syntax, url, self.source_id))

    def _records_of(self, graph: PageGraph, bounds: HarvestWindow | None, seen: set[str],
                    url: str) -> Iterator[RawRecord]:
        fetched_at = now_iso()
        record_mod = graph.record_modified()
        for node in graph.datasets():
            cbd = graph.description(node)
            nt = ntriples(cbd)
            native_id = self._native_id(graph, node, nt)
            if native_id in seen:
                self.stats.skip("duplicate")
                continue
            seen.add(native_id)
            modified = record_mod.get(node) or next(
                (o.value.strip() for o in graph.objects(node, P_MODIFIED) if isinstance(o, ox.Literal)), None) or None
            when = parse_time(modified)
            if bounds is not None and when is None:  # common in feeds, so info, not a warning per record
                log.info("%s: %s has no readable dct:modified (%r); kept", self.source_id, native_id, modified)
            if self.outside(bounds, when):
                continue
            yield RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                            media_type="application/n-triples", payload=nt, source_modified=modified)

    @staticmethod
    def _native_id(graph: PageGraph, node: Any, nt: str) -> str:
        if isinstance(node, ox.NamedNode):
            return node.value
        for o in graph.objects(node, P_IDENTIFIER):
            if isinstance(o, ox.Literal) and o.value.strip():
                return o.value.strip()
        return "sha256:" + hashlib.sha256(nt.encode("utf-8")).hexdigest()
