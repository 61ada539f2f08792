"""Paginator strategies: they end where they should and refuse to loop."""

from __future__ import annotations

import pytest

from harvesters.base import FatalSourceError
from harvesters.paging import NextLinkPaginator, OffsetPaginator, TokenPaginator


def drive_offset(pager: OffsetPaginator, pages: list[list[str]], total: int | None) -> list[int]:
    """Feed ``pages`` in order; return the offsets the paginator asked for."""
    asked = []
    for req, ids in zip(pager, pages):
        asked.append(req.offset)
        pager.feed(ids, total=total)
    return asked


def test_offset_advances_by_records_received_and_stops_at_total():
    pager = OffsetPaginator(limit=3, source_id="s")
    asked = drive_offset(pager, [["a", "b", "c"], ["d", "e", "f"], ["g"]], total=7)
    assert asked == [0, 3, 6]
    assert pager.done and pager.pages == 3


def test_offset_follows_a_portal_that_caps_rows_below_the_limit():
    # the portal returns 2 per page although 5 were asked; total says there is more
    pager = OffsetPaginator(limit=5)
    asked = drive_offset(pager, [["a", "b"], ["c", "d"], ["e"]], total=5)
    assert asked == [0, 2, 4]
    assert pager.done


def test_offset_without_total_stops_on_short_page():
    pager = OffsetPaginator(limit=2)
    assert drive_offset(pager, [["a", "b"], ["c"], ["never"]], total=None) == [0, 2]


def test_offset_without_short_page_stop_needs_an_empty_page():
    pager = OffsetPaginator(limit=2, stop_on_short_page=False)
    assert drive_offset(pager, [["a", "b"], ["c"], []], total=None) == [0, 2, 3]
    assert pager.done


def test_offset_same_page_twice_is_a_loop():
    pager = OffsetPaginator(limit=2, source_id="looping")
    with pytest.raises(FatalSourceError) as err:
        drive_offset(pager, [["a", "b"], ["a", "b"]], total=100)
    message = str(err.value)
    assert "paging loop" in message and "page 2" in message and "same 2 records as page 1" in message
    assert "source=looping" in message


def test_offset_overlapping_but_different_pages_are_not_a_loop():
    pager = OffsetPaginator(limit=2)
    assert drive_offset(pager, [["a", "b"], ["b", "c"], ["d"]], total=5) == [0, 2, 4]


def test_offset_repeated_offset_is_a_loop():
    pager = OffsetPaginator(limit=2)
    it = iter(pager)
    next(it)
    pager.feed(["a", "b"], total=10)
    pager.offset = 0  # as if a caller (or a bug) rewound
    with pytest.raises(FatalSourceError, match="offset 0 requested twice"):
        next(it)


def test_feed_must_follow_each_request():
    pager = OffsetPaginator(limit=2)
    it = iter(pager)
    next(it)
    with pytest.raises(RuntimeError, match="feed"):
        next(it)


def test_max_pages_guard():
    pager = OffsetPaginator(limit=1, max_pages=2)
    with pytest.raises(FatalSourceError, match="max_pages=2"):
        drive_offset(pager, [["a"], ["b"], ["c"]], total=10)


def test_token_paging_ends_on_empty_token_and_rejects_a_repeat():
    pager = TokenPaginator(source_id="oai")
    tokens = []
    for req, nxt in zip(pager, ["t1", "t2", ""]):
        tokens.append(req.token)
        pager.feed(nxt)
    assert tokens == [None, "t1", "t2"] and pager.done

    looping = TokenPaginator(source_id="oai")
    with pytest.raises(FatalSourceError, match="resumption token 't1' seen before"):
        for _req, nxt in zip(looping, ["t1", "t1"]):
            looping.feed(nxt)


def test_next_link_paging_rejects_a_link_back_to_a_fetched_page():
    pager = NextLinkPaginator("http://x/p1")
    urls = []
    for req, nxt in zip(pager, ["http://x/p2", None]):
        urls.append(req.url)
        pager.feed(nxt)
    assert urls == ["http://x/p1", "http://x/p2"]

    looping = NextLinkPaginator("http://x/p1", source_id="hydra")
    with pytest.raises(FatalSourceError, match="links to http://x/p1 which was already fetched"):
        for _req, nxt in zip(looping, ["http://x/p2", "http://x/p1"]):
            looping.feed(nxt)
