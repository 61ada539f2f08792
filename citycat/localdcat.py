"""A static-file HTTP server on 127.0.0.1 for DCAT feeds, for tests and the offline example.

DCAT feeds are documents, not APIs: a catalogue page in some RDF syntax, a media type that may
be right, generic or missing, and Hydra links to the next page. This serves a set of documents
(a directory, e.g. a feed written by :func:`publish.write_feed`, or bodies added one by one) with
chosen media types, logs each request (path, query, Accept) and injects the faults real feeds
produce: server errors, truncated bodies, HTML maintenance pages.

    with LocalDcat() as site:
        write_feed(..., catalog=CatalogInfo(base_uri=site.url, ...))
        site.serve_directory(feed_dir)
        DcatHarvester("x", f"{site.url}/catalog.ttl", ...)

    python -m citycat.localdcat DIRECTORY --port 8801
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# File extension -> media type the server announces (what a correctly configured web server sends).
MEDIA_TYPES = {".ttl": "text/turtle; charset=utf-8", ".nt": "application/n-triples",
               ".rdf": "application/rdf+xml", ".xml": "application/rdf+xml", ".jsonld": "application/ld+json",
               ".json": "application/json", ".html": "text/html; charset=utf-8"}


@dataclass
class Fault:
    """One injected misbehaviour for ``path`` (None = any path); ``times`` < 0 means forever."""

    kind: str  # status | truncate | html200
    path: str | None = None
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up early (loop detected, size cap): not a server fault
        super().handle_error(request, client_address)


class LocalDcat:
    """Documents by URL path, faults, and a log of the requests seen."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.documents: dict[str, tuple[bytes, str | None]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, path: str, body: bytes | str, media_type: str | None) -> str:
        """Serve ``body`` at ``path`` with ``media_type`` (None = no Content-Type header); returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.documents["/" + path.lstrip("/")] = (data, media_type)
        return f"{self.url}/{path.lstrip('/')}"

    def serve_directory(self, directory: Path | str, *, prefix: str = "",
                        media_types: dict[str, str | None] | None = None) -> int:
        """Serve every file under ``directory`` at ``<prefix>/<relative path>``; returns the file count."""
        types = {**MEDIA_TYPES, **(media_types or {})}
        root = Path(directory)
        count = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            self.add(f"{prefix.strip('/')}/{rel}" if prefix else rel, path.read_bytes(),
                     types.get(path.suffix, "application/octet-stream"))
            count += 1
        return count

    def inject(self, kind: str, path: str | None = None, times: int = 1, **params: Any) -> None:
        with self._lock:
            self._faults.append(Fault(kind, "/" + path.lstrip("/") if path else None, times, params))

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path in (None, path) and fault.times != 0:
                    fault.times -= 1
                    return fault
        return None

    def start(self) -> "LocalDcat":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="localdcat",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "LocalDcat":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _handler_for(site: LocalDcat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            site.requests.append({"path": path, "query": {k: v[-1] for k, v in parse_qs(parts.query).items()},
                                  "accept": self.headers.get("Accept")})
            fault = site.take_fault(path)
            if fault and fault.kind == "status":
                return self._send(int(fault.params.get("status", 500)), b"<html><body>Server Error</body></html>",
                                  "text/html")
            if fault and fault.kind == "html200":
                return self._send(200, b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>",
                                  "text/html; charset=utf-8")
            doc = site.documents.get(path)
            if doc is None:
                return self._send(404, b"not found", "text/plain")
            body, media_type = doc
            if fault and fault.kind == "truncate":
                return self._send(200, body, media_type, cut=int(fault.params.get("keep", len(body) // 2)))
            return self._send(200, body, media_type)

        def _send(self, status: int, body: bytes, media_type: str | None, cut: int | None = None) -> None:
            self.send_response(status)
            if media_type:
                self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a directory of DCAT documents on 127.0.0.1.")
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=8801)
    args = parser.parse_args(argv)
    site = LocalDcat(port=args.port)
    count = site.serve_directory(args.directory)
    print(f"serving {count} documents from {args.directory} at {site.url}")
    site._server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
