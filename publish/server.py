"""The DCAT feed service: a read-only FastAPI app over the inventory (docs/serve.md).

``create_app(inventory, catalog=..., sources=...)`` builds the app; ``citycat serve`` runs
it with uvicorn. The catalogue pages are the static feed's graphs (publish.feed_rdf) built
on request from the inventory and cached by inventory state (publish.server_pages);
tombstones, exports, dataset pages and SPARQL live in their own modules. Every refusal is
an :class:`~publish.server_http.HttpProblem`: a 4xx with a JSON body that says what to fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from inventory.queries import ViewFilter, known_sources, status_counts
from publish.feed_model import CatalogInfo, SourceInfo
from publish.feed_rdf import FORMATS
from publish.server_http import (HeadAsGet, HttpProblem, format_from_param, negotiate, parse_iso, problem_response,
                                 send_body)
from publish.server_pages import Renderer
from publish.server_routes import add_routes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSettings:
    """Limits and cache sizes (docs/serve.md "Limits")."""

    page_size: int = 100
    max_page_size: int = 1000
    state_ttl: float = 1.0
    page_cache_bytes: int = 64 << 20
    sparql_timeout: float = 10.0
    sparql_limit: int = 10_000
    sparql_max_datasets: int = 0  # 0: no limit
    data_dir: Path | None = None


FILTER_DOC = {
    "source": "only datasets of these sources (sources.yaml ids, comma-separated)",
    "institution": "only datasets of sources held by this institution (its name or URI in sources.yaml)",
    "modified_since": "only datasets created or changed in the inventory at or after this ISO 8601 time",
    "primary": "true: leave out datasets that duplicate another source's dataset (keep each cluster's primary)",
}


def create_app(inventory: Any, *, catalog: CatalogInfo, sources: list[SourceInfo],
               settings: ServerSettings | None = None) -> FastAPI:
    """The app over ``inventory`` (an :class:`inventory.Inventory`; only read)."""
    settings = settings or ServerSettings()
    engine = inventory.engine
    renderer = Renderer(engine, catalog, sources, state_ttl=settings.state_ttl,
                        page_cache_bytes=settings.page_cache_bytes)
    app = FastAPI(title=f"{catalog.title} — DCAT feed service", version="1",
                  description="A DCAT-AP 3 feed of the city region's data inventory: paged, content-negotiated "
                              "catalogue with Hydra links, dereferenceable dataset URIs, a tombstone feed of "
                              "withdrawn datasets, CSV/JSON exports and a read-only SPARQL endpoint.")
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    app.add_middleware(HeadAsGet)  # outermost
    app.state.inventory, app.state.engine, app.state.renderer = inventory, engine, renderer
    app.state.catalog, app.state.sources, app.state.settings = catalog, sources, settings
    base = catalog.base_uri.rstrip("/")

    @app.exception_handler(HttpProblem)
    async def _problem(_: Request, exc: HttpProblem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                 for e in exc.errors()]
        return problem_response(HttpProblem(400, "bad parameter: " + "; ".join(parts)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(HttpProblem(exc.status_code, str(exc.detail)))

    # ------------------------------------------------------------------ filters

    def sources_in_inventory() -> set[str]:
        state = renderer.state()
        key = ("sources", state.token)
        found = renderer.summaries.get(key)
        if found is None:
            found = frozenset(known_sources(engine))
            renderer.summaries.put(key, found, 64 * len(found) + 64)
        return set(found) | {s.source_id for s in sources}

    def view_for(source: str | None, institution: str | None, modified_since: str | None,
                 primary: bool) -> ViewFilter:
        chosen: set[str] | None = None
        if source:
            wanted = {s.strip() for s in source.split(",") if s.strip()}
            unknown = sorted(wanted - sources_in_inventory())
            if unknown:
                raise HttpProblem(400, f"unknown source(s) {', '.join(unknown)}",
                                  known_sources=sorted(sources_in_inventory()))
            chosen = wanted
        if institution:
            key = institution.strip().casefold()
            held = {s.source_id for s in sources
                    if s.institution_name.casefold() == key or (s.institution_uri or "").casefold() == key}
            if not held:
                raise HttpProblem(400, f"unknown institution {institution!r}",
                                  known_institutions=sorted({s.institution_name for s in sources}))
            chosen = held if chosen is None else chosen & held
        return ViewFilter(sources=None if chosen is None else tuple(sorted(chosen)),
                          modified_since=parse_iso(modified_since, "modified_since"), primary=primary)

    def check_page_size(page_size: int | None) -> int:
        size = settings.page_size if page_size is None else page_size
        if size < 1 or size > settings.max_page_size:
            raise HttpProblem(400, f"page_size={size} is out of range; use 1 to {settings.max_page_size}")
        return size

    def link_template(request: Request, path: str, keep: list[tuple[str, str]]) -> str:
        query = "&".join(["page={n}"] + ([urlencode(keep)] if keep else []))
        return f"{str(request.base_url).rstrip('/')}{path}?{query}"

    # ------------------------------------------------------------------ catalogue

    async def catalog_response(request: Request, path_ext: str | None, page: int, page_size: int | None,
                               source: str | None, institution: str | None, modified_since: str | None,
                               primary: bool, fmt: str | None) -> Response:
        if path_ext is not None and path_ext not in FORMATS:
            raise HttpProblem(404, f"no catalogue format .{path_ext}; use one of "
                                   + ", ".join(f"/catalog.{e}" for e in FORMATS))
        ext = path_ext or format_from_param(fmt) or negotiate(request)
        if page < 1:
            raise HttpProblem(400, f"page={page} is out of range; pages start at 1")
        size = check_page_size(page_size)
        keep = [(k, v) for k, v in (("page_size", page_size), ("source", source), ("institution", institution),
                                    ("modified_since", modified_since), ("primary", "true" if primary else None),
                                    ("format", fmt)) if v is not None]
        template = link_template(request, "/catalog" + (f".{path_ext}" if path_ext else ""), keep)
        state = renderer.cached_state()
        if state is not None and not (source or institution or modified_since):  # no validation needed
            key = renderer.page_key(state, ViewFilter(primary=primary), page, size, ext, template)
            body = renderer.pages.get(key)
            if body is not None:  # the hot path: no thread hop, no database
                renderer.hit(key)
                return send_body(request, body)

        def render():
            view = view_for(source, institution, modified_since, primary)
            st = renderer.state()
            summary = renderer.summary(view, size, st)
            if page > summary.pages:
                raise HttpProblem(404, f"page={page} is out of range: this view has {summary.pages} page(s) "
                                       f"of {size}", pages=summary.pages, total=summary.total)
            return renderer.catalog_page(st, view, page, size, ext, template)

        return send_body(request, await run_in_threadpool(render))

    params = dict(
        page=Query(1, description="page number, from 1"),
        page_size=Query(None, description="datasets per page (default from sources.yaml, at most the cap)"),
        source=Query(None, description=FILTER_DOC["source"]),
        institution=Query(None, description=FILTER_DOC["institution"]),
        modified_since=Query(None, description=FILTER_DOC["modified_since"]),
        primary=Query(False, description=FILTER_DOC["primary"]),
        format=Query(None, description="ttl, jsonld, rdf or nt (overrides Accept)"),
    )

    @app.get("/catalog", summary="The DCAT-AP 3 catalogue, one Hydra page, format by Accept",
             response_class=Response, tags=["catalogue"])
    async def catalog(request: Request, page: int = params["page"], page_size: int | None = params["page_size"],
                      source: str | None = params["source"], institution: str | None = params["institution"],
                      modified_since: str | None = params["modified_since"], primary: bool = params["primary"],
                      format: str | None = params["format"]) -> Response:
        return await catalog_response(request, None, page, page_size, source, institution, modified_since,
                                      primary, format)

    @app.get("/catalog.{ext}", summary="The catalogue in one format by extension (ttl, jsonld, rdf, nt)",
             response_class=Response, tags=["catalogue"])
    async def catalog_ext(request: Request, ext: str, page: int = params["page"],
                          page_size: int | None = params["page_size"], source: str | None = params["source"],
                          institution: str | None = params["institution"],
                          modified_since: str | None = params["modified_since"],
                          primary: bool = params["primary"]) -> Response:
        return await catalog_response(request, ext, page, page_size, source, institution, modified_since,
                                      primary, None)

    add_routes(app, renderer=renderer, settings=settings, base=base, view_for=view_for,
               check_page_size=check_page_size, link_template=link_template)
    try:
        from publish.server_changes import router as changes_router
    except ImportError as exc:
        log.info("serve: no /catalog/changes (publish.server_changes not importable: %s)", exc)
    else:
        app.include_router(changes_router)

    @app.get("/catalog/{source_id}", summary="A source's sub-catalogue: redirects to the catalogue filtered to it",
             tags=["catalogue"], status_code=303)
    def sub_catalogue(source_id: str) -> RedirectResponse:
        if source_id not in sources_in_inventory():
            raise HttpProblem(404, f"no source {source_id!r} in this catalogue",
                              known_sources=sorted(sources_in_inventory()))
        return RedirectResponse(f"/catalog?source={quote(source_id, safe='')}", status_code=303)

    @app.get("/", summary="What this service offers (links to every endpoint)", tags=["service"])
    def index() -> dict[str, Any]:
        counts = status_counts(engine)
        return {"catalog": f"{base}/catalog", "datasets": counts.get("active", 0),
                "withdrawn": counts.get("withdrawn", 0),
                "endpoints": {"catalog": "/catalog", "withdrawn": "/catalog/withdrawn",
                              "changes": "/catalog/changes", "datasets": "/dataset/{source_id}/{native_id}",
                              "export": ["/export.csv", "/export.json"], "sparql": "/sparql", "report": "/report",
                              "openapi": "/openapi.json"},
                "formats": {ext: media for ext, (_, media) in FORMATS.items()}, "cache": renderer.stats()}

    @app.get("/report", summary="The audit report (written by `citycat report`)", response_class=HTMLResponse,
             tags=["report"])
    def report() -> Response:
        path = (settings.data_dir / "report" / "index.html") if settings.data_dir else None
        if path is None or not path.is_file():
            raise HttpProblem(404, "no audit report yet: run `citycat report` (it writes <data dir>/report/index.html)")
        return FileResponse(path, media_type="text/html")

    return app
