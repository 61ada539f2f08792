"""The link checker against a real HTTP server on 127.0.0.1 that misbehaves the ways portals do."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from expectations.linkcheck import LinkCheckConfig, LinkChecker, due, redact

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)


class _Handler(BaseHTTPRequestHandler):
    log: list[tuple[float, str, str, str | None]] = []

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _answer(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _route(self) -> None:
        type(self).log.append((time.monotonic(), self.command, self.path, self.headers.get("Range")))
        path = self.path.split("?")[0]
        head = self.command == "HEAD"
        if path == "/ok":
            self._answer(200, body=b"data")
        elif path == "/nohead":
            self._answer(405) if head else self._answer(206, {"Content-Range": "bytes 0-0/4"}, b"d")
        elif path == "/forbidden-head":
            self._answer(403) if head else self._answer(200, body=b"data" * 1000)
        elif path == "/missing":
            self._answer(404)
        elif path == "/r1":
            self._answer(302, {"Location": "/r2"})
        elif path == "/r2":
            self._answer(301, {"Location": f"http://127.0.0.1:{self.server.server_port}/ok"})
        elif path == "/loop":
            self._answer(302, {"Location": "/loop"})
        elif path == "/to-ftp":
            self._answer(302, {"Location": "ftp://files.example.org/data.csv"})
        elif path == "/slow":
            time.sleep(1.5)
            self._answer(200)
        elif path == "/reset" and head:
            # RST instead of an answer: what some servers do to HEAD
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif path == "/reset":
            self._answer(200, body=b"x")
        else:
            self._answer(500)

    do_HEAD = _route
    do_GET = _route


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def log():
    _Handler.log = []
    return _Handler.log


def _checker(**kw) -> LinkChecker:
    # the test server is on 127.0.0.1, which the checker refuses unless told otherwise
    return LinkChecker(LinkCheckConfig(**{"timeout": 0.5, "per_host_interval": 0.0, "allow_private": True, **kw}))


def test_head_answered(server, log):
    (r,) = _checker().check([f"{server}/ok"], now=NOW)
    assert (r.ok, r.status, r.method, r.error) == (True, 200, "HEAD", None)
    assert r.checked_at == NOW and r.seconds is not None
    assert [(m, p) for _, m, p, _ in log] == [("HEAD", "/ok")]


@pytest.mark.parametrize("path, status", [("/nohead", 206), ("/forbidden-head", 200)])
def test_head_refused_falls_back_to_ranged_get(server, log, path, status):
    (r,) = _checker().check([server + path], now=NOW)
    assert (r.ok, r.status, r.method) == (True, status, "GET")
    assert [(m, rng) for _, m, _, rng in log] == [("HEAD", None), ("GET", "bytes=0-0")]


def test_connection_reset_on_head_falls_back_to_get(server, log):
    (r,) = _checker().check([f"{server}/reset"], now=NOW)
    assert (r.ok, r.status, r.method) == (True, 200, "GET")


def test_404_is_a_failure(server):
    (r,) = _checker().check([f"{server}/missing"], now=NOW)
    assert (r.ok, r.status, r.method) == (False, 404, "HEAD")


def test_redirect_chain_is_followed(server, log):
    (r,) = _checker().check([f"{server}/r1"], now=NOW)
    assert (r.ok, r.status) == (True, 200)
    assert r.final_url == f"{server}/ok"
    assert [p for _, _, p, _ in log] == ["/r1", "/r2", "/ok"]


def test_redirect_loop_stops_at_the_cap(server, log):
    (r,) = _checker(max_redirects=3).check([f"{server}/loop"], now=NOW)
    assert r.ok is False and r.status == 302 and "more than 3 redirects" in r.error
    assert len(log) == 4


def test_redirect_to_non_http_scheme_is_refused(server, log):
    (r,) = _checker().check([f"{server}/to-ftp"], now=NOW)
    assert r.ok is False and r.error == "redirect to a ftp URL refused"
    assert len(log) == 1  # nothing was fetched from the ftp address


def test_timeout(server):
    (r,) = _checker(timeout=0.3).check([f"{server}/slow"], now=NOW)
    assert r.ok is False and r.status is None and r.error == "timed out after 0.3 s"


def test_not_http_url_is_not_checked():
    (r,) = _checker().check(["ftp://files.example.org/data.csv"], now=NOW)
    assert r.ok is None and "not an http(s) URL" in r.error


def test_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    (r,) = _checker().check([f"http://127.0.0.1:{port}/x"], now=NOW)
    assert r.ok is False and r.error == "connection refused"


def test_per_host_interval_observed_at_the_server(server, log):
    urls = [f"{server}/ok?n={i}" for i in range(4)]
    results = _checker(per_host_interval=0.25, workers=4).check(urls, now=NOW)
    assert all(r.ok for r in results)
    starts = [t for t, *_ in log]
    assert len(starts) == 4
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.24, gaps  # one host: requests are spaced, never in parallel


def test_each_url_checked_once_results_in_input_order(server, log):
    urls = [f"{server}/missing", f"{server}/ok", f"{server}/missing"]
    results = _checker().check(urls, now=NOW)
    assert [r.url for r in results] == [f"{server}/missing", f"{server}/ok"]
    assert len(log) == 2


def test_credentials_never_reach_errors_or_logs(server, caplog):
    caplog.set_level(logging.DEBUG, logger="citycat.linkcheck")
    port = server.rsplit(":", 1)[1]
    url = f"http://alice:s3cret@127.0.0.1:{port}/missing?api_key=XYZ123&page=2"
    (r,) = _checker().check([url], now=NOW)
    assert r.ok is False
    text = f"{r.error} {r.final_url} {caplog.text}"
    assert "s3cret" not in text and "XYZ123" not in text and "alice" not in text
    assert "page=2" in r.final_url


def test_loopback_and_private_addresses_are_not_requested_by_default(server, log):
    checker = LinkChecker(LinkCheckConfig(timeout=0.5, per_host_interval=0))
    results = checker.check([f"{server}/ok", "http://10.1.2.3/x", "http://[::1]:9/x"], now=NOW)
    assert [(r.ok, r.error) for r in results] == [(None, "private or loopback address: not checked")] * 3
    assert log == []


def test_invalid_url_fails_without_stopping_the_others(server, log):
    results = _checker().check(["http://[not-an-ip/x", "http:///nohost", f"{server}/ok"], now=NOW)
    assert [(r.ok, r.error) for r in results] == [(False, "not a valid URL"), (False, "not a valid URL (no host)"),
                                                  (True, None)]


def test_redact():
    assert redact("https://u:p@h.example/a?token=t1&x=1") == "https://h.example/a?token=***&x=1"
    assert redact("https://h.example/a") == "https://h.example/a"


def test_due_orders_never_checked_then_stalest():
    last = {"a": datetime(2026, 11, 27, tzinfo=timezone.utc),  # fresh
            "b": datetime(2026, 11, 1, tzinfo=timezone.utc),
            "c": datetime(2026, 10, 1, tzinfo=timezone.utc)}
    assert due(["a", "b", "c", "d"], last, now=NOW, max_age_days=7) == ["d", "c", "b"]
    assert due(["a", "b", "c", "d"], last, now=NOW, max_age_days=7, limit=2) == ["d", "c"]


# ----------------------------------------------------------------------------- the stage (citycat.links)


def _source(**link_check):
    from citycat.config import SourceConfig

    return SourceConfig.model_validate({
        "id": "hro", "title": "Rostock", "kind": "dcat", "url": "https://www.opendata-hro.de/catalog.rdf",
        "institution": {"name": "Rostock", "kind": "council"},
        "quality": {"link_check": {"per_host_interval": 0, "timeout": 0.5, "allow_private_addresses": True,
                                   **link_check}}})


def _normalised(tmp_path, server):
    import json

    rows = [{"native_id": "a", "deleted": False, "row": {"access_urls": [f"{server}/ok", f"{server}/missing"],
                                                         "download_urls": [f"{server}/ok"]}},
            {"native_id": "gone", "deleted": True, "row": None},
            {"native_id": "b", "deleted": False, "row": {"access_urls": [f"{server}/nohead"], "download_urls": []}}]
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_stage_is_off_by_default(server, tmp_path, log):
    from citycat.links import check_links
    from helpers import sqlite_inventory

    inv = sqlite_inventory(tmp_path / "inv.sqlite")
    src = _source()
    assert src.quality.link_check.enabled is False
    out = check_links(src, "r1", _normalised(tmp_path, server), inventory=inv, now=NOW)
    assert out["enabled"] is False and out["checked"] == 0 and log == []
    inv.close()


def test_stage_checks_due_urls_stores_them_and_skips_fresh_ones(server, tmp_path, log):
    from datetime import timedelta

    from citycat.links import check_links
    from helpers import sqlite_inventory
    from inventory.quality import link_rows, link_status

    inv = sqlite_inventory(tmp_path / "inv.sqlite")
    norm = _normalised(tmp_path, server)
    src = _source(enabled=True, max_age_days=7, max_urls=2)
    first = check_links(src, "r1", norm, inventory=inv, now=NOW)
    assert (first["urls"], first["checked"], first["deferred"]) == (3, 2, 1)  # capped at max_urls
    second = check_links(src, "r2", norm, inventory=inv, now=NOW + timedelta(hours=1))
    assert (second["fresh"], second["checked"], second["deferred"]) == (2, 1, 0)  # only the deferred one
    status = link_status(inv, [f"{server}/ok", f"{server}/missing", f"{server}/nohead"])
    assert status == {f"{server}/ok": True, f"{server}/missing": False, f"{server}/nohead": True}
    rows = {r["url"]: r for r in link_rows(inv, status)}
    assert rows[f"{server}/nohead"]["method"] == "GET" and rows[f"{server}/missing"]["status"] == 404
    assert len(log) == 4  # ok, missing, nohead (HEAD + GET): nothing checked twice
    third = check_links(src, "r3", norm, inventory=inv, now=NOW + timedelta(days=8))
    assert third["checked"] == 2  # a week later the stalest two are due again
    inv.close()
