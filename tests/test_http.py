"""The shared HTTP client against real servers on 127.0.0.1."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest_portal import closed_port, fast_http, sleeps, synthetic_portal  # noqa: F401  (fixtures)
from harvesters.base import RetriableError
from harvesters.http import (DEFAULT_USER_AGENT, HttpClient, HttpStatusError, RedirectRefusedError,
                             ResponseTooLargeError, TruncatedResponseError, UnexpectedContentError, _HostLimiter,
                             parse_retry_after)

STATUS = "/api/3/action/status_show"


def test_parse_retry_after_seconds_and_http_date():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0  # in the past: no wait
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_user_agent_is_descriptive(synthetic_portal, fast_http):
    HttpClient(fast_http).get_json(synthetic_portal.url + STATUS)
    agent = synthetic_portal.requests[-1]["user_agent"]
    assert agent == DEFAULT_USER_AGENT
    assert agent.startswith("citycat/") and "metadata harvester" in agent and "+http" in agent


def test_5xx_twice_then_success_backs_off_exponentially(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("status", status=502)
    synthetic_portal.inject("status", status=500)
    result = HttpClient(fast_http).get_json(synthetic_portal.url + STATUS)
    assert result["success"] is True
    assert sleeps.waits == [0.01, 0.02]


def test_5xx_forever_gives_up_with_status(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("status", times=-1, status=503)
    with pytest.raises(HttpStatusError) as err:
        HttpClient(fast_http.with_(max_retries=2), source_id="src").get_json(synthetic_portal.url + STATUS)
    assert err.value.status == 503
    assert "failed after 3 attempts: HTTP 503" in str(err.value) and "source=src" in str(err.value)
    assert len(sleeps.waits) == 2


def test_429_retry_after_is_honoured(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("retry_after", value="7")
    assert HttpClient(fast_http).get_json(synthetic_portal.url + STATUS)["success"]
    assert sleeps.waits == [7.0]


def test_429_asking_longer_than_max_wait_fails_without_sleeping(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("retry_after", value="3600")
    with pytest.raises(HttpStatusError, match="asking to wait 3600 s, more than max_retry_wait=60 s"):
        HttpClient(fast_http.with_(max_retry_wait=60)).get_json(synthetic_portal.url + STATUS)
    assert sleeps.waits == []


def test_truncated_body_is_retried_then_reported(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("truncate")
    assert HttpClient(fast_http).get_json(synthetic_portal.url + STATUS)["success"]  # transient: recovered
    synthetic_portal.inject("truncate", times=-1)
    with pytest.raises(TruncatedResponseError) as err:
        HttpClient(fast_http.with_(max_retries=1)).get_json(synthetic_portal.url + STATUS)
    assert "truncated body from http://127.0.0.1" in str(err.value) and "status_show" in str(err.value)
    assert isinstance(err.value, RetriableError)


def test_slow_reply_times_out_as_retriable(synthetic_portal, fast_http):
    synthetic_portal.inject("slow", times=-1, seconds=0.6)
    with pytest.raises(RetriableError, match="no answer within the read timeout of 0.2 s"):
        HttpClient(fast_http.with_(read_timeout=0.2, max_retries=1)).get_json(synthetic_portal.url + STATUS)


def test_html_page_with_status_200_is_a_typed_error(synthetic_portal, fast_http):
    synthetic_portal.inject("html200")
    with pytest.raises(UnexpectedContentError) as err:
        HttpClient(fast_http, source_id="leeds").get_json(synthetic_portal.url + STATUS)
    message = str(err.value)
    assert synthetic_portal.url + STATUS in message and "HTML page" in message
    assert "Site under maintenance" in message and "source=leeds" in message


def test_size_cap_from_content_length(synthetic_portal, fast_http):
    url = synthetic_portal.url + "/api/3/action/package_search?rows=50"
    with pytest.raises(ResponseTooLargeError) as err:
        HttpClient(fast_http.with_(max_response_bytes=10_000)).get_json(url)
    assert url in str(err.value) and "max_response_bytes=10000" in str(err.value)


class _EndlessHandler(BaseHTTPRequestHandler):
    """HTTP/1.0, no Content-Length: the body ends when the connection closes."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        body = b'{"a": "' + b"x" * 200_000 + b'"}'
        if self.path.startswith("/bom"):
            body = b"\xef\xbb\xbf" + b'{"ok": true}'
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def raw_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EndlessHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_size_cap_while_streaming_without_content_length(raw_server, fast_http):
    with pytest.raises(ResponseTooLargeError, match="sent more than max_response_bytes=50000 bytes"):
        HttpClient(fast_http.with_(max_response_bytes=50_000)).get_json(raw_server + "/big")
    assert len(HttpClient(fast_http).get_json(raw_server + "/big")["a"]) == 200_000


def test_utf8_bom_before_json_is_tolerated(raw_server, fast_http):
    assert HttpClient(fast_http).get_json(raw_server + "/bom") == {"ok": True}


def test_unreachable_host_fails_fast_with_host_and_reason(closed_port, fast_http, sleeps):
    with pytest.raises(RetriableError) as err:
        HttpClient(fast_http, source_id="offline").get(f"http://127.0.0.1:{closed_port}/api/3/action/status_show")
    message = str(err.value)
    assert "cannot reach 127.0.0.1: connection refused (3 attempts" in message and "source=offline" in message
    assert sleeps.waits == [0.01, 0.02]  # connect_retries=2: two short waits, then give up


def test_redirect_to_another_host_is_refused(synthetic_portal, fast_http):
    other = f"http://localhost:{synthetic_portal.port}"
    synthetic_portal.inject("redirect", location=other)
    with pytest.raises(RedirectRefusedError) as err:
        HttpClient(fast_http).get_json(synthetic_portal.url + STATUS)
    assert "another host (localhost)" in str(err.value) and "allow_redirect_hosts" in str(err.value)


def test_allowed_redirect_is_followed_without_the_api_key(synthetic_portal, fast_http):
    synthetic_portal.inject("redirect", location=f"http://localhost:{synthetic_portal.port}")
    client = HttpClient(fast_http.with_(allow_redirect_hosts=frozenset({"localhost"})), api_key="s3cret-key")
    assert client.get_json(synthetic_portal.url + STATUS)["success"]
    first, second = list(synthetic_portal.requests)[-2:]
    assert first["authorization"] == "s3cret-key"
    assert second["authorization"] is None  # credentials stay with the host they were meant for


def test_same_host_redirect_is_followed(synthetic_portal, fast_http):
    synthetic_portal.inject("redirect", location=synthetic_portal.url)
    assert HttpClient(fast_http).get_json(synthetic_portal.url + STATUS)["success"]


def test_api_key_is_sent_as_header_and_never_in_messages(synthetic_portal, fast_http, caplog):
    synthetic_portal.inject("echo_auth", times=-1)
    client = HttpClient(fast_http, api_key="s3cret-key")
    with pytest.raises(Exception) as err:
        client.get_json(synthetic_portal.url + STATUS)
    assert synthetic_portal.requests[-1]["authorization"] == "s3cret-key"
    assert "s3cret-key" not in str(err.value) and "s3cret-key" not in caplog.text
    assert client.redact("echo s3cret-key") == "echo ***"


def test_host_limiter_spaces_requests_across_threads():
    limiter = _HostLimiter()
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    threads = [threading.Thread(target=lambda: [limiter.wait("h:1", 10.0, record) for _ in range(5)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 requests at 10/s: 19 of them must wait, and the waits reach ~1.9 s in 0.1 s steps
    assert len(waits) == 19
    steps = sorted(round(w, 1) for w in waits)
    assert steps == [round(0.1 * k, 1) for k in range(1, 20)]
    limiter.wait("other:2", 10.0, record)  # another host has its own schedule
    assert len(waits) == 19
