"""SHACL validation of dataset graphs against the official DCAT-AP 3.0.1 shapes.

Why the extra machinery around ``pyshacl.validate``:

* The shapes are parsed once per process (``_shapes``): re-parsing ~1,900 lines of Turtle per
  dataset would cost more than validating it.
* ``range.ttl`` and ``mdr-vocabularies.shape.ttl`` check *facts about the values* (a licence URI
  is a ``dct:LicenseDocument`` in the OP licence scheme), facts a dataset record never states.
  Without background data every correct record fails (SEMICeu/DCAT-AP#125). Merging whole
  vocabularies would make every concept a focus node, so the **vocabulary bridge** adds only the
  ``rdf:type`` / ``skos:inScheme`` / ``skos:prefLabel`` triples of the URIs a graph actually uses,
  plus ``dct:MediaType`` for IANA media-type URIs and ``foaf:Document`` for page-like objects.
* pyshacl nests the details of a failed ``sh:node`` as further ``sh:ValidationResult``s; only the
  report's own ``sh:result`` objects are counted, or one bad licence would count many times.
* pyshacl has a fixed cost per call, so :func:`validate_many` validates a batch of small dataset
  graphs as one union graph and gives every result back to the dataset whose graph states the
  focus node as a subject.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SH, SKOS, NamespaceManager
from rdflib.term import Node

log = logging.getLogger(__name__)

SHAPES_DIR = Path(__file__).resolve().parent / "shapes"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Searched in order: the transforms' shipped vocabularies first (one copy in the project), then ours.
VOCAB_DIRS: tuple[Path, ...] = (_PROJECT_ROOT / "transforms" / "vocabularies", SHAPES_DIR / "vocab")

CORE_SHAPE_FILES = ("shapes.ttl", "range.ttl", "mdr-vocabularies.shape.ttl", "deprecateduris.ttl")
RECOMMENDED_SHAPE_FILE = "shapes_recommended.ttl"

AUTHORITY = "http://publications.europa.eu/resource/authority/"
IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"
# OP authority tables the bridge knows; the file name is ``<table>.ttl`` in one of VOCAB_DIRS.
BRIDGED_TABLES = ("licence", "file-type", "frequency", "data-theme", "access-right",
                  "distribution-status", "language")
_DOCUMENT_PROPERTIES = (FOAF.homepage, DCAT.landingPage, FOAF.page)
MAX_MESSAGES = 10


@dataclass
class ShaclResult:
    """What the official shapes say about one dataset graph."""

    conforms: bool
    violations: int = 0
    warnings: int = 0
    by_shape: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"conforms": self.conforms, "violations": self.violations, "warnings": self.warnings,
                "by_shape": dict(self.by_shape), "messages": list(self.messages)}


# --------------------------------------------------------------------------- shapes (cached)


@dataclass(frozen=True)
class _Shapes:
    graph: Graph
    names: dict[Node, str]  # property shape -> "<file>:<NodeShape>"
    compiled: Any  # pyshacl's ShapesGraph: its harvested shapes are ~40 % of a small validation


_FILE_LABELS = {"shapes.ttl": "shapes", "range.ttl": "range", "mdr-vocabularies.shape.ttl": "mdr",
                "deprecateduris.ttl": "deprecated", RECOMMENDED_SHAPE_FILE: "recommended"}


@lru_cache(maxsize=2)
def _shapes(include_recommended: bool) -> _Shapes:
    """The shapes graph and a readable name per shape (``range:Dataset_Shape``), parsed once."""
    g = Graph()
    names: dict[Node, str] = {}
    files = CORE_SHAPE_FILES + ((RECOMMENDED_SHAPE_FILE,) if include_recommended else ())
    for name in files:
        part = Graph().parse(SHAPES_DIR / name, format="turtle")
        label = _FILE_LABELS[name]
        for shape in set(part.subjects(RDF.type, SH.NodeShape)) | set(part.subjects(SH.property, None)):
            if isinstance(shape, URIRef):
                local = re.split(r"[#/]", str(shape))[-1]
                names[shape] = f"{label}:{local}"
                for prop in part.objects(shape, SH.property):
                    names[prop] = f"{label}:{local}"
        g += part
    from pyshacl.shapes_graph import ShapesGraph

    compiled = ShapesGraph(g, logger=log)
    compiled.shapes  # harvest once, here, not per call
    return _Shapes(g, names, compiled)


@lru_cache(maxsize=1)
def _namespaces() -> NamespaceManager:
    nm = NamespaceManager(Graph(), bind_namespaces="none")
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("skos", SKOS), ("rdf", RDF),
                       ("adms", "http://www.w3.org/ns/adms#"), ("dcatap", "http://data.europa.eu/r5r/"),
                       ("vcard", "http://www.w3.org/2006/vcard/ns#"), ("spdx", "http://spdx.org/rdf/terms#"),
                       ("locn", "http://www.w3.org/ns/locn#"), ("prov", "http://www.w3.org/ns/prov#")):
        nm.bind(prefix, ns)
    return nm


@lru_cache(maxsize=1)
def _bound() -> tuple[str, ...]:
    return tuple(str(ns) for _, ns in _namespaces().namespaces())


def _short(node: Node | None) -> str:
    if node is None:
        return "-"
    if isinstance(node, URIRef):
        if not str.startswith(node, _bound()):
            # no curie possible; asking rdflib would also grow its namespace trie by one entry per
            # dataset IRI, which slows every later lookup
            return str(node)
        try:
            return _namespaces().curie(node, generate=False)
        except (ValueError, KeyError):
            return str(node)
    return node.n3()


# --------------------------------------------------------------------------- vocabulary bridge


# The DCAT-AP range class of each table's concepts, for tables only shipped as CSV.
_RANGE_CLASS = {"licence": DCTERMS.LicenseDocument, "file-type": DCTERMS.MediaTypeOrExtent,
                "frequency": DCTERMS.Frequency, "access-right": DCTERMS.RightsStatement,
                "language": DCTERMS.LinguisticSystem}


def _vocab_file(table: str) -> Path | None:
    for suffix in (".ttl", ".csv"):
        for d in VOCAB_DIRS:
            if (d / f"{table}{suffix}").is_file():
                return d / f"{table}{suffix}"
    return None


@lru_cache(maxsize=None)
def _vocab_table(table: str) -> dict[URIRef, tuple[tuple[Node, Node, Node], ...]]:
    """URI -> its bridge triples, for one OP table; read once per process, only when first needed."""
    path = _vocab_file(table)
    if path is None:
        log.warning("no %s.ttl or %s.csv in %s: its URIs are not bridged and will fail the range/mdr shapes",
                    table, table, ", ".join(map(str, VOCAB_DIRS)))
        return {}
    triples = _from_csv(table, path) if path.suffix == ".csv" else _from_turtle(path)
    for s, ts in triples.items():
        # 25 recent file-type codes have no label in the shipped table although OP has one;
        # their code stands in so skos:Concept's prefLabel minCount does not fire falsely.
        if not any(p == SKOS.prefLabel for _, p, _ in ts):
            ts.append((s, SKOS.prefLabel, Literal(s.rsplit("/", 1)[-1])))
    return {s: tuple(ts) for s, ts in triples.items()}


def _from_turtle(path: Path) -> dict[URIRef, list[tuple[Node, Node, Node]]]:
    import pyoxigraph as ox  # ~10x faster than rdflib's Turtle parser on the 2 MB tables

    keep = {str(RDF.type), str(SKOS.inScheme), str(SKOS.prefLabel)}
    triples: dict[URIRef, list[tuple[Node, Node, Node]]] = defaultdict(list)
    for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
        if isinstance(q.subject, ox.NamedNode) and q.predicate.value in keep:
            s, o = URIRef(q.subject.value), q.object
            obj: Node = (URIRef(o.value) if isinstance(o, ox.NamedNode)
                         else Literal(o.value, lang=o.language) if o.language
                         else Literal(o.value, datatype=URIRef(o.datatype.value)))
            triples[s].append((s, URIRef(q.predicate.value), obj))
    return triples


def _from_csv(table: str, path: Path) -> dict[URIRef, list[tuple[Node, Node, Node]]]:
    """The same triples from a table's CSV (``uri`` or ``code``, ``label_en``)."""
    import csv

    scheme = URIRef(AUTHORITY + table)
    classes = [SKOS.Concept] + ([_RANGE_CLASS[table]] if table in _RANGE_CLASS else [])
    triples: dict[URIRef, list[tuple[Node, Node, Node]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            uri = rec.get("uri") or (f"{scheme}/{rec['code']}" if rec.get("code") else None)
            if not uri:
                continue
            s = URIRef(uri)
            triples[s] += [(s, RDF.type, c) for c in classes] + [(s, SKOS.inScheme, scheme)]
            if rec.get("label_en"):
                triples[s].append((s, SKOS.prefLabel, Literal(rec["label_en"], lang="en")))
    return triples


def bridge_triples(graph: Graph) -> set[tuple[Node, Node, Node]]:
    """The background triples the range and mdr shapes need for the values ``graph`` uses."""
    out: set[tuple[Node, Node, Node]] = set()
    for _, p, o in graph:
        if not isinstance(o, URIRef):
            continue
        value = str(o)
        if value.startswith(AUTHORITY):
            table = value[len(AUTHORITY):].split("/", 1)[0]
            if table in BRIDGED_TABLES:
                out.update(_vocab_table(table).get(o, ()))
        elif value.startswith(IANA_MEDIA_TYPES):
            out.add((o, RDF.type, DCTERMS.MediaType))
        if p in _DOCUMENT_PROPERTIES:
            out.add((o, RDF.type, FOAF.Document))
    return out


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Finding:
    focus: Node
    violation: bool
    shape: str
    message: str
    # the parts ``message`` is made of (expectations.shacl_skeleton rewrites them for placeholders)
    path: str = ""
    detail: str = ""
    value: Node | None = None


def _run(data: Graph, include_recommended: bool) -> list[_Finding]:
    """pyshacl's Validator with the process-wide compiled shapes (``data`` is ours to use in place).

    This is ``pyshacl.validate`` minus re-harvesting the shapes on every call; it relies on
    pyshacl's ``Validator.shacl_graph`` attribute (pinned to pyshacl 0.40 in pyproject.toml;
    tests/test_shacl.py compares against plain ``pyshacl.validate``).
    """
    from pyshacl import Validator
    from pyshacl.graph_abstraction import DataGraph

    shapes = _shapes(include_recommended)
    validator = Validator(DataGraph.from_rdflib(data), shacl_graph=shapes.graph,
                          options={"allow_warnings": True, "inplace": True, "inference": "none", "logger": log})
    validator.shacl_graph = shapes.compiled
    _, report, _ = validator.run()
    findings = []
    for top in report.subjects(RDF.type, SH.ValidationReport):
        for r in report.objects(top, SH.result):  # top level only: nested details are not counted
            focus, path = report.value(r, SH.focusNode), report.value(r, SH.resultPath)
            source = report.value(r, SH.sourceShape)
            shape = f"{shapes.names.get(source, _short(source))} {_short(path)}".strip()
            value = report.value(r, SH.value)
            detail = str(report.value(r, SH.resultMessage))
            text = f"{_short(focus)} {_short(path)}: {detail}"
            if value is not None and value != focus:
                text += f" (value {_short(value)})"
            findings.append(_Finding(focus, report.value(r, SH.resultSeverity) == SH.Violation, shape, text,
                                     _short(path), detail, value))
    findings.sort(key=_finding_order)
    return findings


def _finding_order(f: _Finding) -> tuple[bool, str]:
    return (not f.violation, f.message)  # violations first in messages


def _summarise(findings: Iterable[_Finding]) -> ShaclResult:
    res = ShaclResult(conforms=True)
    by_shape: dict[str, int] = defaultdict(int)
    for f in sorted(findings, key=_finding_order):
        if f.violation:
            res.violations += 1
        else:
            res.warnings += 1
        by_shape[f.shape] += 1
        if len(res.messages) < MAX_MESSAGES:
            res.messages.append(("Violation: " if f.violation else "Warning: ") + f.message)
    res.conforms, res.by_shape = res.violations == 0, dict(by_shape)
    return res


def _with_bridge(graph: Graph, bridge: bool) -> Graph:
    data = Graph()
    data.addN((*t, data) for t in graph)
    if bridge:
        data.addN((*t, data) for t in bridge_triples(graph))
    return data


def validate_graph(graph: Graph, *, include_recommended: bool = False, bridge: bool = True) -> ShaclResult:
    """Validate one graph; ``bridge=False`` shows what the shapes say without background data."""
    return _summarise(_run(_with_bridge(graph, bridge), include_recommended))


def validate_many(items: Iterable[tuple[str, Graph]], *, batch_size: int = 50,
                  include_recommended: bool = False, bridge: bool = True) -> Iterator[tuple[str, ShaclResult]]:
    """Validate many small dataset graphs, up to ``batch_size`` per pyshacl call, in input order.

    A result belongs to every dataset whose graph (with its bridge triples) has the focus node
    as a subject; dataset graphs keep their nodes under their own URIs, and a shared vocabulary
    concept that fails is a problem of every dataset that uses it.

    The union is only a faithful stand-in for validating each graph alone when no graph sees
    another's triples. So a graph joins the current batch only if every subject it shares with the
    batch is described identically (one publisher node repeated in every record is fine), and
    no URI it merely points at is described by another graph of the batch (a ``dct:relation`` to a
    sibling dataset would otherwise gain the sibling's ``rdf:type`` and pass a range check it fails
    alone), and vice versa; otherwise the batch is validated first and the graph starts the next.
    """
    for batch in guarded_batches(items, batch_size):
        yield from _validate_batch(batch, include_recommended, bridge)


def guarded_batches(items: Iterable[tuple[Any, Graph]], batch_size: int) -> Iterator[list[tuple[Any, Graph]]]:
    """``items`` cut into batches whose union validates each graph as if alone (see :func:`validate_many`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batch: list[tuple[Any, Graph]] = []
    described: dict[Node, frozenset] = {}  # subject -> its triples, over the batch's graphs
    referenced: set[Node] = set()  # URIs the batch's graphs point at without describing
    for key, graph in items:
        own, refs = _footprint(graph)
        clash = (any(described.get(s, d) != d for s, d in own.items()) or not refs.isdisjoint(described)
                 or not referenced.isdisjoint(own))
        if batch and (clash or len(batch) >= batch_size):
            yield batch
            batch, described, referenced = [], {}, set()
        batch.append((key, graph))
        described.update(own)
        referenced |= refs - described.keys()
    if batch:
        yield batch


def _footprint(graph: Graph) -> tuple[dict[Node, frozenset], set[Node]]:
    """(URI subject -> its triples, URIs used as objects but not described) of one dataset graph."""
    triples: dict[Node, set] = defaultdict(set)
    objects: set[Node] = set()
    for t in graph:
        if isinstance(t[0], URIRef):
            triples[t[0]].add(t)
        if isinstance(t[2], URIRef):
            objects.add(t[2])
    return {s: frozenset(ts) for s, ts in triples.items()}, objects - triples.keys()


def _validate_batch(batch: list[tuple[str, Graph]], include_recommended: bool,
                    bridge: bool) -> Iterator[tuple[str, ShaclResult]]:
    _, per_item = run_batch(batch, include_recommended, bridge)
    for (key, _), findings in zip(batch, per_item):
        yield key, _summarise(findings)


def run_batch(batch: list[tuple[Any, Graph]], include_recommended: bool,
              bridge: bool) -> tuple[Graph, list[list[_Finding]]]:
    """(the union graph, each graph's findings) of one pyshacl call over a batch's union."""
    union = Graph()
    owners: dict[Node, list[int]] = defaultdict(list)
    for i, (_, graph) in enumerate(batch):
        triples = list(graph) + (list(bridge_triples(graph)) if bridge else [])
        for s in {t[0] for t in triples}:
            owners[s].append(i)
        union.addN((*t, union) for t in triples)
    per_item: list[list[_Finding]] = [[] for _ in batch]
    for f in _run(union, include_recommended):
        # DCAT-AP shapes target classes, so a focus node is the subject of its rdf:type triple
        found = owners.get(f.focus, [])
        if not found:
            log.warning("SHACL result for %s could not be attributed to a dataset: %s", _short(f.focus), f.message)
        for i in found:
            per_item[i].append(f)
    return union, per_item


# --------------------------------------------------------------------------- cache key


@lru_cache(maxsize=1)
def shapes_version() -> str:
    """A hash of everything a result depends on besides the graph, the key of cached results.

    That is the shipped shape files, the vocabulary tables the bridge reads and pyshacl's version:
    updating any of them must re-validate, and nothing else may (see inventory.shacl_cache).
    """
    import hashlib

    import pyshacl

    h = hashlib.sha256(f"pyshacl {pyshacl.__version__}\n".encode())
    files = [SHAPES_DIR / n for n in CORE_SHAPE_FILES] + [p for t in BRIDGED_TABLES if (p := _vocab_file(t))]
    for path in files:
        h.update(f"{path.name}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:32]
