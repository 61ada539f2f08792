"""JSON catalog APIs with offset paging on 127.0.0.1: Socrata Discovery and OpenDataSoft Explore.

Tests and the offline example need the two catalog APIs that page a JSON listing by offset. One server
plays either, chosen by ``flavour``:

* ``socrata``: ``/api/catalog/v1`` (``domains``, ``only``, ``limit``/``offset`` or ``scroll_id``;
  answers ``{"results", "resultSetSize", "timings"}``) and per-view metadata ``/api/views/<id>.json``.
* ``ods-v2.1``: ``/api/explore/v2.1/catalog/datasets`` (``limit`` <= 100 or HTTP 400 as ODS answers,
  ``offset``, ``order_by=modified``, ``where`` with ``modified >= date'...'`` / ``modified < date'...'``;
  answers ``{"total_count", "results"}``).
* ``ods-v1``: ``/api/datasets/1.0/search/`` (``rows``/``start``; answers ``{"nhits", "parameters",
  "datasets"}``). ``stated_total`` makes ``nhits`` lie, as the recorded Etalab sandbox does.

:meth:`LocalCatalog.inject` faults, each for ``times`` matching requests (``path`` substring):
``status`` (an HTML 5xx page), ``truncate`` (body cut short of its Content-Length), ``html200``,
``repeat_page`` (the first page again whatever the offset or scroll id), ``body`` (raw bytes).

    python -m citycat.localcatalog ods-v1 tests/data/opendatasoft/ods_v1_search_etalab_sandbox.json
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

FLAVOURS = ("socrata", "ods-v2.1", "ods-v1")
_WHERE = re.compile(r"modified\s*(>=|<|<=|>)\s*date'([^']+)'", re.I)


def _ods_id(item: dict[str, Any]) -> str:
    return str(item.get("dataset_id") or item.get("datasetid") or "")


def _ods_modified(item: dict[str, Any]) -> str:
    metas = item.get("metas") or {}
    meta = metas.get("default", metas) if isinstance(metas, dict) else {}
    return str(meta.get("modified") or "")


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # clients hanging up early are fine
        pass


class LocalCatalog:
    """One catalog: its items (catalog entries / dataset objects as served), views, faults and request log."""

    def __init__(self, flavour: str, items: Iterable[dict[str, Any]], *, views: dict[str, Any] | None = None,
                 stated_total: int | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        self.flavour = flavour
        self.items = list(items)
        self.views = dict(views or {})
        self.stated_total = stated_total
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, kind: str, times: int = 1, path: str = "", **params: Any) -> None:
        with self._lock:
            self._faults.append({"kind": kind, "times": times, "path": path, **params})

    def take_fault(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            for f in self._faults:
                if f["path"] in path and f["times"] != 0:
                    f["times"] -= 1
                    return f
        return None

    def __enter__(self) -> "LocalCatalog":
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the APIs ------------------------------------------------------------------------

    def answer(self, path: str, q: dict[str, str], repeat: bool) -> tuple[int, Any]:
        if self.flavour == "socrata":
            if path.rstrip("/") == "/api/catalog/v1":
                return 200, self._socrata_catalog(q, repeat)
            if m := re.fullmatch(r"/api/views/([a-z0-9]{4}-[a-z0-9]{4})\.json", path):
                view = self.views.get(m[1])
                return (200, view) if view is not None else (404, {"code": "not_found", "error": True,
                                                                     "message": "Cannot find view with id " + m[1]})
        elif self.flavour == "ods-v2.1" and path.rstrip("/") == "/api/explore/v2.1/catalog/datasets":
            return self._ods_v21(q, repeat)
        elif self.flavour == "ods-v1" and path.rstrip("/") == "/api/datasets/1.0/search":
            return 200, self._ods_v1(q, repeat)
        return 404, {"error": f"no such endpoint {path}"}

    def _socrata_catalog(self, q: dict[str, str], repeat: bool) -> dict[str, Any]:
        hits = [e for e in self.items if not q.get("domains") or
                (e.get("metadata") or {}).get("domain") in q["domains"].split(",")]
        if q.get("only"):
            hits = [e for e in hits if e["resource"].get("type") in q["only"].split(",")]
        limit = int(q.get("limit", 10))
        if "scroll_id" in q:
            hits.sort(key=lambda e: str(e["resource"].get("id")))
            page = [e for e in hits if repeat or str(e["resource"].get("id")) > q["scroll_id"]][:limit]
        else:
            if q.get("order", "").split(" ")[0] == "updatedAt":
                hits.sort(key=lambda e: (str(e["resource"].get("updatedAt")), str(e["resource"].get("id"))))
            offset = 0 if repeat else int(q.get("offset", 0))
            page = hits[offset:offset + limit]
        return {"results": page, "resultSetSize": len(hits), "timings": {"serviceMillis": 3}, "warnings": []}

    def _ods_v21(self, q: dict[str, str], repeat: bool) -> tuple[int, Any]:
        limit = int(q.get("limit", 10))
        if limit > 100:
            return 400, {"error_code": "InvalidRESTParameterError",
                         "message": f"Invalid value for limit API parameter: {limit} was found but -1 <= limit "
                                    "<= 100 is expected."}
        hits = list(self.items)
        for op, value in _WHERE.findall(q.get("where", "")):
            bound = _when(value)
            test = {">=": bound.__le__, ">": bound.__lt__, "<": bound.__gt__, "<=": bound.__ge__}[op]
            hits = [i for i in hits if _ods_modified(i) and test(_when(_ods_modified(i)))]
        if q.get("order_by", "").startswith("modified"):
            hits.sort(key=lambda i: (_ods_modified(i), _ods_id(i)))
        offset = 0 if repeat else int(q.get("offset", 0))
        return 200, {"total_count": len(hits), "results": hits[offset:offset + limit]}

    def _ods_v1(self, q: dict[str, str], repeat: bool) -> dict[str, Any]:
        rows, start = int(q.get("rows", 10)), 0 if repeat else int(q.get("start", 0))
        total = self.stated_total if self.stated_total is not None else len(self.items)
        return {"nhits": total, "parameters": {"timezone": "UTC", "rows": rows, "format": "json", "staged": False},
                "datasets": self.items[start:start + rows]}


def _handler_for(cat: LocalCatalog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            cat.requests.append((parts.path, q))
            fault = cat.take_fault(parts.path)
            kind = fault["kind"] if fault else None
            if kind == "status":
                return self._send(int(fault.get("status", 500)), b"<html><body>Server Error</body></html>", "text/html")
            if kind == "html200":
                return self._send(200, b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>",
                                  "text/html")
            if kind == "body":
                return self._send(int(fault.get("status", 200)), fault["data"], "application/json")
            status, doc = cat.answer(parts.path, q, repeat=kind == "repeat_page")
            data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
            self._send(status, data, "application/json; charset=utf-8",
                       cut=len(data) // 2 if kind == "truncate" else None)

        def _send(self, status: int, body: bytes, ctype: str, cut: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

    return Handler


def items_of(doc: Any) -> list[dict[str, Any]]:
    """The catalog items of a recorded response of any of the three APIs."""
    for key in ("results", "datasets"):
        if isinstance(doc, dict) and isinstance(doc.get(key), list):
            return doc[key]
    raise ValueError("not a Socrata catalog / ODS catalog response (no 'results' or 'datasets' list)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("flavour", choices=FLAVOURS)
    ap.add_argument("responses", nargs="+", type=Path, help="recorded catalog responses (JSON)")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    items = [i for p in args.responses for i in items_of(json.loads(p.read_text(encoding="utf-8")))]
    with LocalCatalog(args.flavour, items, port=args.port) as cat:
        print(f"serving {len(items)} catalog items at {cat.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
