"""Validating graph skeletons (expectations.shacl_skeleton) and giving each dataset its result.

A skeleton is instantiated with fresh terms (placeholder IRIs unique over the process, literal
placeholders unique over a pyshacl union, fresh blank nodes), validated like a dataset graph, and
its findings kept as message templates: the pyshacl wording of each placeholder is replaced by a
slot token, which :func:`result_for` fills with the dataset's own term worded the same way.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node

from expectations import shacl
from expectations import shacl_skeleton as base
from expectations.shacl_skeleton import GENERATORS, PLACEHOLDER, Skeleton, Support, _nt, term_of, well_typed

_TOKEN = re.compile("\x1f([sp])(\\?[ibl][0-9]+)\x1f")  # a slot in a message template
_members = itertools.count()  # placeholder IRI prefixes: unique over the process, so no union merges two


class SkeletonError(ValueError):
    """A skeleton cannot stand in for its graph (the caller validates the graph itself)."""


def _acceptable(lit: Literal, sup: Support) -> bool:
    return (_nt(lit) not in sup.kept and not any(p.search(str(lit)) for p in sup.patterns)
            and (lit.datatype is None or well_typed(lit)))


def _instantiate(sk: Skeleton, counter: Iterator[int], sup: Support) -> tuple[Graph, dict[Node, str]]:
    """The skeleton as a graph of fresh terms, and fresh term -> slot."""
    member = next(_members)
    nodes: dict[str, Node] = {}
    for slot in sk.originals:
        kind = slot[1]
        if kind == "i":
            nodes[slot] = URIRef(f"{PLACEHOLDER}{member}/{slot[2:]}")
        elif kind == "b":
            nodes[slot] = BNode()
        else:
            nodes[slot] = _placeholder_literal(sk.kinds[slot], counter, sup)
    g = Graph()
    g.addN((nodes.get(s) or term_of(s), nodes.get(p) or term_of(p), nodes.get(o) or term_of(o), g)
           for s, p, o in sk.triples)
    return g, {n: slot for slot, n in nodes.items()}


def _placeholder_literal(kind: str, counter: Iterator[int], sup: Support) -> Literal:
    for _ in range(1000):
        k = next(counter)
        if kind.startswith("@"):
            lit = Literal(f"sk{k}", lang=kind[1:])
        elif not kind:
            lit = Literal(f"sk{k}")
        else:
            dt = kind[3:-1]
            lit = Literal(GENERATORS[dt](k), datatype=URIRef(dt))
        if _acceptable(lit, sup):
            return lit
    raise SkeletonError(f"no well-typed placeholder literal of kind {kind!r} left")


def validate_skeletons(skeletons: Iterable[Skeleton], *, batch_size: int = 50,
                       include_recommended: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """(skeleton key, outcome) per skeleton: counts, by_shape and *every* message as a template.

    Each skeleton gets its own placeholder IRIs and literals, so the union of a batch never merges
    nodes of two skeletons; terms kept verbatim may be shared, and :func:`shacl.guarded_batches`
    keeps apart skeletons whose shared terms are described differently, as for dataset graphs.
    """
    from pyshacl.rdfutil.stringify import stringify_node

    sup = base.support(include_recommended)
    pending = list(skeletons)
    for start in range(0, len(pending), batch_size):
        counter = itertools.count()  # literal placeholders: unique over the union
        items = []
        for sk in pending[start:start + batch_size]:
            g, back = _instantiate(sk, counter, sup)
            items.append(((sk, back), g))
        for batch in shacl.guarded_batches(items, batch_size):
            union, per_item = shacl.run_batch(batch, include_recommended, False)
            for ((sk, back), _), findings in zip(batch, per_item):
                yield sk.key, _outcome(findings, back, lambda n: _render_placeholder(union, n, stringify_node))


def _render_placeholder(union: Graph, node: Node, stringify: Callable[[Graph, Node], str]) -> str:
    """pyshacl's wording of a placeholder in ``union``. Placeholder IRIs are in no bound namespace,
    so rdflib writes them ``<iri>``; asking it would grow the union's namespace trie per IRI."""
    if isinstance(node, URIRef) and not str.startswith(PLACEHOLDER, _bound_in(union)):
        return f"<{node}>"
    return stringify(union, node)


def _bound_in(graph: Graph) -> tuple[str, ...]:
    return tuple(str(ns) for _, ns in graph.namespace_manager.namespaces())


def _outcome(findings: list, back: dict[Node, str], render: Callable[[Node], str]) -> dict[str, Any]:
    pattern: re.Pattern | None = None
    tokens: dict[str, str] = {}

    def short(node: Node | None) -> str:
        slot = back.get(node) if node is not None else None
        return f"\x1fs{slot}\x1f" if slot else shacl._short(node)

    def detail(text: str) -> str:
        nonlocal pattern
        if "\x1f" in text:
            raise SkeletonError("a SHACL message holds the template delimiter")
        if pattern is None:
            for node, slot in back.items():
                tokens.setdefault(render(node), f"\x1fp{slot}\x1f")
            pattern = re.compile("|".join(map(re.escape, sorted(tokens, key=len, reverse=True))))
        return pattern.sub(lambda m: tokens[m.group(0)], text) if tokens else text

    res = shacl._summarise(findings)
    messages = []
    for f in findings:
        text = f"{short(f.focus)} {f.path}: {detail(f.detail)}"
        if f.value is not None and f.value != f.focus:
            text += f" (value {short(f.value)})"
        messages.append(("Violation: " if f.violation else "Warning: ") + text)
    return {**res.as_dict(), "messages": sorted(messages)}


@lru_cache(maxsize=1)
def _render_graph() -> Graph:
    g = Graph()  # what a data graph's namespaces are when pyshacl words a message
    g.namespace_manager.bind("sh", SH, override=False, replace=False)  # as stringify_node does
    return g


@lru_cache(maxsize=1)
def _render_bound() -> tuple[str, ...]:
    return tuple(str(ns) for _, ns in _render_graph().namespace_manager.namespaces())


def result_for(outcome: dict[str, Any], sk: Skeleton,
               graph: Callable[[], Graph] | None = None) -> shacl.ShaclResult:
    """One dataset's result from its skeleton's outcome: the templates filled with its own terms.

    ``graph`` gives the dataset's data graph (with bridge triples); it is only called when a message
    shows a blank node's content, which pyshacl words from the graph.
    """
    from pyshacl.rdfutil.stringify import stringify_blank_node, stringify_node

    data: list[Graph] = []
    short_bound, render_bound = shacl._bound(), _render_bound()

    def fill(m: re.Match) -> str:
        spelling = sk.originals[m.group(2)]
        if spelling[0] == "<" and "\\" not in spelling:  # the common case, without building a term
            if m.group(1) == "s":
                if not spelling.startswith(short_bound, 1):
                    return spelling[1:-1]
            elif not spelling.startswith(render_bound, 1):
                return spelling
        term = term_of(spelling)
        if m.group(1) == "s":
            return shacl._short(term)
        if isinstance(term, BNode):
            if graph is None:
                raise SkeletonError("a message shows a blank node and no graph was given")
            if not data:
                data.append(graph())
            getattr(stringify_blank_node, "dict_cache", {}).pop((id(data[0]), str(term)), None)
            return stringify_node(data[0], term)
        if isinstance(term, URIRef) and not str.startswith(term, _render_bound()):
            return f"<{term}>"  # what rdflib's normalizeUri gives for an IRI in no bound namespace
        return stringify_node(_render_graph(), term)

    messages = sorted(_TOKEN.sub(fill, t) for t in outcome.get("messages") or [])
    return shacl.ShaclResult(conforms=bool(outcome["conforms"]), violations=int(outcome["violations"]),
                             warnings=int(outcome["warnings"]), by_shape=dict(outcome.get("by_shape") or {}),
                             messages=messages[:shacl.MAX_MESSAGES])


def validate_many(items: Iterable[tuple[str, Graph]], *, batch_size: int = 50,
                  include_recommended: bool = False) -> Iterator[tuple[str, shacl.ShaclResult]]:
    """:func:`expectations.shacl.validate_many` through skeletons (one pyshacl run per distinct structure).

    Falls back to direct validation when the shapes are not structural (:func:`support`) or a
    graph's skeleton cannot stand in for it.
    """
    items = list(items)
    sup = base.support(include_recommended)
    if not sup.enabled:
        yield from shacl.validate_many(items, batch_size=batch_size, include_recommended=include_recommended)
        return
    skeletons = {key: base.skeleton(base.with_bridge(base.triples_of_graph(g)), sup) for key, g in items}
    distinct = {sk.key: sk for sk in skeletons.values()}
    outcomes = dict(base.validate_skeletons(distinct.values(), batch_size=batch_size,
                                       include_recommended=include_recommended))
    for key, g in items:
        sk = skeletons[key]
        yield key, result_for(outcomes[sk.key], sk, lambda g=g: shacl._with_bridge(g, True))
