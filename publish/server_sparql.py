"""A read-only SPARQL 1.1 endpoint over the published graph (pyoxigraph, in memory).

The graph is what the feed publishes: every active dataset's stored graph plus its
catalogue record's dates (the rule of :func:`publish.feed_rdf.prepare_dataset`), the
catalogue and sub-catalogue descriptions and the ``dcat:dataset``/``dcat:record`` links.
It is built on the first query and rebuilt when the inventory's state changes.

**How the timeout is enforced.** pyoxigraph cannot cancel a running query, and a thread
cannot be killed, so each query runs in a child process forked from the server (the
in-memory store is shared copy-on-write, so forking costs page tables, not a copy). The
child evaluates the query, serialises at most ``limit`` results and sends the bytes back
over a pipe; if nothing has arrived after ``timeout`` seconds the parent SIGKILLs it. A
runaway query therefore stops costing CPU at the timeout. At most ``concurrency`` queries
run at once; a query that cannot start within the timeout is refused with 503.
The server itself never evaluates queries (only children do), which is what makes forking
from a threaded server safe here: no thread of the parent is inside the store when a child
is forked, and the child touches nothing but the store and its pipe.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import threading
import time
from typing import Any, Callable
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox
from sqlalchemy import Engine

from inventory.queries import InventoryState, ViewFilter, iter_graphs, status_counts, view_summary
from publish.feed_model import CatalogInfo, SourceInfo
from publish.feed_rdf import (FORMATS, P_ISSUED, P_MODIFIED, P_PRIMARY_TOPIC, T_RECORD, A, SourceStats,
                              catalog_triples, dt_literal, link_triples, minted_record_uri, source_catalog_triples,
                              source_catalog_uri)
from publish.server_http import HttpProblem

log = logging.getLogger(__name__)

RESULT_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}
_RESULT_BY_MEDIA = {v: k for k, v in RESULT_TYPES.items()} | {"application/json": "json", "application/xml": "xml",
                                                            "text/xml": "xml"}
# An update request starts (after its prologue) with one of these; a query never does.
_PROLOGUE = re.compile(r"\A(?:\s|#[^\n]*\n|(?:BASE\s*<[^>]*>)|(?:PREFIX\s+[\w.-]*:\s*<[^>]*>))*", re.I)
_UPDATE = re.compile(r"(INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD|WITH)\b", re.I)
DEFAULT = ox.DefaultGraph()


def is_update(text: str) -> bool:
    rest = text[_PROLOGUE.match(text).end():]
    return bool(_UPDATE.match(rest))


def results_format(accept: str, param: str | None) -> str:
    """The SPARQL results format for SELECT/ASK (JSON unless the client asks otherwise)."""
    if param:
        key = param.lower()
        if key in RESULT_TYPES:
            return key
        if key in _RESULT_BY_MEDIA:
            return _RESULT_BY_MEDIA[key]
        raise HttpProblem(400, f"unknown results format {param!r}; use one of {', '.join(RESULT_TYPES)}")
    best, best_q = "json", -1.0
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = next((float(p[2:]) for p in params if p.startswith("q=") and _is_float(p[2:])), 1.0)
        fmt = _RESULT_BY_MEDIA.get(media.lower())
        if fmt and q > best_q:
            best, best_q = fmt, q
    return best


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class SparqlService:
    """The lazily built store and the guarded, time-limited query runner."""

    def __init__(self, engine: Engine, catalog: CatalogInfo, sources: list[SourceInfo],
                 state: Callable[[], InventoryState], *, timeout: float = 10.0, limit: int = 10_000,
                 concurrency: int = 2, max_datasets: int = 0) -> None:
        self.engine, self.catalog, self.sources, self._state = engine, catalog, sources, state
        self.base = catalog.base_uri.rstrip("/")
        self.timeout, self.limit, self.max_datasets = timeout, limit, max_datasets
        self._store: tuple[str, ox.Store] | None = None
        self._build_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self.built_triples = 0

    def store(self) -> ox.Store:
        state = self._state()
        current = self._store
        if current is not None and current[0] == state.token:
            return current[1]
        with self._build_lock:
            current = self._store
            if current is None or current[0] != state.token:
                if self.max_datasets:
                    active = status_counts(self.engine).get("active", 0)
                    if active > self.max_datasets:
                        raise HttpProblem(503, f"SPARQL is limited to {self.max_datasets} datasets on this server "
                                               f"(the in-memory store needs ~30 kB each) and the inventory holds "
                                               f"{active}; use the feed or the exports, or raise "
                                               "--sparql-max-datasets")
                started = time.monotonic()
                store = self._build()
                self._store = (state.token, store)
                log.info("sparql: built the store (%d triples) in %.1f s", len(store), time.monotonic() - started)
            return self._store[1]

    def _build(self) -> ox.Store:
        """The published graph, loaded by pyoxigraph's own N-Triples parser in batches of
        stored graphs (per-triple Python objects, as :func:`prepare_dataset` makes, cost
        ~10x more at 100,000 datasets); then what the feed adds to each stored graph: the
        record's dates (and a minted record where the graph has none), and the links."""
        store = ox.Store()
        summary = view_summary(self.engine, ViewFilter(), 1_000_000)
        meta = catalog_triples(self.catalog, summary.modified)
        stats = {s.source_id: SourceStats(s.datasets, s.last_changed) for s in summary.sources}
        known = {s.source_id for s in self.sources}
        for info in self.sources:
            meta += source_catalog_triples(self.base, info, stats.get(info.source_id))
        for sid in sorted(set(stats) - known):
            meta += source_catalog_triples(self.base, SourceInfo(sid, sid, source_catalog_uri(self.base, sid),
                                                                 self.catalog.publisher_name,
                                                                 self.catalog.publisher_uri), stats[sid])
        store.extend([ox.Quad(t.subject, t.predicate, t.object, DEFAULT) for t in meta])
        loaded: dict[str, dict[str, Any]] = {}
        batch: list[dict[str, Any]] = []
        size = 0
        for row in iter_graphs(self.engine):
            if not row["uri"] or not row["nt"]:
                continue
            batch.append(row)
            size += len(row["nt"])
            if size > 8 << 20:
                self._load(store, batch, loaded)
                batch, size = [], 0
        self._load(store, batch, loaded)
        store.extend(self._record_quads(store, loaded))
        return store

    def _load(self, store: ox.Store, batch: list[dict[str, Any]], loaded: dict[str, dict[str, Any]]) -> None:
        if not batch:
            return
        try:
            store.load("".join(r["nt"] for r in batch), ox.RdfFormat.N_TRIPLES)
            good = batch
        except (SyntaxError, ValueError):  # one bad graph: load the batch one by one, leave it out
            good = []
            for r in batch:
                try:
                    store.load(r["nt"], ox.RdfFormat.N_TRIPLES)
                    good.append(r)
                except (SyntaxError, ValueError) as exc:
                    log.warning("sparql: left out [source=%s, record=%s, field=nt]: %s", r["source_id"],
                                r["native_id"], exc)
        for r in good:
            loaded[r["uri"]] = {k: r[k] for k in ("source_id", "native_id", "first_seen", "last_changed")}

    def _record_quads(self, store: ox.Store, loaded: dict[str, dict[str, Any]]) -> list[ox.Quad]:
        """Records' dates as the feed states them (prepare_dataset's rule), and the links."""
        records: dict[str, ox.NamedNode] = {}
        for q in store.quads_for_pattern(None, P_PRIMARY_TOPIC, None, DEFAULT):
            if isinstance(q.subject, ox.NamedNode) and q.object.value in loaded:
                records.setdefault(q.object.value, q.subject)
        record_nodes = set(records.values())
        for pred in (P_ISSUED, P_MODIFIED):  # the inventory's dates replace any stored ones
            for q in list(store.quads_for_pattern(None, pred, None, DEFAULT)):
                if q.subject in record_nodes:
                    store.remove(q)
        out: list[ox.Quad] = []
        links = []
        for uri, r in loaded.items():
            rec = records.get(uri)
            if rec is None:
                rec = ox.NamedNode(minted_record_uri(self.base, r["source_id"], r["native_id"]))
                out += [ox.Quad(rec, A, T_RECORD, DEFAULT), ox.Quad(rec, P_PRIMARY_TOPIC, ox.NamedNode(uri), DEFAULT)]
            out += [ox.Quad(rec, P_ISSUED, dt_literal(r["first_seen"]), DEFAULT),
                    ox.Quad(rec, P_MODIFIED, dt_literal(r["last_changed"]), DEFAULT)]
            links.append((r["source_id"], uri, rec.value))
        out += [ox.Quad(t.subject, t.predicate, t.object, DEFAULT) for t in link_triples(self.base, links)]
        return out

    def run(self, query: str, *, results_fmt: str, graph_fmt: str) -> tuple[bytes, str, bool]:
        """(body, media type, truncated) or :class:`HttpProblem`. Blocking: call from a thread."""
        if is_update(query):
            raise HttpProblem(403, "SPARQL updates are refused: this endpoint is read-only "
                                   "(the inventory changes only through harvest runs)")
        store = self.store()
        if not self._slots.acquire(timeout=self.timeout):
            raise HttpProblem(503, "all SPARQL slots are busy; retry in a few seconds")
        try:
            return self._run_in_child(store, query, results_fmt, graph_fmt)
        finally:
            self._slots.release()

    def _run_in_child(self, store: ox.Store, query: str, results_fmt: str, graph_fmt: str) -> tuple[bytes, str, bool]:
        ctx = multiprocessing.get_context("fork")
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_evaluate, args=(sender, store, query, results_fmt, graph_fmt, self.limit),
                            daemon=True)
        child.start()
        sender.close()
        try:
            if not receiver.poll(self.timeout):
                child.kill()
                raise HttpProblem(503, f"the query ran longer than the {self.timeout:g} s limit and was stopped; "
                                       "narrow its patterns or add a LIMIT", timeout_seconds=self.timeout)
            try:
                status, payload = receiver.recv()
            except EOFError:
                raise HttpProblem(503, "the query process died (out of memory?); narrow the query") from None
        finally:
            receiver.close()
            child.join(1)
            if child.is_alive():
                child.kill()
                child.join()
        if status == "syntax":
            raise HttpProblem(400, f"not a valid SPARQL 1.1 query: {payload}")
        if status == "error":
            raise HttpProblem(400, f"the query failed: {payload}")
        return payload


# --------------------------------------------------------------------------- child side


def _evaluate(conn: Any, store: ox.Store, query: str, results_fmt: str, graph_fmt: str, limit: int) -> None:
    try:
        result = store.query(query)
        conn.send(("ok", _serialise(result, results_fmt, graph_fmt, limit)))
    except SyntaxError as exc:
        conn.send(("syntax", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the client as a 400 with its message
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _serialise(result: Any, results_fmt: str, graph_fmt: str, limit: int) -> tuple[bytes, str, bool]:
    if isinstance(result, ox.QueryBoolean):
        return _boolean(bool(result), results_fmt), RESULT_TYPES[results_fmt], False
    if isinstance(result, ox.QueryTriples):
        triples, truncated = [], False
        for t in result:
            if len(triples) == limit:
                truncated = True
                break
            triples.append(t)
        return ox.serialize(triples, None, FORMATS[graph_fmt][0]), FORMATS[graph_fmt][1], truncated
    variables = [v.value for v in result.variables]
    rows, truncated = [], False
    for solution in result:
        if len(rows) == limit:
            truncated = True
            break
        rows.append([solution[v] for v in variables])
    return _solutions(variables, rows, results_fmt), RESULT_TYPES[results_fmt], truncated


def _boolean(value: bool, fmt: str) -> bytes:
    if fmt == "xml":
        return ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head/>'
                f"<boolean>{'true' if value else 'false'}</boolean></sparql>\n").encode()
    if fmt in ("csv", "tsv"):
        return b"_askResult\r\n" + (b"true" if value else b"false") + b"\r\n"
    return json.dumps({"head": {}, "boolean": value}).encode()


def _term_json(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    out = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype and term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
        out["datatype"] = term.datatype.value
    return out


def _term_xml(term: Any) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    attrs = ""
    if term.language:
        attrs = f" xml:lang={quoteattr(term.language)}"
    elif term.datatype and term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
        attrs = f" datatype={quoteattr(term.datatype.value)}"
    return f"<literal{attrs}>{escape(term.value)}</literal>"


def _csv_cell(term: Any) -> str:
    if term is None:
        return ""
    text = f"_:{term.value}" if isinstance(term, ox.BlankNode) else term.value
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def _solutions(variables: list[str], rows: list[list[Any]], fmt: str) -> bytes:
    if fmt == "json":
        bindings = [{v: _term_json(t) for v, t in zip(variables, row) if t is not None} for row in rows]
        return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}},
                          ensure_ascii=False).encode()
    if fmt == "xml":
        parts = ['<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>']
        parts += [f"<variable name={quoteattr(v)}/>" for v in variables]
        parts.append("</head><results>")
        for row in rows:
            parts.append("<result>")
            parts += [f"<binding name={quoteattr(v)}>{_term_xml(t)}</binding>"
                      for v, t in zip(variables, row) if t is not None]
            parts.append("</result>")
        parts.append("</results></sparql>\n")
        return "".join(parts).encode()
    if fmt == "tsv":
        lines = ["\t".join(f"?{v}" for v in variables)]
        lines += ["\t".join("" if t is None else str(t) for t in row) for row in rows]
        return ("\n".join(lines) + "\n").encode()
    lines = [",".join(variables)] + [",".join(_csv_cell(t) for t in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode()
