"""The one HTTP client every harvester uses.

Portals are slow, flaky and sometimes hostile (redirect loops, HTML error pages with status
200, endless bodies), and we are guests on them. So retries, backoff, ``Retry-After``, size
caps, politeness and credential hygiene live here once, instead of differing per protocol.

:class:`HttpClient` is a :class:`requests.Session`, so it can be handed to libraries that take
a session (``ckanapi.RemoteCKAN(session=...)``). Every request goes through the same loop:
politeness wait → send (no automatic redirects) → classify → retry or return with the body
already read under the size cap.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, ClassVar
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from harvesters.base import FatalSourceError, Harvester, HarvesterOptions, HttpOptions, RetriableError

log = logging.getLogger("citycat.http")

VERSION = "0.1.0"
PROJECT_URL = "https://github.com/citycat/citycat"
DEFAULT_USER_AGENT = f"citycat/{VERSION} (+{PROJECT_URL}; metadata harvester)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- errors


class HttpStatusError(RetriableError):
    """Retries ran out on a 429/5xx answer (or the server asked us to wait too long)."""

    def __init__(self, message: str, *, url: str, status: int, **where: Any) -> None:
        self.url = url
        self.status = status
        super().__init__(message, **where)


class TruncatedResponseError(RetriableError):
    """The connection closed before the announced body arrived, on every attempt."""


class ResponseTooLargeError(FatalSourceError):
    """A body exceeded ``max_response_bytes``; raising the cap is a config decision."""


class UnexpectedContentError(FatalSourceError):
    """A JSON API answered 200 with something else (typically an HTML page)."""


class RedirectRefusedError(FatalSourceError):
    """A redirect pointed at a host that is not the source's and not allowed."""


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class HttpConfig:
    """Knobs of the shared client; harvesters derive one from their typed options."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 4  # extra attempts after 429/5xx/timeouts/truncated bodies
    connect_retries: int = 2  # extra attempts after refused/DNS/unreachable: fail fast offline
    backoff_base: float = 0.5  # seconds; doubled per attempt
    backoff_max: float = 30.0
    jitter: float = 0.1  # +- fraction of each backoff, so many clients do not retry in lockstep
    max_retry_wait: float = 120.0  # a Retry-After longer than this fails instead of sleeping
    retry_budget: float = 300.0  # total seconds one request may spend sleeping between attempts
    max_response_bytes: int = 50 * 1024 * 1024
    requests_per_second: float = 5.0  # per host, shared by every client in the process; 0 = off
    allow_redirect_hosts: frozenset[str] = field(default_factory=frozenset)
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    sleep: Callable[[float], None] = time.sleep  # retry waits only; tests inject a recorder

    def with_(self, **changes: Any) -> "HttpConfig":
        return replace(self, **changes)


# --------------------------------------------------------------------------- politeness


class _HostLimiter:
    """Process-wide minimum interval between requests to one host (thread-safe).

    Each caller reserves the next free slot under the lock and sleeps outside it, so
    concurrent harvesters of the same portal queue up instead of bursting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, host: str, rate: float, sleep: Callable[[float], None]) -> None:
        if rate <= 0:
            return
        interval = 1.0 / rate
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + interval
        if slot > now:
            sleep(slot - now)


HOST_LIMITER = _HostLimiter()


# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _describe_connection_error(exc: BaseException) -> str:
    text = repr(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    for needle, what in (("Name or service not known", "DNS lookup failed"),
                         ("NameResolutionError", "DNS lookup failed"),
                         ("nodename nor servname", "DNS lookup failed"),
                         ("Temporary failure in name resolution", "DNS lookup failed"),
                         ("Connection refused", "connection refused"),
                         ("Network is unreachable", "network unreachable (offline?)"),
                         ("No route to host", "no route to host"),
                         ("Connection reset", "connection reset")):
        if needle in text:
            return what
    return f"connection failed ({type(exc).__name__})"


def _never_connected(exc: BaseException) -> bool:
    """True when no TCP connection was made (as opposed to one dropped mid-exchange)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text or "Failed to resolve" in text


def _html_title(body: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:20000], re.I | re.S)
    return match.group(1).decode("utf-8", "replace").strip()[:120] if match else ""


# --------------------------------------------------------------------------- client


class HttpClient(requests.Session):
    """A ``requests.Session`` with the project's retry, cap, politeness and redirect rules.

    ``api_key`` is sent as ``api_key_header`` only to the host each request was made for
    (never across a redirect to another host) and is scrubbed from every message this client
    produces. Retry waits go through ``config.sleep`` so tests observe them instead of taking
    them; politeness waits are always real, since they protect the portal.
    """

    def __init__(self, config: HttpConfig | None = None, *, source_id: str | None = None,
                 api_key: str | None = None, api_key_header: str = "Authorization",
                 limiter: _HostLimiter = HOST_LIMITER) -> None:
        super().__init__()
        self.config = config or HttpConfig()
        self.source_id = source_id
        self.sleep = self.config.sleep
        self.limiter = limiter
        self._api_key = api_key or None
        self._api_key_header = api_key_header
        self.headers["User-Agent"] = self.config.user_agent
        self.headers["Accept"] = "application/json, */*;q=0.5"
        self.requests_sent = 0

    # -- public helpers -------------------------------------------------------------

    def redact(self, text: str) -> str:
        """Remove the API key from a message (servers sometimes echo headers back)."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document; non-2xx and undecodable bodies become typed errors."""
        resp = self.request("GET", url, params=params, expect_json=True)
        if resp.status_code >= 400:
            raise FatalSourceError(self.redact(f"{resp.url} answered HTTP {resp.status_code}"),
                                   source_id=self.source_id)
        try:
            return resp.json()
        except ValueError as exc:
            raise UnexpectedContentError(self.redact(f"{resp.url} served malformed JSON ({exc})"),
                                         source_id=self.source_id) from None

    # -- the request loop -------------------------------------------------------------

    def request(self, method: str, url: str, *args: Any, expect_json: bool = False,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        """Send with retries; return the response with its body read (any status < 500).

        4xx answers are returned, not raised: API clients such as ckanapi read the error
        body. ``expect_json`` rejects a 200 answer whose body is not JSON-shaped.
        """
        cfg = self.config
        kwargs.pop("allow_redirects", None)
        kwargs.pop("stream", None)
        timeout = kwargs.pop("timeout", None) or (cfg.connect_timeout, cfg.read_timeout)
        headers = dict(kwargs.pop("headers", None) or {})
        origin_host = urlsplit(url).hostname or ""
        for _ in range(cfg.max_redirects + 1):
            resp = self._send_with_retries(method, url, timeout, headers, origin_host, *args, **kwargs)
            if resp.status_code not in REDIRECT_STATUSES or "Location" not in resp.headers:
                break
            target = urljoin(url, resp.headers["Location"])
            host = urlsplit(target).hostname or ""
            if host != origin_host and host not in cfg.allow_redirect_hosts:
                raise RedirectRefusedError(self.redact(
                    f"{url} redirected to another host ({host}); refusing. If that host is the "
                    f"portal's new home, update the source URL or add {host!r} to allow_redirect_hosts"),
                    source_id=self.source_id)
            if resp.status_code == 303:
                method, kwargs = "GET", {k: v for k, v in kwargs.items() if k not in ("data", "json")}
            # 301/302 keep method and body: API actions are reads, and turning a POST into a
            # body-less GET yields confusing "missing parameter" errors from the portal.
            url = target
        else:
            raise FatalSourceError(self.redact(f"{url}: more than {cfg.max_redirects} redirects"),
                                   source_id=self.source_id)
        if expect_json and resp.status_code == 200:
            self._check_json_shape(resp)
        return resp

    def _send_with_retries(self, method: str, url: str, timeout: Any, headers: dict[str, str],
                           origin_host: str, *args: Any, **kwargs: Any) -> requests.Response:
        cfg = self.config
        parts = urlsplit(url)
        host = parts.hostname or ""
        limiter_key = parts.netloc.lower()
        if self._api_key and host == origin_host:
            headers = {**headers, self._api_key_header: self._api_key}
        slept = 0.0
        attempt = 0
        connect_failures = 0
        while True:
            self.limiter.wait(limiter_key, cfg.requests_per_second, time.sleep)
            self.requests_sent += 1
            problem: str
            wait: float | None = None
            status: int | None = None
            try:
                resp = super().request(method, url, *args, headers=headers, timeout=timeout,
                                       allow_redirects=False, stream=True, **kwargs)
            except requests.exceptions.ConnectionError as exc:
                problem = _describe_connection_error(exc)
                if _never_connected(exc):
                    # Refused / DNS / unreachable: retrying for minutes will not help an
                    # offline machine, so these get their own small budget.
                    connect_failures += 1
                    if connect_failures > cfg.connect_retries:
                        raise RetriableError(self.redact(
                            f"cannot reach {host}: {problem} ({connect_failures} attempts, {method} {url})"),
                            source_id=self.source_id) from None
            except requests.exceptions.Timeout:
                read = timeout[1] if isinstance(timeout, tuple) else timeout
                problem = f"no answer within the read timeout of {read} s"
            else:
                if resp.status_code in RETRY_STATUSES:
                    status = resp.status_code
                    wait = parse_retry_after(resp.headers.get("Retry-After"))
                    problem = f"HTTP {status}"
                    resp.close()
                    if wait is not None and wait > cfg.max_retry_wait:
                        raise HttpStatusError(self.redact(
                            f"{url} answered HTTP {status} asking to wait {wait:.0f} s, more than "
                            f"max_retry_wait={cfg.max_retry_wait:.0f} s; try again later"),
                            url=url, status=status, source_id=self.source_id)
                else:
                    try:
                        self._read_body(resp, url)
                        return resp
                    except TruncatedResponseError as exc:
                        problem = exc.reason
            attempt += 1
            if wait is None:
                wait = min(cfg.backoff_max, cfg.backoff_base * (2 ** (attempt - 1)))
                wait *= 1 + random.uniform(-cfg.jitter, cfg.jitter) if cfg.jitter else 1
            if attempt > cfg.max_retries or slept + wait > cfg.retry_budget:
                message = self.redact(f"{method} {url} failed after {attempt} attempts: {problem}")
                if status is not None:
                    raise HttpStatusError(message, url=url, status=status, source_id=self.source_id)
                if problem.startswith("truncated"):
                    raise TruncatedResponseError(message, source_id=self.source_id)
                raise RetriableError(message, source_id=self.source_id)
            log.warning("%s", self.redact(f"{method} {url}: {problem}; retry {attempt} in {wait:.2f} s"))
            self.sleep(wait)
            slept += wait

    def _read_body(self, resp: requests.Response, url: str) -> None:
        """Read the body under the size cap, so one endless reply cannot exhaust memory."""
        cap = self.config.max_response_bytes
        announced = resp.headers.get("Content-Length")
        if announced and announced.isdigit() and int(announced) > cap:
            resp.close()
            raise ResponseTooLargeError(self.redact(
                f"{url} announced {int(announced)} bytes, more than max_response_bytes={cap}"),
                source_id=self.source_id)
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in resp.raw.stream(_CHUNK, decode_content=True):
                total += len(chunk)
                if total > cap:
                    resp.close()
                    raise ResponseTooLargeError(self.redact(
                        f"{url} sent more than max_response_bytes={cap} bytes; stopped reading"),
                        source_id=self.source_id)
                chunks.append(chunk)
        except (Urllib3Error, requests.exceptions.RequestException, OSError) as exc:
            resp.close()
            raise TruncatedResponseError(
                f"truncated body from {url}: connection closed after {total} of "
                f"{announced or 'unknown'} bytes ({type(exc).__name__})") from None
        resp._content = b"".join(chunks)
        resp._content_consumed = True
        ctype = resp.headers.get("Content-Type", "")
        if "charset" not in ctype.lower() and ("json" in ctype.lower() or resp._content[:1] in (b"{", b"[")):
            resp.encoding = "utf-8"  # JSON is UTF-8 (RFC 8259); skips requests' slow charset sniffing

    def _check_json_shape(self, resp: requests.Response) -> None:
        body = resp.content
        if body.startswith(b"\xef\xbb\xbf"):
            resp._content = body = body[3:]  # a BOM is not JSON; some IIS-hosted portals add one
        head = body[:64].lstrip()
        if head[:1] in (b"{", b"["):
            return
        if head[:1] == b"<":
            title = _html_title(body)
            raise UnexpectedContentError(self.redact(
                f"{resp.url} answered 200 with an HTML page{f' ({title!r})' if title else ''} instead "
                f"of JSON: the portal may be in maintenance, or the URL is not its API root"),
                source_id=self.source_id)
        raise UnexpectedContentError(self.redact(
            f"{resp.url} answered 200 with a body that is not JSON (starts {body[:40]!r})"),
            source_id=self.source_id)


# --------------------------------------------------------------------------- one client per harvester


def http_config(options: HttpOptions, base: HttpConfig | None = None) -> HttpConfig:
    """The client settings for a source: ``base`` (defaults, or fast retries in tests) with its options on top."""
    base = base or HttpConfig()
    return base.with_(read_timeout=options.timeout, requests_per_second=options.requests_per_second,
                      max_response_bytes=options.max_response_mb * 1024 * 1024,
                      allow_redirect_hosts=base.allow_redirect_hosts | frozenset(options.allow_redirect_hosts))


class HttpHarvester(Harvester):
    """Base of the kinds that fetch over HTTP: one lazily built :class:`HttpClient` per harvester.

    ``http`` (the constructor argument) may be an :class:`HttpConfig`: base settings such as fast
    retries in tests, with the source's options applied on top. A kind that sends a key names the
    option holding its environment variable in ``api_key_option``, and how the API wants it in
    ``api_key_header``/``api_key_scheme``; the key is read when the first request is made, so a
    missing variable fails the run that needs it, not the loading of sources.yaml.
    """

    Options: ClassVar[type[HarvesterOptions]] = HttpOptions
    api_key_option: ClassVar[str | None] = None
    api_key_header: ClassVar[str] = "Authorization"
    api_key_scheme: ClassVar[str] = ""  # e.g. "Apikey " for OpenDataSoft

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        super().__init__(source_id, url, options, http)
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            config = http_config(self.options, self.http if isinstance(self.http, HttpConfig) else None)
            self._client = HttpClient(config, source_id=self.source_id, api_key=self._api_key(),
                                      api_key_header=self.api_key_header)
        return self._client

    def _api_key(self) -> str | None:
        name = self.api_key_option
        variable = getattr(self.options, name, None) if name else None
        if not variable:
            return None
        key = os.environ.get(variable)
        if not key:
            raise self.error(FatalSourceError, f"environment variable {variable} ({name}) is not set or empty",
                             field=name)
        return f"{self.api_key_scheme}{key}"

    def count_requests(self) -> None:
        """Copy the client's request count into the stats (call in a ``finally``: failed runs count too)."""
        self.stats.requests = self._client.requests_sent if self._client else 0
