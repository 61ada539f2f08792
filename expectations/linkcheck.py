"""A polite link checker for distribution access/download URLs (the MQA accessibility indicators).

We check other people's servers, many of them small council web servers, every night. So: a HEAD
first (no body), a ranged GET for one byte only when HEAD is refused (plenty of servers answer
HEAD with 405/403/501 or drop the connection), one request at a time per host with a minimum gap
between them, a few hosts in parallel, a timeout, and redirects followed by hand so that a hop to a
non-http(s) scheme (``file:``, ``ftp:``, ``javascript:``) is refused instead of handed to a library.

Storage-free: the caller passes URLs and gets :class:`LinkResult` objects back (``citycat.links``
stores them). URLs in errors and log lines are redacted (userinfo and secret-looking query values),
since access URLs sometimes carry API keys.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

log = logging.getLogger("citycat.linkcheck")

USER_AGENT = "citycat-linkcheck/0.1 (+https://github.com/citycat/citycat; metadata quality check)"
HEAD_REFUSED = frozenset({403, 405, 501})  # statuses after which a ranged GET is tried instead
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SECRET_KEYS = re.compile(r"(key|token|secret|pass|pwd|auth|sig|signature|session|credential)", re.I)


@dataclass(frozen=True)
class LinkCheckConfig:
    timeout: float = 10.0  # seconds per request (connect and each read)
    per_host_interval: float = 1.0  # minimum seconds between two requests to one host
    workers: int = 4  # hosts checked in parallel
    max_redirects: int = 5
    # Access URLs come from other people's metadata: by default a URL (or a redirect) pointing into
    # loopback, private, link-local or reserved address space is not requested (no SSRF from a catalogue).
    allow_private: bool = False


@dataclass(frozen=True)
class LinkResult:
    url: str
    ok: bool | None  # True: answered 2xx/3xx; False: failed; None: not checkable (not http(s))
    status: int | None
    method: str | None  # the request that decided: HEAD or GET
    seconds: float | None
    error: str | None
    checked_at: datetime
    final_url: str | None = None  # redacted, after redirects

    def as_dict(self) -> dict:
        return asdict(self)


def redact(url: str) -> str:
    """``url`` without userinfo and with the values of secret-looking query parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


class _HostGate:
    """Per host, the earliest time the next request may start (shared by every worker)."""

    def __init__(self, interval: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self._next: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def wait(self, host: str) -> None:
        with self._guard:
            lock = self._locks[host]
        with lock:
            now = self.clock()
            start = self._next.get(host, now)
            if start > now:
                self.sleep(start - now)
                now = self.clock()
            self._next[host] = now + self.interval


def _private(host: str) -> bool:
    """True when ``host`` is, or resolves to, an address that is not publicly routable."""
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError, ValueError):
        return False  # unresolvable: the request fails on its own and says so
    for a in addrs:
        ip = ipaddress.ip_address(a.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast \
                or ip.is_unspecified:
            return True
    return False


class LinkChecker:
    """Checks URLs; one instance may be reused across calls (the per-host gaps carry over)."""

    def __init__(self, config: LinkCheckConfig | None = None, *, session_factory: Callable[[], requests.Session]
                 = requests.Session, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or LinkCheckConfig()
        self._gate = _HostGate(self.config.per_host_interval, clock, sleep)
        self._session_factory = session_factory
        self._local = threading.local()
        self._private_hosts: dict[str, bool] = {}

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = self._session_factory()
            s.headers["User-Agent"] = USER_AGENT
            s.trust_env = False  # no proxy/netrc credentials from the environment
        return s

    def check(self, urls: Iterable[str], *, now: datetime) -> list[LinkResult]:
        """Check each distinct URL once; results in the order of first appearance.

        ``now`` is the run's timestamp written as ``checked_at`` (tasks never read the clock).
        """
        order = list(dict.fromkeys(u for u in urls if u))
        by_host: dict[str, list[str]] = defaultdict(list)
        for u in order:
            by_host[_host(u)].append(u)
        results: dict[str, LinkResult] = {}

        def run_host(host_urls: list[str]) -> None:
            for u in host_urls:
                results[u] = self.check_one(u, now=now)

        if len(by_host) <= 1 or self.config.workers <= 1:
            for host_urls in by_host.values():
                run_host(host_urls)
        else:
            with ThreadPoolExecutor(max_workers=min(self.config.workers, len(by_host)),
                                    thread_name_prefix="linkcheck") as pool:
                for f in [pool.submit(run_host, v) for v in by_host.values()]:
                    f.result()
        return [results[u] for u in order]

    def check_one(self, url: str, *, now: datetime) -> LinkResult:
        """One URL; never raises (a checker fault is recorded as the URL's error, not checked)."""
        try:
            return self._check_one(url, now)
        except Exception as exc:  # noqa: BLE001 - one odd URL must not stop the other hosts' checks
            log.warning("link check of %s failed inside the checker: %s", redact(url), type(exc).__name__)
            return LinkResult(url, None, None, None, None, f"not checked: checker error {type(exc).__name__}", now)

    def _check_one(self, url: str, now: datetime) -> LinkResult:
        started = time.monotonic()
        safe = redact(url)
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), (parts.hostname or "")
        except ValueError:
            return LinkResult(url, False, None, None, None, "not a valid URL", now)
        if scheme not in ("http", "https"):
            return LinkResult(url, None, None, None, None, f"not an http(s) URL ({scheme or 'no scheme'}): not checked",
                              now)
        if not host:
            return LinkResult(url, False, None, None, None, "not a valid URL (no host)", now)
        if self._is_private(host):
            return LinkResult(url, None, None, None, None, "private or loopback address: not checked", now)
        status, method, error, final = self._follow(url, "HEAD")
        if (status in HEAD_REFUSED) or (status is None and error and error.startswith("connection reset")):
            status, method, error, final = self._follow(url, "GET")
        ok = status is not None and 200 <= status < 400 and error is None
        seconds = round(time.monotonic() - started, 3)
        log.debug("link %s -> %s %s %s", safe, method, status, error or "")
        return LinkResult(url, ok, status, method, seconds, error, now, final)

    def _is_private(self, host: str) -> bool:
        if self.config.allow_private:
            return False
        known = self._private_hosts.get(host)
        if known is None:
            known = self._private_hosts[host] = _private(host)
        return known

    def _follow(self, url: str, method: str) -> tuple[int | None, str, str | None, str | None]:
        """(final status, method, error, final redacted URL) after following redirects by hand."""
        current = url
        status: int | None = None
        for _hop in range(self.config.max_redirects + 1):
            status, location, error = self._request(current, method)
            if error is not None or status not in REDIRECTS or not location:
                return status, method, error, redact(current)
            nxt = urljoin(current, location)
            scheme = urlsplit(nxt).scheme.lower()
            if scheme not in ("http", "https"):
                return status, method, f"redirect to a {scheme or 'schemeless'} URL refused", redact(nxt)
            if self._is_private(_host(nxt)):
                return status, method, "redirect to a private or loopback address refused", redact(nxt)
            current = nxt
        return status, method, f"more than {self.config.max_redirects} redirects", redact(current)

    def _request(self, url: str, method: str) -> tuple[int | None, str | None, str | None]:
        self._gate.wait(_host(url))
        headers = {"Range": "bytes=0-0"} if method == "GET" else {}
        try:
            with self._session().request(method, url, headers=headers, timeout=self.config.timeout,
                                         allow_redirects=False, stream=True) as resp:
                return resp.status_code, resp.headers.get("Location"), None
        except requests.exceptions.Timeout:
            return None, None, f"timed out after {self.config.timeout:g} s"
        except requests.exceptions.ConnectionError as exc:
            return None, None, _connection_error(exc)
        except requests.exceptions.RequestException as exc:
            return None, None, f"request failed: {type(exc).__name__}"


def _connection_error(exc: BaseException) -> str:
    """A short, URL-free reason (requests' own messages repeat the URL, query string included)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ConnectionResetError) or "RemoteDisconnected" in type(e).__name__ \
                or "Connection aborted" in str(e) or "reset" in str(e).lower():
            return "connection reset by the server"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if "NameResolution" in type(e).__name__ or "Name or service not known" in str(e):
            return "host name did not resolve"
        e = e.__cause__ or e.__context__ or (e.args[0] if e.args and isinstance(e.args[0], BaseException) else None)
    return f"connection failed: {type(exc).__name__}"


def due(urls: Iterable[str], last_checked: dict[str, datetime], *, now: datetime, max_age_days: float,
        limit: int | None = None) -> list[str]:
    """The URLs to check now: never checked, or last checked more than ``max_age_days`` ago; oldest first."""
    cutoff = now - timedelta(days=max_age_days)
    never = [u for u in dict.fromkeys(urls) if u not in last_checked]
    stale = sorted((u for u in dict.fromkeys(urls) if u in last_checked and last_checked[u] < cutoff),
                   key=lambda u: last_checked[u])
    out = never + stale
    return out[:limit] if limit is not None else out


__all__ = ["LinkCheckConfig", "LinkChecker", "LinkResult", "due", "redact"]
