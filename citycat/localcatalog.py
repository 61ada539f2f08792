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

:meth:`LocalCatalog.inject` faults, each for ``times`` matching requests (``path`` substring): the common
ones of :mod:`citycat.localserver` (``status``, ``truncate``, ``html200``, ``body``...) and ``repeat_page``
(the first page again whatever the offset or scroll id).

    python -m citycat.localcatalog ods-v1 tests/data/opendatasoft/ods_v1_search_etalab_sandbox.json
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from citycat.localserver import Fault, LocalServer, Reply, Request

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


class LocalCatalog(LocalServer):
    """One catalog: its items (catalog entries / dataset objects as served), views, faults and request log.

    A fault's scope is a substring of the URL path (``inject(kind, times, path=...)``, "" = any).
    """

    thread_name = "localcatalog"

    def __init__(self, flavour: str, items: Iterable[dict[str, Any]], *, views: dict[str, Any] | None = None,
                 stated_total: int | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        self.flavour = flavour
        self.items = list(items)
        self.views = dict(views or {})
        self.stated_total = stated_total
        super().__init__(host=host, port=port)

    def inject(self, kind: str, times: int = 1, path: str = "", **params: Any) -> None:
        super().inject(kind, times, path, **params)

    def fault_applies(self, fault: Fault, request: Request) -> bool:
        return (fault.scope or "") in request.path

    def log_entry(self, request: Request) -> tuple[str, dict[str, str]]:
        return request.path, request.query

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        status, doc = self._api(request.path, request.query, repeat=fault is not None and fault.kind == "repeat_page")
        return Reply(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    # -- the APIs ------------------------------------------------------------------------

    def _api(self, path: str, q: dict[str, str], repeat: bool) -> tuple[int, Any]:
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
    cat = LocalCatalog(args.flavour, items, port=args.port)
    print(f"serving {len(items)} catalog items at {cat.url}", flush=True)
    cat.serve_forever()


if __name__ == "__main__":
    main()
