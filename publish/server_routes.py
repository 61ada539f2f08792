"""The feed service's other routes: dataset URIs, tombstones, exports and SPARQL.

Registered by :func:`publish.server.create_app`, which owns the shared pieces (renderer,
filters, settings) and passes them in.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Callable
from urllib.parse import parse_qs

import pyoxigraph as ox
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from rdflib.namespace import FOAF, OWL, RDF
from starlette.concurrency import run_in_threadpool

from inventory.queries import iter_rows, withdrawn_count, withdrawn_page
from publish.feed_rdf import FORMATS, dt_literal, segment, serialize
from publish.server_export import csv_lines, json_array
from publish.server_html import dataset_html
from publish.server_http import (HTML, Body, HttpProblem, format_from_param, negotiate, not_modified, parse_iso,
                                 send_body, validator_headers, weak_etag)
from publish.server_sparql import SparqlService, results_format
from publish.server_withdrawn import tombstone_json, tombstone_rdf


def _iso(t: datetime | None) -> str | None:
    return None if t is None else dt_literal(t).value


def add_routes(app: FastAPI, *, renderer: Any, settings: Any, base: str, view_for: Callable[..., Any],
               check_page_size: Callable[[int | None], int], link_template: Callable[..., str]) -> None:
    catalog = renderer.catalog
    titles = {s.source_id: s.title for s in renderer.sources}
    by_source = {s.source_id: s for s in renderer.sources}

    # ------------------------------------------------------------------ tombstones

    @app.get("/catalog/withdrawn", summary="Tombstones: withdrawn datasets and when they were withdrawn",
             response_class=Response, tags=["catalogue"])
    def withdrawn(request: Request, page: int = Query(1, description="page number, from 1"),
                  page_size: int | None = Query(None, description="tombstones per page"),
                  since: str | None = Query(None, description="only withdrawals at or after this ISO 8601 time"),
                  source: str | None = Query(None, description="only these sources (comma-separated ids)"),
                  format: str | None = Query(None, description="ttl, jsonld, rdf, nt or json")) -> Response:
        return _withdrawn(request, None, page, page_size, since, source, format)

    @app.get("/catalog/withdrawn.{ext}", summary="Tombstones in one format (ttl, jsonld, rdf, nt, json)",
             response_class=Response, tags=["catalogue"])
    def withdrawn_ext(request: Request, ext: str, page: int = Query(1), page_size: int | None = Query(None),
                      since: str | None = Query(None), source: str | None = Query(None)) -> Response:
        if ext not in FORMATS and ext != "json":
            raise HttpProblem(404, f"no tombstone format .{ext}; use ttl, jsonld, rdf, nt or json")
        return _withdrawn(request, ext, page, page_size, since, source, None)

    def _withdrawn(request: Request, ext: str | None, page: int, page_size: int | None, since_text: str | None,
                   source: str | None, fmt: str | None) -> Response:
        if ext is None:
            ext = "json" if fmt == "json" else (format_from_param(fmt) or negotiate(request))
        since = parse_iso(since_text, "since")
        view = view_for(source, None, None, False)
        size = check_page_size(page_size)
        if page < 1:
            raise HttpProblem(400, f"page={page} is out of range; pages start at 1")
        state = renderer.state()
        total = withdrawn_count(renderer.engine, since=since, sources=view.sources)
        pages = max(1, math.ceil(total / size))
        if page > pages:
            raise HttpProblem(404, f"page={page} is out of range: {pages} page(s) of {size}", pages=pages)
        keep = [(k, v) for k, v in (("page_size", page_size), ("since", since_text), ("source", source),
                                    ("format", fmt)) if v is not None]
        template = link_template(request, "/catalog/withdrawn" + (f".{ext}" if request.url.path.endswith(
            f".{ext}") else ""), keep)
        etag = weak_etag("withdrawn", state.token, template, page, ext)
        if not_modified(request, etag, state.modified):
            return Response(status_code=304, headers=validator_headers(etag, state.modified))
        rows = withdrawn_page(renderer.engine, since=since, sources=view.sources, offset=(page - 1) * size, limit=size)
        paging = dict(page=page, pages=pages, total=total, page_size=size,
                      page_url=lambda n: template.replace("{n}", str(n)))
        if ext == "json":
            data, media = json.dumps(tombstone_json(rows, **paging)).encode(), "application/json"
        else:
            data, media = tombstone_rdf(base, rows, ext, **paging), FORMATS[ext][1]
        return send_body(request, Body.make(data, media, etag, state.modified))

    # ------------------------------------------------------------------ datasets

    @app.get("/dataset/{source_id}/{native_id:path}", response_class=Response, tags=["datasets"],
             summary="A dataset's URI: RDF by Accept (or .ttl/.jsonld/.rdf/.nt), HTML for browsers")
    def dataset(request: Request, source_id: str, native_id: str) -> Response:
        row, ext = renderer.dataset(source_id, native_id), None
        if row is None and "." in native_id:
            stem, _, suffix = native_id.rpartition(".")
            if suffix in FORMATS or suffix == "html":
                row, ext = renderer.dataset(source_id, stem), suffix
                native_id = stem
        if row is None:
            raise HttpProblem(404, f"no dataset {native_id!r} of source {source_id!r} in the inventory")
        fmt = ext or negotiate(request, html=True)
        if row["status"] == "withdrawn":
            return _gone(request, row, fmt)
        if fmt == HTML:
            return _html(request, row, 200)
        return send_body(request, renderer.dataset_body(row, fmt))

    @app.get("/institution/{source_id}", response_class=Response, tags=["datasets"],
             summary="An institution URI minted for a source without its own (foaf:Agent), RDF by Accept")
    def institution(request: Request, source_id: str) -> Response:
        ext = None
        if source_id not in by_source and "." in source_id and source_id.rpartition(".")[2] in FORMATS:
            source_id, _, ext = source_id.rpartition(".")
        info = by_source.get(source_id)
        if info is None:
            raise HttpProblem(404, f"no source {source_id!r} in sources.yaml, so no institution minted for it")
        fmt = ext or negotiate(request)
        node = ox.NamedNode(f"{base}/institution/{segment(source_id)}")
        triples = [ox.Triple(node, ox.NamedNode(str(RDF.type)), ox.NamedNode(str(FOAF.Agent))),
                   ox.Triple(node, ox.NamedNode(str(FOAF.name)), ox.Literal(info.institution_name))]
        if info.institution_uri:  # the mappings use the institution's own URI when it has one
            triples.append(ox.Triple(node, ox.NamedNode(str(OWL.sameAs)), ox.NamedNode(info.institution_uri)))
        etag = weak_etag("institution", source_id, info.institution_name, info.institution_uri, fmt)
        return send_body(request, Body.make(serialize(triples, fmt), FORMATS[fmt][1], etag, None))

    def _self_url(row: dict[str, Any]) -> str:
        return f"/dataset/{segment(row['source_id'])}/{segment(row['native_id'])}"

    def _html(request: Request, row: dict[str, Any], status: int) -> Response:
        etag = weak_etag("html", row["uri"], row["content_hash"], row["last_changed"], row["status"])
        headers = validator_headers(etag, row.get("withdrawn_at") or row["last_changed"])
        if status == 200 and not_modified(request, etag, row["last_changed"]):
            return Response(status_code=304, headers=headers)
        page = dataset_html(row=row.get("row"), uri=row["uri"] or "", self_url=_self_url(row),
                            catalog_url="/catalog", catalog_title=catalog.title,
                            source_title=titles.get(row["source_id"], row["source_id"]),
                            first_seen=_iso(row["first_seen"]) or "", last_changed=_iso(row["last_changed"]) or "",
                            withdrawn_at=_iso(row.get("withdrawn_at")),
                            alternates=[(e, m) for e, (_, m) in FORMATS.items()])
        return HTMLResponse(page, status_code=status, headers=headers)

    def _gone(request: Request, row: dict[str, Any], fmt: str) -> Response:
        """410: the dataset existed and was withdrawn; say when, and where the tombstones are."""
        if fmt == HTML:
            return _html(request, row, 410)
        raise HttpProblem(410, f"dataset {row['native_id']!r} of source {row['source_id']!r} was withdrawn",
                          uri=row["uri"], withdrawn_at=_iso(row["withdrawn_at"]),
                          reason=row.get("withdrawn_reason"), tombstones="/catalog/withdrawn")

    # ------------------------------------------------------------------ exports

    def _export(request: Request, kind: str, source: str | None, institution: str | None,
                modified_since: str | None, primary: bool) -> Response:
        view = view_for(source, institution, modified_since, primary)
        state = renderer.state()
        etag = weak_etag("export", kind, state.token, repr(view))
        headers = validator_headers(etag, state.modified, vary="")
        if not_modified(request, etag, state.modified):
            return Response(status_code=304, headers=headers)
        rows = iter_rows(renderer.engine, view)
        if kind == "csv":
            headers["Content-Disposition"] = 'attachment; filename="inventory.csv"'
            return StreamingResponse(csv_lines(rows), media_type="text/csv; charset=utf-8", headers=headers)
        headers["Content-Disposition"] = 'attachment; filename="inventory.json"'
        return StreamingResponse(json_array(rows), media_type="application/json", headers=headers)

    export_doc = "the flat rows of the (filtered) active datasets; columns as docs/flat-row.md"

    @app.get("/export.csv", summary="CSV export of the flat inventory (for spreadsheets)", tags=["exports"],
             response_class=Response, description=export_doc)
    def export_csv(request: Request, source: str | None = None, institution: str | None = None,
                   modified_since: str | None = None, primary: bool = False) -> Response:
        return _export(request, "csv", source, institution, modified_since, primary)

    @app.get("/export.json", summary="JSON export of the flat inventory (an array of rows)", tags=["exports"],
             response_class=Response, description=export_doc)
    def export_json(request: Request, source: str | None = None, institution: str | None = None,
                    modified_since: str | None = None, primary: bool = False) -> Response:
        return _export(request, "json", source, institution, modified_since, primary)

    # ------------------------------------------------------------------ SPARQL

    sparql = SparqlService(renderer.engine, catalog, renderer.sources, renderer.state,
                           timeout=settings.sparql_timeout, limit=settings.sparql_limit,
                           max_datasets=settings.sparql_max_datasets)
    app.state.sparql = sparql

    def _sparql(request: Request, query: str | None, fmt: str | None, has_dataset_params: bool) -> Response:
        if not query or not query.strip():
            raise HttpProblem(400, "no query: pass it as ?query=, as a form field 'query', "
                                   "or as an application/sparql-query body")
        if has_dataset_params:
            raise HttpProblem(400, "default-graph-uri / named-graph-uri are not supported: "
                                   "the endpoint has one default graph (the published feed)")
        accept = request.headers.get("accept", "")
        graph_fmt = format_from_param(fmt) if fmt in FORMATS else _graph_format(request)
        results_fmt = results_format(accept, fmt if fmt and fmt not in FORMATS else None)
        data, media, truncated = sparql.run(query, results_fmt=results_fmt, graph_fmt=graph_fmt)
        headers = {"X-SPARQL-Truncated": "true" if truncated else "false",
                   "X-SPARQL-Result-Limit": str(settings.sparql_limit), "Cache-Control": "no-cache"}
        return Response(data, media_type=media, headers=headers)

    def _graph_format(request: Request) -> str:
        try:
            return negotiate(request)
        except HttpProblem:  # an Accept for SELECT results only: CONSTRUCT answers in Turtle
            return "ttl"

    @app.get("/sparql", summary="Read-only SPARQL 1.1 query (results limited, time-limited)", tags=["sparql"],
             response_class=Response)
    def sparql_get(request: Request, query: str | None = Query(None, description="the SPARQL query"),
                   format: str | None = Query(None, description="json, xml, csv, tsv (SELECT/ASK) or an RDF "
                                                                 "format (CONSTRUCT/DESCRIBE)")) -> Response:
        if request.query_params.get("update"):
            raise HttpProblem(403, "SPARQL updates are refused: this endpoint is read-only")
        has_ds = bool(request.query_params.getlist("default-graph-uri") or
                      request.query_params.getlist("named-graph-uri"))
        return _sparql(request, query, format, has_ds)

    @app.post("/sparql", summary="SPARQL query by POST (form or application/sparql-query); updates refused",
              tags=["sparql"], response_class=Response)
    async def sparql_post(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        fmt = request.query_params.get("format")
        if ctype == "application/sparql-update":
            raise HttpProblem(403, "SPARQL updates are refused: this endpoint is read-only")
        if ctype == "application/sparql-query":
            query, has_ds = raw.decode("utf-8", "replace"), False
        elif ctype == "application/x-www-form-urlencoded":
            form = parse_qs(raw.decode("utf-8", "replace"))
            if "update" in form:
                raise HttpProblem(403, "SPARQL updates are refused: this endpoint is read-only")
            query = (form.get("query") or [None])[0]
            fmt = (form.get("format") or [fmt])[0]
            has_ds = "default-graph-uri" in form or "named-graph-uri" in form
        else:
            raise HttpProblem(415, f"unsupported Content-Type {ctype or '(none)'!r}; send "
                                   "application/sparql-query or application/x-www-form-urlencoded")
        return await run_in_threadpool(_sparql, request, query, fmt, has_ds)
