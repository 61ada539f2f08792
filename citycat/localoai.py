"""An OAI-PMH 2.0 repository on 127.0.0.1, for tests and the offline example.

Serves records taken from recorded real responses (see :func:`items_from_response`) with its own
resumption tokens and page size, honours ``from``/``until``/``set`` at a declared granularity, and
answers OAI errors as the protocol says. Switches reproduce what real servers do:

* ``pycsw=True``: pycsw's OAI-PMH quirks: ``metadataPrefix`` is required again with every
  resumption token (``badArgument`` without it), the last page carries the literal token ``0``,
  and headers spell ``dateStamp``. Tokens are plain offsets, and the filters of the request that
  carries the token are applied (a simplification of this fixture, not a claim about pycsw).
* ``ignore_window=True``: ``from``/``until`` are ignored (Zenodo returned a 2023 record to a
  ``from=2026-04-01`` request).
* ``error_status``: the HTTP status sent with OAI error bodies (Zenodo answers 422 for an expired token).
* :meth:`LocalOai.inject` faults: ``status`` (an HTML 5xx page), ``truncate`` (body cut short of its
  Content-Length), ``html200``, ``repeat_token`` (a page handing back the token it was asked with),
  ``restart`` (a token request answered with the first page again, cursor 0), ``expire_token``
  (``badResumptionToken``), ``body`` (raw bytes with ``status``).

    python -m citycat.localoai tests/data/oai_pmh/zenodo_listrecords_oai_dc.xml --port 8900
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from defusedxml.ElementTree import fromstring as safe_fromstring

OAI = "http://www.openarchives.org/OAI/2.0/"
_O = "{" + OAI + "}"
DAY, SECONDS = "YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ"
_TOKEN_FAULTS = {"repeat_token", "restart", "expire_token"}
FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
    "oai_datacite": ("http://schema.datacite.org/oai/oai-1.1/oai.xsd", "http://schema.datacite.org/oai/oai-1.1/"),
    "datacite": ("http://schema.datacite.org/meta/kernel-4.4/metadata.xsd", "http://datacite.org/schema/kernel-4"),
}


@dataclass
class OaiItem:
    """One record of the repository: ``metadata`` maps a prefix to the XML text of the metadata element."""

    identifier: str
    datestamp: str
    sets: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


def items_from_response(data: bytes | str | Path, prefix: str) -> list[OaiItem]:
    """The records of a recorded ListRecords/GetRecord response, their metadata filed under ``prefix``."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    root = safe_fromstring(raw.encode("utf-8") if isinstance(raw, str) else raw)
    out = []
    for rec in root.iter(_O + "record"):
        header = rec.find(_O + "header")
        meta = rec.find(_O + "metadata")
        child = next(iter(meta), None) if meta is not None else None
        out.append(OaiItem(identifier=(header.findtext(_O + "identifier") or "").strip(),
                           datestamp=(header.findtext(_O + "datestamp") or "").strip(),
                           sets=[(s.text or "").strip() for s in header.findall(_O + "setSpec")],
                           metadata={prefix: ET.tostring(child, encoding="unicode")} if child is not None else {},
                           deleted=header.get("status") == "deleted"))
    return out


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00") if "T" in stamp else stamp + "T00:00:00+00:00")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # clients that hang up early are fine
        pass


class LocalOai:
    """The repository: items, switches, faults and a log of the requests it saw."""

    def __init__(self, items: Iterable[OaiItem], *, page_size: int = 2, granularity: str = SECONDS,
                 deleted_record: str = "persistent", earliest: str = "2000-01-01T00:00:00Z",
                 name: str = "citycat local OAI-PMH repository", pycsw: bool = False,
                 ignore_window: bool = False, error_status: int = 200, host: str = "127.0.0.1", port: int = 0) -> None:
        self.items = sorted(items, key=lambda i: (_when(i.datestamp), i.identifier))
        self.page_size, self.granularity, self.deleted_record = page_size, granularity, deleted_record
        self.earliest, self.name = earliest, name
        self.pycsw, self.ignore_window, self.error_status = pycsw, ignore_window, error_status
        self.requests: list[dict[str, str]] = []
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/oai"

    def inject(self, kind: str, times: int = 1, verb: str | None = None, **params: Any) -> None:
        with self._lock:
            self._faults.append({"kind": kind, "times": times, "verb": verb, **params})

    def take_fault(self, verb: str, has_token: bool = False) -> dict[str, Any] | None:
        """The next pending fault for ``verb``; token faults wait for a request that carries a token."""
        with self._lock:
            for f in self._faults:
                if f["kind"] in _TOKEN_FAULTS and not has_token:
                    continue
                if f["verb"] in (None, verb) and f["times"] != 0:
                    f["times"] -= 1
                    return f
        return None

    def __enter__(self) -> "LocalOai":
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the protocol ----------------------------------------------------------------------

    def answer(self, params: dict[str, str], fault: dict[str, Any] | None) -> tuple[int, str]:
        verb = params.get("verb", "")
        request = "".join(f" {k}={quoteattr(v)}" for k, v in params.items())
        try:
            if verb == "Identify":
                body = (f"<Identify><repositoryName>{escape(self.name)}</repositoryName><baseURL>{self.url}</baseURL>"
                        f"<protocolVersion>2.0</protocolVersion><adminEmail>oai@example.org</adminEmail>"
                        f"<earliestDatestamp>{self.earliest}</earliestDatestamp><deletedRecord>{self.deleted_record}"
                        f"</deletedRecord><granularity>{self.granularity}</granularity></Identify>")
            elif verb == "ListMetadataFormats":
                body = "<ListMetadataFormats>" + "".join(
                    f"<metadataFormat><metadataPrefix>{p}</metadataPrefix><schema>{s}</schema>"
                    f"<metadataNamespace>{n}</metadataNamespace></metadataFormat>" for p, (s, n) in FORMATS.items()
                ) + "</ListMetadataFormats>"
            elif verb == "ListRecords":
                body = self._list_records(params, fault)
            else:
                raise _OaiFault("badVerb", f"illegal verb {verb!r}")
        except _OaiFault as exc:
            return self.error_status, _envelope(request, self.url, f'<error code="{exc.code}">{escape(exc.text)}</error>')
        return 200, _envelope(request, self.url, body)

    def _list_records(self, params: dict[str, str], fault: dict[str, Any] | None) -> str:
        token = params.get("resumptionToken")
        if token is not None:
            if self.pycsw:
                if "metadataPrefix" not in params:
                    raise _OaiFault("badArgument", "Missing metadataPrefix parameter")
                if not token.isdigit():
                    raise _OaiFault("badResumptionToken", "invalid token")
                state = {k: params.get(k) for k in ("metadataPrefix", "set", "from", "until")}
                state["offset"] = int(token)
            else:
                if set(params) - {"verb", "resumptionToken"}:
                    raise _OaiFault("badArgument", "resumptionToken is an exclusive argument")
                try:
                    state = json.loads(base64.urlsafe_b64decode(token.encode()))
                except ValueError:
                    raise _OaiFault("badResumptionToken", f"unknown token {token[:40]!r}") from None
            if fault and fault["kind"] == "restart":
                state["offset"] = 0
            if fault and fault["kind"] == "expire_token":
                raise _OaiFault("badResumptionToken", "The resumption token is invalid or expired")
        else:
            state = {k: params.get(k) for k in ("metadataPrefix", "set", "from", "until")}
            state["offset"] = 0
        prefix = state.get("metadataPrefix")
        if prefix not in FORMATS:
            raise _OaiFault("cannotDisseminateFormat" if prefix else "badArgument",
                            f"metadataPrefix {prefix!r} not supported" if prefix else "metadataPrefix missing")
        lo, hi = state.get("from"), state.get("until")
        for bound in (lo, hi):
            if bound and self.granularity == DAY and len(bound) != 10:
                raise _OaiFault("badArgument", f"{bound} is finer than the repository's day granularity")
        if lo and hi and len(lo) != len(hi):
            raise _OaiFault("badArgument", "from and until have different granularities")
        hits = [i for i in self.items if (i.deleted or prefix in i.metadata)
                and (not state.get("set") or state["set"] in i.sets)
                and (self.ignore_window or self._in(i.datestamp, lo, hi))]
        if not hits:
            raise _OaiFault("noRecordsMatch", "no records match")
        offset = int(state["offset"])
        page = hits[offset:offset + self.page_size]
        out = ["<ListRecords>"] + [self._record(i, prefix) for i in page]
        nxt = offset + self.page_size
        if fault and fault["kind"] == "repeat_token" and token is not None:
            out.append(f"<resumptionToken>{escape(token)}</resumptionToken>")
        elif nxt < len(hits):
            new = str(nxt) if self.pycsw else base64.urlsafe_b64encode(
                json.dumps({**state, "offset": nxt}).encode()).decode()
            out.append(f'<resumptionToken completeListSize="{len(hits)}" cursor="{offset}">{new}</resumptionToken>')
        elif self.pycsw:
            out.append(f'<resumptionToken completeListSize="{len(hits)}" cursor="{offset}">0</resumptionToken>')
        elif offset:
            out.append(f'<resumptionToken completeListSize="{len(hits)}" cursor="{offset}"/>')
        return "".join(out) + "</ListRecords>"

    def _in(self, stamp: str, lo: str | None, hi: str | None) -> bool:
        """Inclusive bounds at the bound's own granularity, as the protocol defines them."""
        when = _when(stamp)
        if lo and when < _when(lo):
            return False
        if hi and len(hi) == 10:
            return when.date() <= _when(hi).date()
        return not (hi and when > _when(hi))

    def _record(self, item: OaiItem, prefix: str) -> str:
        tag = "dateStamp" if self.pycsw else "datestamp"
        sets = "".join(f"<setSpec>{escape(s)}</setSpec>" for s in item.sets)
        status = ' status="deleted"' if item.deleted else ""
        header = (f"<header{status}><identifier>{escape(item.identifier)}</identifier>"
                  f"<{tag}>{item.datestamp}</{tag}>{sets}</header>")
        meta = "" if item.deleted else f"<metadata>{item.metadata[prefix]}</metadata>"
        return f"<record>{header}{meta}</record>"


class _OaiFault(Exception):
    def __init__(self, code: str, text: str) -> None:
        self.code, self.text = code, text
        super().__init__(f"{code}: {text}")


def _envelope(request: str, url: str, body: str) -> str:
    # Zenodo's shape: single-quoted declaration and a stylesheet processing instruction before the root.
    return ("<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"/static/oai2.xsl\"?>\n"
            f'<OAI-PMH xmlns="{OAI}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<responseDate>2026-11-20T02:00:00Z</responseDate><request{request}>{url}</request>{body}</OAI-PMH>")


def _handler_for(repo: LocalOai) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
            repo.requests.append(params)
            if urlsplit(self.path).path.rstrip("/") != "/oai":
                return self._send(404, b"<html><body>Not found</body></html>", "text/html")
            fault = repo.take_fault(params.get("verb", ""), "resumptionToken" in params)
            kind = fault["kind"] if fault else None
            if kind == "status":
                return self._send(int(fault.get("status", 500)), b"<html><body>Server Error</body></html>", "text/html")
            if kind == "html200":
                return self._send(200, b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>",
                                  "text/html")
            if kind == "body":
                return self._send(int(fault.get("status", 200)), fault["data"], "text/xml")
            status, text = repo.answer(params, fault)
            data = text.encode("utf-8")
            if kind == "truncate":
                return self._send(status, data, "text/xml", cut=len(data) // 2)
            self._send(status, data, "text/xml; charset=utf-8")

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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("responses", nargs="+", type=Path, help="recorded ListRecords/GetRecord responses (oai_dc)")
    ap.add_argument("--prefix", default="oai_dc")
    ap.add_argument("--page-size", type=int, default=2)
    ap.add_argument("--pycsw", action="store_true")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    items = [i for p in args.responses for i in items_from_response(p, args.prefix)]
    with LocalOai(items, page_size=args.page_size, pycsw=args.pycsw, port=args.port) as repo:
        print(f"serving {len(items)} records at {repo.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
