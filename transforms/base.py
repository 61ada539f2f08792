"""What a mapping module returns, and the context it maps in.

Transforms are pure: a raw record plus the source's context in, a :class:`Mapped` out.
The graph is kept as a list of rdflib triples, not an ``rdflib.Graph``: adding to a Graph
costs its three indexes on every triple and the hot path only needs canonical N-Triples
(hash, storage, feed). :meth:`Mapped.graph` builds the rdflib Graph when a caller
(SHACL, tests) wants the graph API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

Triple = tuple[Node, Node, Node]


class MappingError(Exception):
    """A record could not be mapped; names source, record and field so the fix is findable."""

    def __init__(self, message: str, *, source_id: str, native_id: str, field: str | None = None) -> None:
        self.source_id, self.native_id, self.field, self.reason = source_id, native_id, field, message
        where = f"source={source_id}, record={native_id}" + (f", field={field}" if field else "")
        super().__init__(f"[{where}] {message}")


@dataclass(frozen=True)
class Institution:
    name: str
    kind: str
    uri: str | None = None


@dataclass(frozen=True)
class SourceContext:
    """What a mapping needs to know about the source, and nothing else of the config."""

    source_id: str
    source_title: str
    source_url: str  # the portal's base URL (used for landing pages and dct:source)
    institution: Institution
    base_uri: str  # where the inventory's own URIs live, e.g. "https://data.example.org/citycat"

    def mint(self, *parts: str) -> URIRef:
        """A stable URI under the inventory's base for this source (see transforms.uris)."""
        from transforms.uris import mint_uri

        return mint_uri(self.base_uri, self.source_id, *parts)


@dataclass
class Mapped:
    """One normalised dataset: its URI, its triples and its flat row.

    ``row`` keys are the flat inventory columns (see docs/flat-row.md); values are JSON
    types. ``warnings`` are field-level problems that did not stop the mapping (a date
    that could not be parsed, an unknown licence) and go to the run report.
    """

    uri: str
    native_id: str
    triples: list[Triple]
    row: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def graph(self) -> Graph:
        from transforms.rdf import bind_prefixes

        g = bind_prefixes(Graph())
        for t in self.triples:
            g.add(t)
        return g

    def ntriples(self) -> str:
        """Canonical N-Triples: one triple per line, sorted, duplicates dropped, no blank nodes."""
        from transforms.rdf import canonical_ntriples

        return canonical_ntriples(self.triples)

    def content_hash(self) -> str:
        return hashlib.sha256(self.ntriples().encode("utf-8")).hexdigest()


MapFunction = Callable[[Any, SourceContext], Mapped]

__all__ = ["BNode", "Institution", "Literal", "MapFunction", "Mapped", "MappingError", "SourceContext",
           "Triple", "URIRef"]
