"""A CKAN-Action-API-shaped HTTP server on 127.0.0.1, for tests, the offline example and benchmarks.

Harvester tests need a real HTTP peer (connection reuse, truncated bodies, slow replies,
status codes) rather than mocks, and nothing may leave the machine. This serves recorded real
``package_show`` payloads (a directory) or a synthetic portal of any size (see
:mod:`citycat.synthetic`), answers the actions a harvester uses with CKAN's envelope, and can
inject the faults real portals produce.

    with LocalPortal.synthetic(10_000) as portal:
        RemoteCKAN(portal.url).action.package_search(rows=1000)

    python -m citycat.localportal --synthetic 100000 --port 8800
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

from citycat.synthetic import SyntheticSpec, SyntheticStore

_ACTION_PATH = re.compile(r"^/api(?:/3)?/action/([a-z_]+)/?$")
_FQ_TERM = re.compile(r'([+-]?)([A-Za-z_]+):(\[[^\]}]*[\]}]|\{[^\]}]*[\]}]|\([^)]*\)|"[^"]*"|\S+)')


class QueryError(ValueError):
    """An ``fq``/``sort`` this server does not understand (CKAN answers 409 Search Query Error)."""


def _when(text: str) -> datetime:
    """Solr/CKAN timestamp; naive values are UTC, as CKAN stores them."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass
class Filter:
    """The subset of Solr ``fq`` this server honours."""

    lo: datetime | None = None
    hi: datetime | None = None
    lo_incl: bool = True
    hi_incl: bool = True
    orgs: set[str] | None = None
    types: set[str] | None = None

    @classmethod
    def parse(cls, fq: str) -> "Filter":
        flt = cls()
        rest = _FQ_TERM.sub(lambda m: flt._term(m) or "", fq or "")
        leftover = re.sub(r"\bAND\b", " ", rest).strip()
        if leftover:
            raise QueryError(f"unsupported fq syntax near {leftover!r}")
        return flt

    def _term(self, m: re.Match) -> None:
        sign, name, value = m.groups()
        if sign == "-":
            raise QueryError("negated fq terms are not supported")
        if name == "metadata_modified":
            if value[0] not in "[{" or " TO " not in value:
                raise QueryError(f"metadata_modified needs a range, got {value!r}")
            a, b = value[1:-1].split(" TO ", 1)
            self.lo_incl, self.hi_incl = value[0] == "[", value[-1] == "]"
            self.lo = None if a.strip() == "*" else _when(a.replace("Z", "+00:00"))
            self.hi = None if b.strip() == "*" else _when(b.replace("Z", "+00:00"))
        elif name in ("organization", "type", "dataset_type"):
            values = {v.strip('"') for v in re.split(r"\s+OR\s+", value.strip("()"))}
            setattr(self, "orgs" if name == "organization" else "types", values)
        else:
            raise QueryError(f"fq field {name!r} is not supported")

    def matches_time(self, when: datetime) -> bool:
        if self.lo and (when < self.lo or (not self.lo_incl and when == self.lo)):
            return False
        return not (self.hi and (when > self.hi or (not self.hi_incl and when == self.hi)))


def _sort_descending(sort: str | None) -> bool:
    text = re.sub(r"\s+", " ", (sort or "score desc, metadata_modified desc").strip().lower())
    if text.startswith("metadata_modified asc"):
        return False
    if text.startswith(("metadata_modified desc", "score desc, metadata_modified desc")):
        return True
    raise QueryError(f"sort {sort!r} is not supported by this server")


class DirectoryStore:
    """Recorded packages held in memory (a few hundred at most), sorted by modification time."""

    def __init__(self, packages: Iterable[dict[str, Any]]) -> None:
        def key(p: dict) -> tuple:
            return (_when(p.get("metadata_modified") or "1970-01-01"), str(p.get("id") or ""))
        self.packages = sorted(packages, key=key)
        self._times = [key(p)[0] for p in self.packages]

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str]) -> "DirectoryStore":
        found: list[dict] = []
        for path in paths:
            found.extend(_packages_in(json.loads(Path(path).read_text(encoding="utf-8"))))
        return cls(found)

    @classmethod
    def from_directory(cls, directory: Path | str) -> "DirectoryStore":
        return cls.from_paths(sorted(Path(directory).glob("*.json")))

    def search(self, flt: Filter, start: int, rows: int, desc: bool) -> tuple[int, list[dict]]:
        hits = [p for p, t in zip(self.packages, self._times) if flt.matches_time(t)
                and (flt.orgs is None or ((p.get("organization") or {}).get("name") in flt.orgs))
                and (flt.types is None or p.get("type", "dataset") in flt.types)]
        if desc:
            hits.reverse()
        return len(hits), hits[start:start + rows]

    def show(self, ref: str) -> dict | None:
        return next((p for p in self.packages if ref in (p.get("id"), p.get("name"))), None)

    def names(self) -> list[str]:
        return sorted(str(p.get("name") or p.get("id")) for p in self.packages)

    def organizations(self) -> list[str]:
        return sorted({(p.get("organization") or {}).get("name") for p in self.packages} - {None})


def _packages_in(doc: Any) -> list[dict]:
    """Packages in a recorded response: show/search envelopes, list-shaped shows, bare dicts."""
    if isinstance(doc, dict) and "success" in doc and "result" in doc:
        doc = doc["result"]
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        doc = doc["results"]
    items = doc if isinstance(doc, list) else [doc]
    return [p for p in items if isinstance(p, dict) and ("id" in p or "name" in p)
            and not p.get("is_organization")]


@dataclass
class Fault:
    """One injected misbehaviour; ``times`` < 0 means forever."""

    kind: str  # status | retry_after | truncate | slow | html200 | malformed | redirect | echo_auth
    times: int = 1
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up early (size cap, loop detected) is not a server fault
        super().handle_error(request, client_address)


class LocalPortal:
    """The server: a store, switches, injected faults and a log of the requests it saw."""

    def __init__(self, store: DirectoryStore | SyntheticStore, *, host: str = "127.0.0.1", port: int = 0,
                 rows_max: int = 1000) -> None:
        self.store = store
        self.rows_max = rows_max
        self.search_disabled = False  # package_search answers as on portals without it
        self.loop_search = False  # package_search ignores ``start`` (same page forever)
        self.show_as_list = False  # package_show wraps its result in a list
        self.requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @classmethod
    def synthetic(cls, count: int, **spec: Any) -> "LocalPortal":
        port = spec.pop("port", 0)
        return cls(SyntheticStore(SyntheticSpec(count=count, **spec)), port=port)

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str], **kw: Any) -> "LocalPortal":
        return cls(DirectoryStore.from_paths(paths), **kw)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, kind: str, times: int = 1, action: str | None = None, **params: Any) -> None:
        with self._lock:
            self._faults.append(Fault(kind, times, action, params))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, action: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.action in (None, action) and fault.times != 0:
                    fault.times -= 1
                    return fault
        return None

    def start(self) -> "LocalPortal":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="localportal",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "LocalPortal":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- actions -------------------------------------------------------------------------

    def call(self, action: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            if action == "package_search":
                if self.search_disabled:  # as CKAN answers an action it does not have
                    return 400, {"success": False, "error": {"message": "Bad request - Action name not known: "
                                                                        "package_search"}}
                rows = min(int(params.get("rows", 10)), self.rows_max)
                start = 0 if self.loop_search else int(params.get("start", 0))
                count, results = self.store.search(Filter.parse(params.get("fq", "")), start, rows,
                                                   _sort_descending(params.get("sort")))
                return 200, {"count": count, "sort": params.get("sort"), "facets": {}, "search_facets": {},
                             "results": results}
            if action == "package_show":
                if not params.get("id"):
                    return 409, {"__type": "Validation Error", "id": ["Missing value"]}
                pkg = self.store.show(str(params["id"]))
                if pkg is None:
                    return 404, {"__type": "Not Found Error", "message": "Not found"}
                return 200, [pkg] if self.show_as_list else pkg
            if action == "package_list":
                names = self.store.names()
                offset = int(params.get("offset", 0))
                limit = int(params["limit"]) if params.get("limit") not in (None, "") else None
                return 200, names[offset:None if limit is None else offset + limit]
            if action == "organization_list":
                return 200, self.store.organizations()
            if action == "status_show":
                return 200, {"ckan_version": "2.10.4", "site_title": "citycat local portal", "site_url": self.url,
                             "site_description": "", "locale_default": "en_GB", "extensions": []}
        except QueryError as exc:
            return 409, {"__type": "Search Query Error", "message": f"Search Query is invalid: {exc}"}
        except (TypeError, ValueError) as exc:
            return 409, {"__type": "Validation Error", "message": str(exc)}
        return 400, {"success": False, "error": {"message": f"Bad request - Action name not known: {action}"}}


def _handler_for(portal: LocalPortal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real portals behind nginx
        disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

        def log_message(self, *args: Any) -> None:  # quiet: tests read portal.requests instead
            pass

        def do_GET(self) -> None:
            self._serve(dict((k, v[-1]) for k, v in parse_qs(urlsplit(self.path).query).items()))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                params = json.loads(raw or b"{}")
            else:
                params = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()}
            self._serve(params if isinstance(params, dict) else {})

        def _serve(self, params: dict[str, Any]) -> None:
            match = _ACTION_PATH.match(urlsplit(self.path).path)
            action = match.group(1) if match else ""
            portal.requests.append({"method": self.command, "path": self.path, "action": action, "params": params,
                                    "user_agent": self.headers.get("User-Agent"),
                                    "authorization": self.headers.get("Authorization")})
            fault = portal.take_fault(action)
            if fault and fault.kind == "slow":
                time.sleep(float(fault.params.get("seconds", 1.0)))
                fault = None
            if not match:
                return self._send(404, b'{"success": false, "error": {"message": "Not found"}}')
            if fault and fault.kind == "status":
                status = int(fault.params.get("status", 500))
                return self._send(status, b"<html><body>Server Error</body></html>", "text/html")
            if fault and fault.kind == "retry_after":
                return self._send(429, b"Too Many Requests", "text/plain",
                                  {"Retry-After": str(fault.params.get("value", "1"))})
            if fault and fault.kind == "html200":
                return self._send(200, b"<!DOCTYPE html><html><head><title>Site under maintenance</title></head>"
                                       b"<body><h1>We'll be back soon</h1></body></html>", "text/html")
            if fault and fault.kind == "redirect":
                return self._send(302, b"", "text/plain", {"Location": fault.params["location"] + self.path})
            if fault and fault.kind == "echo_auth":
                body = {"help": "", "success": False, "error": {
                    "__type": "Authorization Error",
                    "message": f"Access denied: key {self.headers.get('Authorization')} is not valid"}}
                return self._send(403, json.dumps(body).encode())
            status, result = portal.call(action, params)
            help_url = f"{portal.url}/api/3/action/help_show?name={action}"
            if status == 200:
                envelope = {"help": help_url, "success": True, "result": result}
            elif "success" in result:
                envelope = {"help": help_url, **result}
            else:
                envelope = {"help": help_url, "success": False, "error": result}
            body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
            if fault and fault.kind == "malformed":
                return self._send(200, body[: len(body) // 2])
            if fault and fault.kind == "truncate":
                return self._send(status, body, cut=len(body) // 2)
            return self._send(status, body)

        def _send(self, status: int, body: bytes, ctype: str = "application/json;charset=utf-8",
                  headers: dict[str, str] | None = None, cut: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if cut is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a CKAN-Action-API-shaped portal on 127.0.0.1.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--packages", type=Path, help="directory of recorded package_show/package_search JSON")
    source.add_argument("--synthetic", type=int, metavar="N", help="serve N synthetic packages")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generation", type=int, default=0, help="edit generation (0 = first harvest)")
    parser.add_argument("--modified-fraction", type=float, default=0.01, help="share edited per generation")
    parser.add_argument("--harvest-every", type=int, default=0, help="every k-th package is a harvest source")
    args = parser.parse_args(argv)
    if args.packages:
        portal = LocalPortal(DirectoryStore.from_directory(args.packages), port=args.port)
    else:
        portal = LocalPortal.synthetic(args.synthetic, seed=args.seed, generation=args.generation,
                                       modified_fraction=args.modified_fraction,
                                       harvest_every=args.harvest_every, port=args.port)
    print(f"serving {portal.url}/api/3/action/ (Ctrl-C to stop)", flush=True)
    try:
        portal._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        portal._server.server_close()


if __name__ == "__main__":
    main()
