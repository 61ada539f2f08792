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
* :meth:`LocalOai.inject` faults: the common ones of :mod:`citycat.localserver` (``status``, ``truncate``,
  ``html200``, ``body``...) and the resumption-token ones: ``repeat_token`` (a page handing back the token
  it was asked with), ``restart`` (a token request answered with the first page again, cursor 0),
  ``expire_token`` (``badResumptionToken``).

    python -m citycat.localoai tests/data/oai_pmh/zenodo_listrecords_oai_dc.xml --port 8900
"""

from __future__ import annotations

import argparse
import base64
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape, quoteattr

from defusedxml.ElementTree import fromstring as safe_fromstring

from citycat.localserver import Fault, LocalServer, Reply, Request

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


class LocalOai(LocalServer):
    """The repository: items, switches, faults and a log of the requests it saw (their query parameters).

    A fault's scope is the verb (``inject(kind, times, verb=...)``); token faults wait for a request
    that carries a resumption token.
    """

    thread_name = "localoai"
    media_type = "text/xml"

    def __init__(self, items: Iterable[OaiItem], *, page_size: int = 2, granularity: str = SECONDS,
                 deleted_record: str = "persistent", earliest: str = "2000-01-01T00:00:00Z",
                 name: str = "citycat local OAI-PMH repository", pycsw: bool = False,
                 ignore_window: bool = False, error_status: int = 200, host: str = "127.0.0.1", port: int = 0) -> None:
        self.items = sorted(items, key=lambda i: (_when(i.datestamp), i.identifier))
        self.page_size, self.granularity, self.deleted_record = page_size, granularity, deleted_record
        self.earliest, self.name = earliest, name
        self.pycsw, self.ignore_window, self.error_status = pycsw, ignore_window, error_status
        super().__init__(host=host, port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oai"

    def inject(self, kind: str, times: int = 1, verb: str | None = None, **params: Any) -> None:
        super().inject(kind, times, verb, **params)

    def fault_applies(self, fault: Fault, request: Request) -> bool:
        if fault.kind in _TOKEN_FAULTS and "resumptionToken" not in request.query:
            return False
        return fault.scope in (None, request.query.get("verb", ""))

    def log_entry(self, request: Request) -> dict[str, str]:
        return request.query

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        if request.path.rstrip("/") != "/oai":
            return Reply(404, b"<html><body>Not found</body></html>", "text/html")
        status, text = self._oai(request.query, fault)
        return Reply(status, text.encode("utf-8"), "text/xml; charset=utf-8")

    # -- the protocol ----------------------------------------------------------------------

    def _oai(self, params: dict[str, str], fault: Fault | None) -> tuple[int, str]:
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

    def _list_records(self, params: dict[str, str], fault: Fault | None) -> str:
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
            if fault and fault.kind == "restart":
                state["offset"] = 0
            if fault and fault.kind == "expire_token":
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
        if fault and fault.kind == "repeat_token" and token is not None:
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("responses", nargs="+", type=Path, help="recorded ListRecords/GetRecord responses (oai_dc)")
    ap.add_argument("--prefix", default="oai_dc")
    ap.add_argument("--page-size", type=int, default=2)
    ap.add_argument("--pycsw", action="store_true")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    items = [i for p in args.responses for i in items_from_response(p, args.prefix)]
    repo = LocalOai(items, page_size=args.page_size, pycsw=args.pycsw, port=args.port)
    print(f"serving {len(items)} records at {repo.url}", flush=True)
    repo.serve_forever()


if __name__ == "__main__":
    main()
