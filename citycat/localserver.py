"""The one base of citycat's fixture HTTP servers on 127.0.0.1 (CKAN, DCAT, OAI-PMH, catalog APIs, test files).

Harvester tests need real HTTP peers (keep-alive, Content-Length, cut bodies, slow replies) rather than
mocks, and each protocol fixture needs the same machinery around its protocol: a server thread started
and stopped by a context manager, a log of the requests seen, and a queue of injected faults that
reproduce what real portals do. That machinery lives here once; a server subclasses :class:`LocalServer`
and writes only :meth:`LocalServer.answer` (plus, where its faults are scoped by something other than
the URL path, :meth:`LocalServer.fault_applies`, and the shape of its request-log entries).

Faults every server understands (``inject(kind, times, ..., **params)``; ``times`` < 0 means forever):

* ``status``: an HTML error page with ``status`` (default 500);
* ``retry_after``: 429 with ``Retry-After: value`` (default 1);
* ``html200``: a maintenance page sent with 200, as portals behind a CDN do;
* ``redirect``: 302 to ``location`` + the request target (no ``location``: a redirect to itself, a loop);
* ``body``: raw bytes ``data`` with ``status`` (default 200) and the server's media type;
* ``slow``: wait ``seconds`` (default 1.0), then answer normally;
* ``malformed``: the answer's first half, sent whole with 200 (a body that parses as nothing);
* ``truncate``: the answer cut after ``keep`` bytes (default half) while Content-Length promises all of it.

Any other kind is left to the server's :meth:`LocalServer.answer`, which receives the fault taken.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

COMMON_FAULTS = ("status", "retry_after", "html200", "redirect", "body", "slow", "malformed", "truncate")


@dataclass
class Request:
    """One request as a server's protocol sees it."""

    method: str
    target: str  # path and query as sent
    path: str  # the path part, percent-decoded
    query: dict[str, str]  # last value of each query parameter, blanks kept
    headers: Message
    params: dict[str, Any]  # the query for GET; the JSON or form body for POST (CKAN's Action API takes both)

    @classmethod
    def parse(cls, method: str, target: str, headers: Message, body: bytes) -> "Request":
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        params: Any = query
        if method == "POST":
            if "json" in headers.get("Content-Type", ""):
                params = json.loads(body or b"{}")
            else:
                params = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
        return cls(method, target, unquote(parts.path), query, headers, params if isinstance(params, dict) else {})


@dataclass
class Reply:
    """What a server sends: ``media_type`` None sends no Content-Type (feeds on badly configured hosts)."""

    status: int
    body: bytes
    media_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cut: int | None = None  # send only this many bytes of ``body`` and close: a truncated transfer


@dataclass
class Fault:
    """One injected misbehaviour; ``scope`` limits it to some requests (see ``fault_applies``)."""

    kind: str
    times: int = 1
    scope: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up early (size cap, loop detected) is not a server fault
        super().handle_error(request, client_address)


class LocalServer:
    """Lifecycle, request log and fault queue of a fixture server; subclasses implement :meth:`answer`."""

    thread_name: ClassVar[str] = "localserver"
    media_type: ClassVar[str] = "application/json"  # of ``body`` faults
    log_limit: ClassVar[int | None] = None  # keep only the last N requests (servers benchmarks run for long)
    error_page: ClassVar[bytes] = b"<html><body>Server Error</body></html>"
    maintenance_page: ClassVar[bytes] = (b"<!DOCTYPE html><html><head><title>Site under maintenance</title></head>"
                                         b"<body><h1>We'll be back soon</h1></body></html>")

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: Any = deque(maxlen=self.log_limit) if self.log_limit else []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the protocol: what subclasses write ---------------------------------------------

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        """The protocol's reply; ``fault`` is the fault taken for this request, if any."""
        raise NotImplementedError

    def log_entry(self, request: Request) -> Any:
        """What ``requests`` records of a request (tests assert on it)."""
        return request.target

    def fault_applies(self, fault: Fault, request: Request) -> bool:
        """Whether a pending fault hits this request; by default its scope is a URL path."""
        return fault.scope in (None, request.path)

    # -- faults ---------------------------------------------------------------------------

    def inject(self, kind: str, times: int = 1, scope: str | None = None, **params: Any) -> None:
        """Queue a fault for the next ``times`` matching requests (< 0: forever)."""
        with self._lock:
            self._faults.append(Fault(kind, times, scope, params))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times != 0 and self.fault_applies(fault, request):
                    fault.times -= 1
                    return fault
        return None

    def respond(self, request: Request) -> Reply:
        """Log, take a fault, and answer: the common faults here, the rest by the protocol."""
        self.requests.append(self.log_entry(request))
        fault = self.take_fault(request)
        if fault and fault.kind == "slow":
            time.sleep(float(fault.params.get("seconds", 1.0)))
            fault = None
        kind, params = (fault.kind, fault.params) if fault else (None, {})
        if kind == "status":
            return Reply(int(params.get("status", 500)), self.error_page, "text/html")
        if kind == "retry_after":
            return Reply(429, b"Too Many Requests", "text/plain", {"Retry-After": str(params.get("value", "1"))})
        if kind == "html200":
            return Reply(200, self.maintenance_page, "text/html")
        if kind == "redirect":
            return Reply(302, b"", "text/plain", {"Location": params.get("location", "") + request.target})
        if kind == "body":
            return Reply(int(params.get("status", 200)), params["data"], self.media_type)
        reply = self.answer(request, fault)
        if kind == "malformed":
            return Reply(200, reply.body[: len(reply.body) // 2], reply.media_type)
        if kind == "truncate":
            reply.cut = int(params.get("keep", len(reply.body) // 2))
        return reply

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Any:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.thread_name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the ``python -m`` entry points)."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real portals behind nginx
        disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

        def log_message(self, *args: Any) -> None:  # quiet: tests read server.requests instead
            pass

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _serve(self, body: bytes) -> None:
            reply = server.respond(Request.parse(self.command, self.path, self.headers, body))
            self.send_response(reply.status)
            if reply.media_type:
                self.send_header("Content-Type", reply.media_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body if reply.cut is None else reply.body[: reply.cut])
            self.wfile.flush()
            if reply.cut is not None:
                self.close_connection = True

    return Handler
