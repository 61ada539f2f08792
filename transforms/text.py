"""Descriptions as plain text: HTML and markdown stripped, entities decoded, whitespace tidied, size capped.

CKAN ``notes`` are markdown by convention, but harvested records carry HTML, and portals that escape
on the way in and again on the way out serve ``&amp;lt;p&amp;gt;``. The inventory and the feed want
one readable paragraph structure, so block elements become line breaks, inline markup disappears,
link targets are kept in brackets (a URL in a description is information), and a 5 MB description is
cut to a cap with a warning instead of failing the record.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

DEFAULT_MAX_CHARS = 20_000  # a description longer than this is almost always a pasted document

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")
_LOOKS_HTML = re.compile(r"<(/?)(p|br|div|span|a|ul|ol|li|h[1-6]|strong|em|b|i|table|tr|td|th|img|font|"
                         r"blockquote|pre|code|hr|section|article|small|u|sup|sub)\b[^>]*>", re.I)
_ESCAPED_TAG = re.compile(r"&(amp;)*lt;/?[a-zA-Z][^&]{0,200}?&(amp;)*gt;")
# Paragraph-like elements become a blank line; line-like ones (list items, rows, <br>) start a new line.
_PARA = {"p", "div", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr",
         "section", "article", "header", "footer", "dl"}
_LINE = {"br", "li", "tr", "dd", "dt"}
_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HREF = re.compile(r"""<a\b[^>]*?href\s*=\s*["']?([^"'\s>]+)["']?[^>]*>(.*?)</a\s*>""", re.I | re.S)

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_MD_EMPH = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1|(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?!\w)")
_MD_CODE = re.compile(r"`{1,3}([^`]*)`{1,3}")
_MD_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.M)
_MD_QUOTE = re.compile(r"^\s*>\s?", re.M)


@dataclass(frozen=True)
class CleanText:
    text: str
    truncated: bool = False
    original_length: int = 0


def _link(m: re.Match[str]) -> str:
    href, label = m[1], _TAG.sub("", m[2]).strip()
    if not label or label == href:
        return href
    return f"{label} ({href})" if href.startswith(("http://", "https://", "mailto:")) else label


def _block(m: re.Match[str]) -> str:
    name = m[2].lower()
    if name in _PARA:
        return "\n\n"
    return "\n" if name in _LINE and not m[1] else ""


def _strip_html(s: str) -> str:
    s = _COMMENT.sub("", s)
    s = _DROP.sub("", s)
    s = _HREF.sub(_link, s)
    s = _TAG.sub(_block, s)
    return s


def _strip_markdown(s: str) -> str:
    s = _MD_IMAGE.sub(lambda m: m[1], s)
    s = _MD_LINK.sub(lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})", s)
    s = _MD_HEADING.sub("", s)
    s = _MD_RULE.sub("", s)
    s = _MD_QUOTE.sub("", s)
    s = _MD_CODE.sub(lambda m: m[1], s)
    for _ in range(2):  # nested bold-in-italic
        s = _MD_EMPH.sub(lambda m: m[2] if m[2] is not None else m[3], s)
    return s


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\f\v]+")
_LINE_EDGES = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise_whitespace(s: str) -> str:
    """Spaces/tabs collapsed, lines trimmed, at most one blank line, no control characters."""
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    s = _CONTROL.sub("", s)
    s = _SPACES.sub(" ", s)
    s = _LINE_EDGES.sub("\n", s)
    s = _BLANK_LINES.sub("\n\n", s)
    return s.strip()


def clean_line(value: object) -> str:
    """A one-line value (title, name, keyword): entities decoded, tags dropped, whitespace collapsed."""
    if value is None:
        return ""
    s = str(value)
    if "&" in s:
        s = html.unescape(s)
    if "<" in s:
        s = _TAG.sub(" ", s)
    return " ".join(s.split())


# Every character some rule below acts on (markup, entities, escapes, control and special whitespace), and
# double spaces. A text with none of them, no surrounding whitespace and not a markdown rule ("---") comes
# out of the rules unchanged, so :func:`to_plain_text` returns it as is (most resource descriptions, many
# dataset descriptions): a dozen regex passes saved per text.
_ACTED_ON = re.compile(r"[<>&*_\[`#\x00-\x1f\x7f\x85\xa0]|  ")


def _unchanged_by_rules(s: str) -> bool:
    return (not _ACTED_ON.search(s) and s.strip() == s and s.replace("-", "").strip() != "")


def to_plain_text(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> CleanText:
    """HTML or markdown (or plain text) → readable plain text no longer than ``max_chars``."""
    if value is None:
        return CleanText("")
    s = str(value)
    if len(s) <= max_chars and _unchanged_by_rules(s):
        return CleanText(s, False, len(s))
    return _clean_all(s, max_chars)


def _clean_all(s: str, max_chars: int) -> CleanText:
    original = len(s)
    # Work on a bounded prefix: markup rarely more than doubles the text, and regexes over 5 MB cost time.
    if len(s) > max_chars * 4:
        s = s[: max_chars * 4]
        s = re.sub(r"<[^>]*$", "", s)
    for _ in range(3):  # each round peels one level of escaping (&amp;lt;p&amp;gt; → &lt;p&gt; → <p>)
        if not _ESCAPED_TAG.search(s):
            break
        s = html.unescape(s)
    if _LOOKS_HTML.search(s):
        s = _strip_html(s)
    s = html.unescape(s)
    s = _strip_markdown(s)
    s = normalise_whitespace(s)
    truncated = len(s) > max_chars
    if truncated:
        cut = s[:max_chars]
        space = cut.rfind(" ", max_chars - 200)
        s = (cut[:space] if space > 0 else cut).rstrip() + " …"
    return CleanText(s, truncated or original > max_chars * 4, original)
