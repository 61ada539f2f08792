"""HTTP plumbing of the feed service: content negotiation, validators, errors.

Kept out of the route module so the rules (which media types map to which format, when a
request is answered 304) are in one place and testable on their own.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from publish.feed_rdf import FORMATS

# media type -> feed format (ext). The first media type of each format is the one we send.
MEDIA_TYPES: dict[str, str] = {
    "text/turtle": "ttl", "application/x-turtle": "ttl",
    "application/ld+json": "jsonld", "application/json": "jsonld",
    "application/rdf+xml": "rdf", "application/xml": "rdf", "text/xml": "rdf",
    "application/n-triples": "nt", "text/plain": "nt",
}
RDF_PREFERENCE = ("ttl", "jsonld", "rdf", "nt")  # ties (and */*) go to the first
HTML = "html"


class HttpProblem(Exception):
    """A request the service refuses with a 4xx and a message that names the fix."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def problem_response(exc: HttpProblem) -> JSONResponse:
    body = {"status": exc.status, "error": exc.message, **exc.extra}
    return JSONResponse(body, status_code=exc.status)


def _accept_entries(header: str) -> list[tuple[str, float, int]]:
    out = []
    for i, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        out.append((media, q, i))
    return out


def negotiate(request: Request, *, html: bool = False) -> str:
    """The format for this request from its ``Accept`` header (``ttl`` when absent or ``*/*``).

    Highest q wins; on a tie the more specific range, then our preference order (Turtle
    first, HTML before RDF only when the client names it). 406 when nothing we have fits."""
    header = request.headers.get("accept", "").strip()
    if not header:
        return "ttl"
    offers = ([HTML] if html else []) + list(RDF_PREFERENCE)
    best: tuple[float, int, int, str] | None = None
    for media, q, _ in _accept_entries(header):
        if q <= 0:
            continue
        if media == "*/*":
            cands = [(o, 0) for o in RDF_PREFERENCE]
        elif media == "text/html" or media == "application/xhtml+xml":
            cands = [(HTML, 2)] if html else []
        elif media.endswith("/*"):
            major = media[:-2]
            cands = [(fmt, 1) for m, fmt in MEDIA_TYPES.items() if m.startswith(major + "/")]
        else:
            cands = [(MEDIA_TYPES[media], 2)] if media in MEDIA_TYPES else []
        for fmt, spec in cands:
            key = (q, spec, -offers.index(fmt), fmt)
            if best is None or key[:3] > best[:3]:
                best = key
    if best is None:
        raise HttpProblem(406, f"none of the media types in Accept: {header!r} is available here",
                          available=sorted({FORMATS[f][1] for f in RDF_PREFERENCE} | ({"text/html"} if html else set())))
    return best[3]


def format_from_param(value: str | None) -> str | None:
    if value is None:
        return None
    if value in FORMATS:
        return value
    if value.lower() in MEDIA_TYPES:
        return MEDIA_TYPES[value.lower()]
    raise HttpProblem(400, f"unknown format {value!r}; use one of {', '.join(FORMATS)}")


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def weak_etag(*parts: object) -> str:
    """Weak: the same representation may be sent gzipped or not (GZipMiddleware)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f'W/"{digest}"'


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = etag[2:] if etag.startswith("W/") else etag
    for tag in header.split(","):
        tag = tag.strip()
        if (tag[2:] if tag.startswith("W/") else tag) == bare:
            return True
    return False


def not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return _etag_matches(inm, etag)
    ims = request.headers.get("if-modified-since")
    if ims and last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False  # an unparsable date is ignored (RFC 9110)
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return last_modified.replace(microsecond=0) <= since
    return False


@dataclass(frozen=True)
class Body:
    """A rendered representation, kept with its gzip form so a cached page is compressed once."""

    data: bytes
    gz: bytes
    media_type: str
    etag: str
    last_modified: datetime | None

    @classmethod
    def make(cls, data: bytes, media_type: str, etag: str, last_modified: datetime | None) -> "Body":
        return cls(data, gzip.compress(data, compresslevel=5, mtime=0), media_type, etag, last_modified)

    @property
    def size(self) -> int:
        return len(self.data) + len(self.gz) + 200


def validator_headers(etag: str, last_modified: datetime | None, vary: str = "Accept") -> dict[str, str]:
    headers = {"ETag": etag, "Vary": f"{vary}, Accept-Encoding" if vary else "Accept-Encoding",
               "Cache-Control": "public, max-age=60"}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    return headers


def send_body(request: Request, body: Body, *, vary: str = "Accept", extra: dict[str, str] | None = None) -> Response:
    """304 when the client's copy is current; else the body, gzipped when the client takes it
    (the pre-compressed bytes, so GZipMiddleware, seeing Content-Encoding, leaves it alone)."""
    headers = validator_headers(body.etag, body.last_modified, vary)
    headers.update(extra or {})
    if not_modified(request, body.etag, body.last_modified):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(body.gz, media_type=body.media_type, headers=headers)
    return Response(body.data, media_type=body.media_type, headers=headers)


def parse_iso(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time; naive values are UTC. 400 naming the parameter otherwise."""
    if value is None or value == "":
        return None
    try:
        return iso_utc(value)
    except ValueError:
        raise HttpProblem(400, f"{name}={value!r} is not an ISO 8601 date or date-time "
                               "(e.g. 2025-01-31 or 2025-01-31T12:00:00Z)") from None


def iso_utc(value: str) -> datetime:
    """A query parameter's ISO 8601 date or date-time as an aware UTC datetime (naive values are UTC; a
    trailing ``Z`` and a '+' that arrived as a space are accepted). ValueError when it is not one."""
    text = value.strip().replace(" ", "+")  # an unencoded '+' in a query string arrives as a space
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


class HeadAsGet:
    """Answer ``HEAD`` like ``GET`` without the body (FastAPI routes are GET-only): link checkers
    and some harvesters ask ``HEAD`` first for the validators and the media type."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: dict) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
