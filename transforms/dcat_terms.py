"""The DCAT normaliser's vocabulary of terms and the questions every rule asks of a value.

Split from :mod:`transforms.dcat_fix` (the per-property rules): which prefixes a source may
write inside a literal, whether a URL only the publisher's own network can open, how a
string that should have been an IRI becomes one, and the :class:`Env` a rule writes into.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from rdflib import Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL
from rdflib.term import Node

from transforms import vocab
from transforms.common import Out
from transforms.rdf import PREFIXES
from transforms.uris import clean_url, is_http_url

SCHEMA = Namespace("http://schema.org/")
DCTYPE = Namespace("http://purl.org/dc/dcmitype/")
EU = vocab.EU
IANA_HTTP = "http://www.iana.org/assignments/media-types/"
# Prefixes a source may write inside a literal ("dctype:Dataset"): the project's, plus common extras.
CURIE_PREFIXES: dict[str, str] = {**{k: str(v) for k, v in PREFIXES.items()}, "dcterms": str(DCTERMS),
                                  "dctype": str(DCTYPE), "schema": str(SCHEMA), "owl": str(OWL),
                                  "dc": "http://purl.org/dc/elements/1.1/", "freq": "http://purl.org/cld/freq/"}
_CURIE = re.compile(r"^([A-Za-z][\w-]*):([A-Za-z_][\w.-]*)$")
_LOCAL_HOSTS = {"localhost", "localhost.localdomain", "0.0.0.0"}


@dataclass
class Env:
    """What rules need beyond the triple: where auxiliary nodes are minted, what was seen."""

    base: str  # the dataset's minted path (auxiliary nodes live under it)
    dataset: URIRef
    typed: dict[Node, set[Node]] = field(default_factory=dict)  # node -> classes to add
    formats_of: dict[Node, list[str]] = field(default_factory=dict)  # distribution -> EU format URIs
    media_of: dict[Node, list[str]] = field(default_factory=dict)

    def type(self, node: Node, cls: Node) -> None:
        self.typed.setdefault(node, set()).add(cls)


Rule = Callable[[Node, URIRef, Node, str, Out, Env], None]


def is_local(url: str) -> bool:
    """A URL only the publisher's own machine or network can open (localhost, loopback, private ranges)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host in _LOCAL_HOSTS or host.endswith(".localhost") or host.endswith(".local"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


def expand_curie(text: str) -> URIRef | None:
    """``"dctype:Dataset"`` → the IRI, when the prefix is a well-known one; else None."""
    m = _CURIE.match(text.strip())
    if m and m[1].lower() in CURIE_PREFIXES and m[1].lower() not in ("http", "https", "mailto", "urn"):
        return URIRef(CURIE_PREFIXES[m[1].lower()] + m[2])
    return None


def iri_of(o: Node, where: str, out: Out) -> URIRef | None:
    """An IRI for a value whose range is a resource: IRIs as they are; literals holding a prefixed
    name or a URL are converted (with a warning: the source typed them as strings)."""
    if isinstance(o, URIRef):
        return o
    text = str(o).strip()
    if not text:
        out.warn(where, "empty value dropped")
        return None
    if (curie := expand_curie(text)) is not None:
        out.warn(where, f"prefixed name used as a literal {text!r}; read as <{curie}>")
        return curie
    url = clean_url(text)
    if url and (is_http_url(url) or url.startswith("mailto:")):
        out.warn(where, f"plain string {text[:120]!r} where an IRI belongs; made an IRI")
        return URIRef(url)
    return None
