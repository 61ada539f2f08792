"""Field-level change history: what changed between two versions of one dataset.

A version step is described as a list of ``{field, op, old, new}`` (op: added | removed | changed),
computed on both halves of a stored version:

* the flat row, column by column (``title``, ``licence_uri``, ``formats``...): the columns people
  ask about, with readable values;
* the graph, for what the row flattens away: distributions added or removed (``distribution``,
  named by their download/access URL), a property of one distribution changed
  (``distribution.format``, with ``node``), other properties of the dataset node and of the
  catalogue record (``dataset.<curie>``, ``record.<curie>``).

The graph is read with a line scan of the canonical N-Triples (one triple per line, no blank
nodes), not an rdflib parse: the loader calls this for every changed dataset inside its
transaction, and a parse costs ~100x more.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SKOS

CHANGE_KINDS = ("created", "updated", "withdrawn", "restored")
MAX_VALUE_CHARS = 500  # old/new values are cut to this: a 20,000-character description twice per change is noise
_PREFIXES = {"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "owl": str(OWL), "prov": str(PROV),
             "rdf": str(RDF), "rdfs": str(RDFS), "skos": str(SKOS), "adms": "http://www.w3.org/ns/adms#",
             "vcard": "http://www.w3.org/2006/vcard/ns#", "locn": "http://www.w3.org/ns/locn#",
             "dcatap": "http://data.europa.eu/r5r/", "spdx": "http://spdx.org/rdf/terms#"}
# Row columns that already say what these dataset properties say: the graph diff skips them.
_IN_ROW = {str(p) for p in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCTERMS.license,
                            DCTERMS.accessRights, DCTERMS.issued, DCTERMS.modified, DCTERMS.accrualPeriodicity,
                            DCAT.theme, DCAT.keyword, DCTERMS.spatial, DCTERMS.temporal, DCAT.contactPoint,
                            DCAT.landingPage, DCAT.distribution, DCTERMS.identifier)}
_DIST = str(DCAT.distribution)
_PRIMARY_TOPIC = str(FOAF.primaryTopic)
_CATALOG_RECORD = str(DCAT.CatalogRecord)
_RDF_TYPE = str(RDF.type)


def _curie(iri: str) -> str:
    for prefix, ns in _PREFIXES.items():
        if iri.startswith(ns):
            return f"{prefix}:{iri[len(ns):]}"
    return iri


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    return value


def _change(field: str, old: Any, new: Any, **extra: Any) -> dict[str, Any]:
    op = "added" if old in (None, [], "") else "removed" if new in (None, [], "") else "changed"
    return {"field": field, "op": op, "old": _cut(old), "new": _cut(new), **extra}


def diff_rows(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Column-by-column changes of the flat row; list columns compare as sets (order is not a change)."""
    old, new = old or {}, new or {}
    out = []
    for col in sorted(set(old) | set(new)):
        a, b = old.get(col), new.get(col)
        if isinstance(a, list) or isinstance(b, list):
            sa, sb = set(map(str, a or [])), set(map(str, b or []))
            if sa != sb:
                out.append(_change(col, sorted(sa) or None, sorted(sb) or None))
        elif a != b:
            out.append(_change(col, a, b))
    return out


def parse_nt(nt: str | None) -> dict[str, dict[str, set[str]]]:
    """subject -> predicate -> objects (N-Triples terms as written) from canonical N-Triples."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for line in (nt or "").splitlines():
        if not line.startswith("<"):
            continue
        s, _, rest = line.partition(" ")
        p, _, o = rest.partition(" ")
        graph[s[1:-1]][p[1:-1]].add(o[:-2] if o.endswith(" .") else o)
    return graph


def _label(term: str) -> str:
    """An N-Triples term as a readable value: IRIs without brackets, literals without quotes/datatype."""
    if term.startswith("<") and term.endswith(">"):
        return term[1:-1]
    if term.startswith('"'):
        end = term.rfind('"')
        body = term[1:end]
        if "\\" in body:
            try:
                return json.loads(f'"{body}"')
            except ValueError:  # \UXXXXXXXX is N-Triples, not JSON: show it as written
                return body
        return body
    return term


def _values(objs: Iterable[str]) -> list[str]:
    return sorted(_label(o) for o in objs)


def _dist_name(props: dict[str, set[str]], node: str) -> str:
    for p in (DCAT.downloadURL, DCAT.accessURL, DCTERMS.title):
        if props.get(str(p)):
            return _values(props[str(p)])[0]
    return node


def _diff_props(prefix: str, a: dict[str, set[str]], b: dict[str, set[str]], skip: set[str],
                **extra: Any) -> list[dict[str, Any]]:
    out = []
    for p in sorted(set(a) | set(b)):
        if p in skip or a.get(p, set()) == b.get(p, set()):
            continue
        va, vb = _values(a.get(p, ())), _values(b.get(p, ()))
        out.append(_change(f"{prefix}.{_curie(p).split(':', 1)[-1] if prefix == 'distribution' else _curie(p)}",
                           (va[0] if len(va) == 1 else va) or None, (vb[0] if len(vb) == 1 else vb) or None, **extra))
    return out


def _record_node(graph: dict[str, dict[str, set[str]]], ds: str) -> str | None:
    target = f"<{ds}>"
    for s, props in graph.items():
        if target in props.get(_PRIMARY_TOPIC, ()) and f"<{_CATALOG_RECORD}>" in props.get(_RDF_TYPE, ()) \
                and not s.endswith("#source-record"):
            return s
    return None


def diff_graphs(old_uri: str | None, old_nt: str | None, new_uri: str | None, new_nt: str | None) -> list[dict[str, Any]]:
    """Distribution, dataset-node and catalogue-record changes the flat row does not show.

    Canonical N-Triples make a graph a set of lines, so only the lines in one version and not the
    other are parsed: an update touches a few of a graph's ~85 lines, and parsing all of them was
    most of the loader's cost of an update. A property's old/new values are the ones that changed
    (keywords {a, b} → {a, c} reads "b" → "c"). A changed dataset URI falls back to whole graphs.
    """
    if old_uri != new_uri or not old_nt or not new_nt:
        return _diff_whole(old_uri, old_nt, new_uri, new_nt)
    la, lb = set(old_nt.splitlines()), set(new_nt.splitlines())
    if la == lb:
        return []
    ga, gb = parse_nt("\n".join(la - lb)), parse_nt("\n".join(lb - la))
    ds = new_uri or ""
    out: list[dict[str, Any]] = _diff_props("dataset", ga.get(ds, {}), gb.get(ds, {}), _IN_ROW)
    for node in sorted(o[1:-1] for o in ga.get(ds, {}).get(_DIST, ())):
        out.append({"field": "distribution", "op": "removed", "old": _dist_name(ga.get(node, {}), node), "new": None,
                    "node": node})
    for node in sorted(o[1:-1] for o in gb.get(ds, {}).get(_DIST, ())):
        out.append({"field": "distribution", "op": "added", "old": None, "new": _dist_name(gb.get(node, {}), node),
                    "node": node})
    both = la & lb
    for node in sorted((set(ga) | set(gb)) - {ds}):
        if f"<{ds}> <{_DIST}> <{node}> ." in both:
            out += _diff_props("distribution", ga.get(node, {}), gb.get(node, {}), set(), node=node)
        elif f"<{node}> <{_PRIMARY_TOPIC}> <{ds}> ." in both and f"<{node}> <{_RDF_TYPE}> <{_CATALOG_RECORD}> ." in both \
                and not node.endswith("#source-record"):
            out += _diff_props("record", ga.get(node, {}), gb.get(node, {}), {_PRIMARY_TOPIC})
    return out


def _diff_whole(old_uri: str | None, old_nt: str | None, new_uri: str | None, new_nt: str | None) -> list[dict[str, Any]]:
    ga, gb = parse_nt(old_nt), parse_nt(new_nt)
    out: list[dict[str, Any]] = []
    da, db = ga.get(old_uri or "", {}), gb.get(new_uri or "", {})
    out += _diff_props("dataset", da, db, _IN_ROW)
    dists_a = {o[1:-1] for o in da.get(_DIST, ())}
    dists_b = {o[1:-1] for o in db.get(_DIST, ())}
    for node in sorted(dists_a - dists_b):
        out.append({"field": "distribution", "op": "removed", "old": _dist_name(ga.get(node, {}), node), "new": None,
                    "node": node})
    for node in sorted(dists_b - dists_a):
        out.append({"field": "distribution", "op": "added", "old": None, "new": _dist_name(gb.get(node, {}), node),
                    "node": node})
    for node in sorted(dists_a & dists_b):
        out += _diff_props("distribution", ga.get(node, {}), gb.get(node, {}), set(), node=node)
    ra, rb = _record_node(ga, old_uri or ""), _record_node(gb, new_uri or "")
    if ra or rb:
        out += _diff_props("record", ga.get(ra or "", {}), gb.get(rb or "", {}), {_PRIMARY_TOPIC})
    return out


def diff_versions(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[dict[str, Any]]:
    """All field changes between two stored versions, each ``{"uri", "nt", "row"}`` (None: no version)."""
    old, new = old or {}, new or {}
    return diff_rows(old.get("row"), new.get("row")) + diff_graphs(old.get("uri"), old.get("nt"), new.get("uri"),
                                                                   new.get("nt"))


def count_fields(changes: Iterable[list[dict[str, Any]] | None]) -> dict[str, int]:
    """How many datasets changed each field (a dataset counts once per field)."""
    counter: Counter[str] = Counter()
    for fields in changes:
        counter.update({f["field"] for f in fields or ()})
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


LABELS = {"modified": "modified dates", "issued": "issued dates", "licence_uri": "licence changes",
          "title": "title", "description": "descriptions", "distribution": "distributions added/removed",
          "formats": "format changes", "download_urls": "download URL changes", "keywords": "keyword changes",
          "publisher": "publisher changes", "record.dct:modified": "record dates"}


def describe_counts(by_field: dict[str, int], limit: int = 6) -> str:
    """"312 modified dates, 4 licence changes, 1 title" — the run summary's one-line account."""
    items = sorted(by_field.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{n} {LABELS.get(f, f)}" for f, n in items[:limit])
    return text + (f", +{len(items) - limit} more fields" if len(items) > limit else "")


__all__ = ["CHANGE_KINDS", "LABELS", "count_fields", "describe_counts", "diff_graphs", "diff_rows", "diff_versions",
           "parse_nt"]
