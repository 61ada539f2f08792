"""``GET /catalog/changes``: what was created, updated (with the changed fields) or withdrawn since a time.

A downstream tool syncs incrementally by asking for changes since its last sync and walking the
pages; each item is one version step of one dataset from ``dataset_changes`` (written by the loader
in the same transaction as the change itself, so the feed never shows a change the inventory does
not have). Items are ordered by (changed_at, id), so pages are stable while no load commits; a
client that wants to be safe against loads committing mid-walk asks again from the ``until`` of
its first page (the newest change time it saw).

The router reads ``request.app.state.engine`` (the inventory's SQLAlchemy engine), as the feed
service (publish/server.py) sets it; it only reads.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from inventory.models import dataset_changes, datasets
from publish.server_http import iso_utc

router = APIRouter(tags=["changes"])
MAX_PAGE_SIZE = 1000
ACTIVITY = {"created": "as:Create", "updated": "as:Update", "restored": "as:Update", "withdrawn": "as:Delete"}


def _since(value: str) -> datetime:
    try:
        return iso_utc(value)
    except ValueError:
        raise HTTPException(400, f"since={value!r} is not an ISO 8601 date or date-time "
                                 "(e.g. 2026-11-01 or 2026-11-01T03:00:00Z)") from None


def query_changes(conn: Any, *, since: datetime, sources: list[str] | None, offset: int,
                  limit: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of change items) since ``since`` for ``sources`` (None: all)."""
    c, d = dataset_changes, datasets
    where = [c.c.changed_at >= since]
    if sources:
        where.append(c.c.source_id.in_(sources))
    total = conn.execute(select(func.count()).select_from(c).where(*where)).scalar_one()
    stmt = (select(c.c.id, c.c.change, c.c.source_id, c.c.native_id, c.c.version, c.c.changed_at, c.c.run_id,
                   c.c.fields, d.c.uri, d.c.status)
            .join(d, d.c.id == c.c.dataset_id).where(*where).order_by(c.c.changed_at, c.c.id)
            .offset(offset).limit(limit))
    items = []
    for row in conn.execute(stmt):
        items.append({"change": row.change, "source_id": row.source_id, "native_id": row.native_id,
                      "uri": row.uri, "version": row.version,
                      "changed_at": row.changed_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                      "run_id": row.run_id, "fields": row.fields, "status_now": row.status})
    return int(total), items


def _jsonld(body: dict[str, Any]) -> dict[str, Any]:
    """The same page as an ActivityStreams 2.0 collection page: each change an activity on the dataset."""
    return {"@context": ["https://www.w3.org/ns/activitystreams", {"fields": "https://w3id.org/citycat#fields"}],
            "type": "OrderedCollectionPage", "id": body["self"], "next": body["next"], "totalItems": body["total"],
            "orderedItems": [{"type": ACTIVITY[i["change"]].split(":")[1], "object": i["uri"],
                              "published": i["changed_at"], "fields": i["fields"] or []} for i in body["items"]]}


@router.get("/catalog/changes", summary="Datasets created, updated (with the changed fields) or withdrawn since a time")
def changes(request: Request,
            since: str = Query(..., description="ISO 8601 date or date-time; changes at or after it"),
            source: str | None = Query(None, description="only these sources (sources.yaml ids, comma-separated)"),
            page: int = Query(1, ge=1, description="1-based page number"),
            page_size: int = Query(100, ge=1, le=MAX_PAGE_SIZE, description="items per page"),
            format: str | None = Query(None, description="json (default) or jsonld")) -> Response:
    when = _since(since)
    if format not in (None, "json", "jsonld"):
        raise HTTPException(400, f"format={format!r} is not offered; use json or jsonld")
    sources = [s.strip() for s in source.split(",") if s.strip()] if source else None
    engine = request.app.state.engine
    with engine.connect() as conn:
        total, items = query_changes(conn, since=when, sources=sources, offset=(page - 1) * page_size,
                                     limit=page_size)
    keep = [("since", since), ("source", source), ("page_size", str(page_size)), ("format", format)]

    def link(p: int) -> str:
        return str(request.url.replace(query=urlencode([(k, v) for k, v in keep if v] + [("page", str(p))])))

    last_page = max(1, -(-total // page_size))
    body = {"since": when.isoformat().replace("+00:00", "Z"), "source": sources, "page": page,
            "page_size": page_size, "total": total, "self": link(page),
            "next": link(page + 1) if page < last_page else None, "prev": link(page - 1) if page > 1 else None,
            "until": items[-1]["changed_at"] if items else None, "items": items}
    accept = request.headers.get("accept", "")
    if format == "jsonld" or (format is None and "application/ld+json" in accept):
        return JSONResponse(_jsonld(body), media_type="application/ld+json")
    return JSONResponse(body)


__all__ = ["query_changes", "router"]
