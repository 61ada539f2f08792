"""Paginator strategies with loop detection.

Real portals loop: a search that ignores ``start`` returns page one forever, an OAI-PMH
server hands back the token it was given, a Hydra view links to itself. Without a guard a
harvester runs until the scheduler kills it, and the archive fills with duplicates. Each
strategy here yields page requests, is told what each page returned (:meth:`feed`), decides
whether there is a next page, and raises :class:`FatalSourceError` the moment it sees a
repeat.

Usage::

    pager = OffsetPaginator(limit=1000, source_id="leeds")
    for req in pager:
        page = fetch(offset=req.offset, limit=req.limit)
        pager.feed(ids=[r["id"] for r in page.results], total=page.count)

Resuming: :meth:`Paginator.state` is where the listing stands after the last fed page (offset,
resumption token or next link, the page count) as a small JSON-able dict, and ``restore(state)``
makes a fresh paginator continue from there, so a harvest killed part-way can carry on from its
last checkpoint (see citycat/checkpoint.py). Loop detection starts afresh after a restore: the
fingerprints of pages fetched before the kill are not kept, so a server that starts repeating
right at the resume point is caught one page later than in an unbroken run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator

from harvesters.base import FatalSourceError


@dataclass(frozen=True)
class PageRequest:
    """What to ask for next: ``offset``/``limit`` for offset paging, ``token`` or ``url`` otherwise."""

    number: int  # 1-based page number
    offset: int | None = None
    limit: int | None = None
    token: str | None = None
    url: str | None = None


class Paginator:
    """Base: iteration protocol, page counting, and the "fed before asking again" rule."""

    strategy: ClassVar[str] = ""  # names the kind of position ``state`` holds, so a restore cannot mix them

    def __init__(self, *, source_id: str | None = None, max_pages: int | None = None) -> None:
        self.source_id = source_id
        self.max_pages = max_pages
        self.pages = 0
        self.done = False
        self._awaiting_feed = False

    def __iter__(self) -> Iterator[PageRequest]:
        while not self.done:
            if self._awaiting_feed:
                raise RuntimeError(f"{type(self).__name__}: feed() was not called for page {self.pages}")
            if self.max_pages is not None and self.pages >= self.max_pages:
                raise self._loop(f"stopped after max_pages={self.max_pages} pages without reaching the end")
            self.pages += 1
            self._awaiting_feed = True
            yield self._next_request()

    def _next_request(self) -> PageRequest:
        raise NotImplementedError

    # -- resume ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Where the listing stands after the last fed page; ``restore`` continues from it."""
        if self._awaiting_feed:
            raise RuntimeError(f"{type(self).__name__}: state() asked while page {self.pages} awaits feed()")
        return {"strategy": type(self).strategy, "pages": self.pages, "done": self.done, **self._position()}

    def restore(self, state: dict[str, Any]) -> "Paginator":
        """Continue from ``state`` (a :meth:`state` of the same strategy); returns self."""
        if state.get("strategy") != type(self).strategy:
            raise ValueError(f"{type(self).__name__}: cannot resume from a {state.get('strategy')!r} position")
        self.pages = int(state["pages"])
        self.done = bool(state["done"])
        self._awaiting_feed = False
        self._set_position(state)
        return self

    def _position(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_position(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _fed(self) -> None:
        if not self._awaiting_feed:
            raise RuntimeError(f"{type(self).__name__}: feed() called without a pending page")
        self._awaiting_feed = False

    def _loop(self, message: str) -> FatalSourceError:
        self.done = True
        return FatalSourceError(f"paging loop: {message}", source_id=self.source_id)


def _fingerprint(ids: Iterable[str]) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for native_id in ids:
        digest.update(str(native_id).encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.digest()


class _SeenPages:
    """Which page first held each exact list of ids: a server that ignores the offset or token it was
    sent answers with a page already seen, whatever the request said. Fingerprints, not id lists, are
    kept, so a million-record listing costs a few bytes a page."""

    def __init__(self) -> None:
        self._first: dict[bytes, int] = {}

    def earlier(self, ids: list[str], number: int) -> int | None:
        """The number of an earlier page with exactly ``ids``; else remember them as page ``number``."""
        fingerprint = _fingerprint(ids)
        if fingerprint in self._first:
            return self._first[fingerprint]
        self._first[fingerprint] = number
        return None


class OffsetPaginator(Paginator):
    """``start``/``rows`` style paging (CKAN ``package_search``, ``package_list``).

    Advances by the number of records the page actually held (portals silently cap ``rows``),
    stops on an empty page, on reaching ``total`` when the portal states one, or on a short
    page when it does not (unless ``stop_on_short_page`` is off, for portals that cap
    pages). A page whose ids are exactly those of an earlier page, or a repeated
    offset, is a loop.
    """

    def __init__(self, limit: int, *, start: int = 0, source_id: str | None = None,
                 max_pages: int | None = None, stop_on_short_page: bool = True) -> None:
        super().__init__(source_id=source_id, max_pages=max_pages)
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.stop_on_short_page = stop_on_short_page
        self.offset = start
        self.total: int | None = None
        self._seen_offsets: set[int] = set()
        self._seen_pages = _SeenPages()

    def _next_request(self) -> PageRequest:
        if self.offset in self._seen_offsets:
            raise self._loop(f"offset {self.offset} requested twice")
        self._seen_offsets.add(self.offset)
        return PageRequest(number=self.pages, offset=self.offset, limit=self.limit)

    strategy: ClassVar[str] = "offset"

    def _position(self) -> dict[str, Any]:
        return {"offset": self.offset, "total": self.total}

    def _set_position(self, state: dict[str, Any]) -> None:
        self.offset = int(state["offset"])
        self.total = state.get("total")

    def feed(self, ids: list[str], total: int | None = None) -> None:
        """Report the ids a page held (in order) and the portal's total count, if any."""
        self._fed()
        if total is not None:
            self.total = total
        if not ids:
            self.done = True
            return
        earlier = self._seen_pages.earlier(ids, self.pages)
        if earlier is not None:
            raise self._loop(f"page {self.pages} (offset {self.offset}) returned exactly the same "
                             f"{len(ids)} records as page {earlier}; the portal ignores the offset")
        self.offset += len(ids)
        if total is not None:
            self.done = self.offset >= total
        else:
            self.done = self.stop_on_short_page and len(ids) < self.limit


class TokenPaginator(Paginator):
    """Resumption-token paging (OAI-PMH): the first request has no token; an empty token ends it.

    A token seen before is a loop. So is a page that holds exactly the records of an earlier one
    while handing back a fresh token (a server that ignores the token it is sent), which only the
    page's ids reveal: pass them to :meth:`feed` where the protocol has them.
    """

    def __init__(self, *, source_id: str | None = None, max_pages: int | None = None) -> None:
        super().__init__(source_id=source_id, max_pages=max_pages)
        self.token: str | None = None
        self._seen: set[str] = set()
        self._seen_pages = _SeenPages()

    def _next_request(self) -> PageRequest:
        return PageRequest(number=self.pages, token=self.token)

    strategy: ClassVar[str] = "token"

    def _position(self) -> dict[str, Any]:
        return {"token": self.token}

    def _set_position(self, state: dict[str, Any]) -> None:
        self.token = state.get("token")
        if self.token:
            self._seen.add(self.token)

    def feed(self, next_token: str | None, ids: list[str] | None = None) -> None:
        """Report the token the page handed back (``None``/empty when it was the last page) and,
        optionally, the ids the page held."""
        self._fed()
        if ids:
            earlier = self._seen_pages.earlier(ids, self.pages)
            if earlier is not None:
                raise self._loop(f"page {self.pages} holds exactly the records of page {earlier}; "
                                 "the server ignores the resumption token")
        token = (next_token or "").strip()
        if not token:
            self.done = True
            return
        if token in self._seen:
            raise self._loop(f"page {self.pages} handed back resumption token {token[:80]!r} seen before")
        self._seen.add(token)
        self.token = token


class NextLinkPaginator(Paginator):
    """Next-link paging (Hydra ``hydra:next``, DCAT feeds): follow links until there is none."""

    def __init__(self, first_url: str, *, source_id: str | None = None, max_pages: int | None = None) -> None:
        super().__init__(source_id=source_id, max_pages=max_pages)
        self.url = first_url
        self._seen: set[str] = {first_url}

    def _next_request(self) -> PageRequest:
        return PageRequest(number=self.pages, url=self.url)

    strategy: ClassVar[str] = "next-link"

    def _position(self) -> dict[str, Any]:
        return {"url": self.url}

    def _set_position(self, state: dict[str, Any]) -> None:
        self.url = str(state["url"])
        self._seen.add(self.url)

    def feed(self, next_url: str | None) -> None:
        """Report the page's next link (``None`` on the last page)."""
        self._fed()
        if not next_url:
            self.done = True
            return
        if next_url in self._seen:
            raise self._loop(f"page {self.pages} links to {next_url} which was already fetched")
        self._seen.add(next_url)
        self.url = next_url
