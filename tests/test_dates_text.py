"""Date, text and URL cleaning on the messy values real portals serve."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from rdflib.namespace import XSD

from transforms.dates import parse_date
from transforms.text import to_plain_text
from transforms.uris import clean_url, fragment, is_http_url, mailto, mint_uri


@pytest.mark.parametrize("raw,lexical,datatype", [
    ("2018-11-16T09:57:09.158821", "2018-11-16T09:57:09.158821+00:00", XSD.dateTime),  # CKAN: naive, microseconds
    ("2026-11-28", "2026-11-28", XSD.date),
    ("2026-11-28T10:00:00Z", "2026-11-28T10:00:00+00:00", XSD.dateTime),
    ("2026-11-28T10:00:00+01:00", "2026-11-28T10:00:00+01:00", XSD.dateTime),  # offset preserved
    ("2026-11-28 10:00", "2026-11-28T10:00:00+00:00", XSD.dateTime),
    ("28/11/2026", "2026-11-28", XSD.date),
    ("11/28/2026", "2026-11-28", XSD.date),  # only month-first reading possible
    ("05/04/2026", "2026-04-05", XSD.date),  # ambiguous: day-first (UK)
    ("28 November 2026", "2026-11-28", XSD.date),
    ("28th Nov 2026", "2026-11-28", XSD.date),
    ("November 28, 2026", "2026-11-28", XSD.date),
    ("1764288000", "2025-11-28T00:00:00+00:00", XSD.dateTime),
    (1764288000, "2025-11-28T00:00:00+00:00", XSD.dateTime),
    ("2026", "2026", XSD.gYear),
    ("2026-11", "2026-11", XSD.gYearMonth),
    (date(2026, 11, 28), "2026-11-28", XSD.date),
    (datetime(2026, 11, 28, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5))), "2026-11-28T01:02:03-05:00", XSD.dateTime),
])
def test_messy_dates_become_typed_literals(raw, lexical, datatype):
    parsed = parse_date(raw)
    assert parsed.reason is None
    assert (str(parsed.literal), parsed.literal.datatype, parsed.iso) == (lexical, datatype, lexical)


@pytest.mark.parametrize("raw,why", [("R/P1W", "repeating interval"), ("P1Y", "duration"), ("", "empty"), (None, "empty"),
                                     ("n/a", "placeholder"), ("0000-00-00", "placeholder"), ("TBC", "placeholder"),
                                     ("2026-02-30", "not a valid date"), ("2020-01-01/2020-12-31", "interval"),
                                     ("next tuesday", "unrecognised"), (True, "boolean")])
def test_non_dates_are_refused_with_a_reason(raw, why):
    parsed = parse_date(raw)
    assert parsed.literal is None and not parsed and why in parsed.reason


def test_twice_escaped_html_is_decoded_and_stripped():
    assert to_plain_text("&amp;lt;p&amp;gt;Bus stops &amp;amp; routes&amp;lt;/p&amp;gt;").text == "Bus stops & routes"


def test_html_blocks_become_lines_and_links_keep_their_target():
    raw = '<p>Air <b>quality</b></p><ul><li>NO<sub>2</sub></li><li><a href="https://x.org/a">data</a></li></ul><script>x()</script>'
    assert to_plain_text(raw).text == "Air quality\n\nNO2\ndata (https://x.org/a)"


def test_markdown_is_flattened():
    raw = "## Heading\n\nSome **bold** and *italic* text with [a link](https://x.org) and `code`.\n\n\n\n- item"
    assert to_plain_text(raw).text == "Heading\n\nSome bold and italic text with a link (https://x.org) and code.\n\n- item"


def test_curly_quotes_and_accents_survive():
    assert to_plain_text("“Published” — économie").text == "“Published” — économie"


def test_five_megabyte_description_is_truncated_not_failed():
    huge = ("word " * 1_000_000) + "END"
    out = to_plain_text(huge, max_chars=10_000)
    assert out.truncated and out.original_length == len(huge)
    assert len(out.text) <= 10_002 and out.text.endswith("…") and "END" not in out.text


def test_short_text_is_not_marked_truncated():
    out = to_plain_text("  a\t\tb  \r\n\r\n\r\n c ")
    assert (out.text, out.truncated) == ("a b\n\nc", False)


def test_mint_uri_is_stable_and_percent_encodes_each_part():
    a = mint_uri("https://data.example.org/citycat/", "leeds", "dataset", "a b/c?d#e")
    assert str(a) == "https://data.example.org/citycat/dataset/leeds/a%20b%2Fc%3Fd%23e"
    assert a == mint_uri("https://data.example.org/citycat", "leeds", "dataset", "a b/c?d#e")
    assert str(mint_uri("https://b.org", "s", "institution")) == "https://b.org/institution/s"
    assert str(fragment(a, "distribution-1 2")) == str(a) + "#distribution-1%202"
    with pytest.raises(ValueError):
        mint_uri("not a url", "s", "dataset", "x")
    with pytest.raises(ValueError):
        mint_uri("https://b.org", "s", "dataset", "")


@pytest.mark.parametrize("raw,clean", [
    ("  https://x.org/a b.csv ", "https://x.org/a%20b.csv"),
    ("www.bit.ly/wmseul", "http://www.bit.ly/wmseul"),
    ("<http://x.org/>", "http://x.org/"),
    ("javascript:alert(1)", None), ("data:text/plain,hi", None), ("file:///etc/passwd", None),
    ("not a url", None), ("http://", None), ("", None), (None, None), ("http://x.org:99999/", None),
])
def test_clean_url(raw, clean):
    assert clean_url(raw) == clean


def test_is_http_url_and_mailto():
    assert is_http_url("https://x.org/a?b=1") and not is_http_url("ftp://x.org") and not is_http_url("https://x.org/a b")
    assert str(mailto("MAILTO: someone@council.gov.uk")) == "mailto:someone@council.gov.uk"
    assert mailto("not an address") is None and mailto("") is None
