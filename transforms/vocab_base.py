"""Shared plumbing of the vocabulary modules: where the tables live, how spellings are folded."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("vocabularies")
EU = "http://publications.europa.eu/resource/authority/"
SPDX = "https://spdx.org/licenses/"
IANA = "https://www.iana.org/assignments/media-types/"

_FOLD = re.compile(r"[\s_]+")


def _key(value: Any) -> str:
    """Fold a spelling: case, surrounding quotes/space, and ``_``/space vs ``-``."""
    s = str(value).strip().strip("\"'").strip().lower()
    return _FOLD.sub("-", s)


_URL_TAIL = re.compile(r"(/(legalcode|deed)(\.[a-z-]+)?|\.html?|/index)$")


def _url_key(value: str) -> str:
    """Fold a licence URL: scheme, ``www.``, trailing slash, ``legalcode``/``deed.xx``/``.html`` suffixes."""
    s = value.strip().lower().split("#")[0]
    s = re.sub(r"^[a-z]+://", "", s)
    s = s.removeprefix("www.").rstrip("/")
    s = _URL_TAIL.sub("", s).rstrip("/")
    return s


def _looks_like_url(s: str) -> bool:
    return "://" in s or s.lower().startswith("www.")


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _flag(value: str) -> bool | None:
    return {"true": True, "false": False}.get((value or "").strip().lower())
