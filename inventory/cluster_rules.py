"""The matching rules of duplicate detection: normalising identifiers and names, reading a graph's keys.

Split from :mod:`inventory.clusters` (the clustering itself) so the rules can be read and tested on
their own; docs/duplicates.md describes them for users.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from rdflib.namespace import DCTERMS, SKOS

ADMS_IDENTIFIER = "http://www.w3.org/ns/adms#identifier"
LEFTOVER_MIN = 0.8  # words only one side has must be at least this alike (typo, plural), see name_similarity
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DOI = re.compile(r"^(?:doi:|info:doi/|(?:https?://)?(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_DIGITS = re.compile(r"\d+")
_LITERAL = re.compile(r'^"((?:[^"\\]|\\.)*)"')


def norm_uri(value: str | None) -> str | None:
    """Case, whitespace, http/https and trailing slashes do not make two identifiers different."""
    if not value:
        return None
    v = "".join(value.split()).lower()
    if not v:
        return None
    if m := _DOI.match(v):
        return "doi:" + m.group(1)
    for scheme in ("https://", "http://"):
        if v.startswith(scheme):
            v = v[len(scheme):]
            break
    return v.rstrip("/") or None


def norm_text(value: str | None) -> str:
    """Lower case, accents and punctuation gone, single spaces: what title/publisher similarity compares."""
    if not value:
        return ""
    if value.isascii():
        return _NON_WORD.sub(" ", value.lower()).strip()
    v = unicodedata.normalize("NFKD", value)
    v = "".join(c for c in v if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", v).strip()


def identifier_key(value: str | None, publisher: str) -> str | None:
    """A global identifier (URI, URN, DOI, UUID) as itself; a local code only within its publisher.

    "cftc-dc1" or "42" mean something only inside the catalogue that issued them, so they count only
    between records of the same (normalised) publisher.
    """
    if not value or not value.strip():
        return None
    v = value.strip()
    low = v.lower()
    if "://" in low or low.startswith(("urn:", "doi:", "info:doi/")) or _DOI.match(low) or _UUID.match(low):
        return norm_uri(v)
    if not publisher:
        return None
    return f"local:{publisher}|{' '.join(low.split())}"


def pointer_keys(value: str, publisher: str) -> list[str]:
    """Keys an origin pointer may match: itself, and a trailing UUID path segment.

    A CKAN record's address is ``<portal>/dataset/<package id>``; the origin knows itself by the
    package id (its ``dct:identifier``), so the pointer's last segment is what meets it.
    """
    out = [k] if (k := identifier_key(value, publisher)) else []
    tail = value.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    if "://" in value and _UUID.match(tail):
        out.append(tail)
    return out


_KEY_PREDICATES = tuple(f"> <{p}> " for p in (DCTERMS.identifier, DCTERMS.source, ADMS_IDENTIFIER, SKOS.notation,
                                                "http://www.w3.org/2002/07/owl#sameAs"))
_IDENT, _SOURCE, _ADMS, _NOTATION, _SAMEAS = _KEY_PREDICATES


def _lines_with(nt: str, needle: str) -> Iterable[tuple[str, str]]:
    """(subject IRI, object term) of each line holding ``needle`` (str.find: C speed, no per-line Python)."""
    pos = nt.find(needle)
    while pos != -1:
        start = nt.rfind("\n", 0, pos) + 1
        end = nt.find("\n", pos)
        end = len(nt) if end == -1 else end
        line_obj = nt[pos + len(needle):end].rstrip()
        yield nt[start + 1:pos], line_obj[:-2] if line_obj.endswith(" .") else line_obj
        pos = nt.find(needle, end)


def graph_keys(uri: str, nt: str) -> tuple[list[str], list[str]]:
    """(identifiers, origin pointers) of the dataset ``uri`` from its canonical N-Triples.

    One regex scan, not an rdflib parse: parsing 100,000 graphs would take minutes and only five
    predicates matter. Identifiers: the dataset's ``dct:identifier`` literals. Pointers:
    ``dct:source`` of the dataset and of its catalogue records (except our own ``#source-record``),
    ``adms:identifier`` notations and ``owl:sameAs``.
    """
    idents: list[str] = []
    pointers: list[str] = []
    for subj, obj in _lines_with(nt, _IDENT):
        if subj == uri and (m := _LITERAL.match(obj)):
            idents.append(_unescape(m.group(1)))
    for _, obj in _lines_with(nt, _SOURCE):
        if obj.startswith("<") and not obj.endswith("#source-record>"):
            pointers.append(obj[1:-1])
    for subj, obj in _lines_with(nt, _SAMEAS):
        if subj == uri and obj.startswith("<"):
            pointers.append(obj[1:-1])
    adms_nodes = {obj[1:-1] for subj, obj in _lines_with(nt, _ADMS) if subj == uri and obj.startswith("<")}
    notations: dict[str, list[str]] = defaultdict(list)
    if adms_nodes:
        for subj, obj in _lines_with(nt, _NOTATION):
            if (m := _LITERAL.match(obj)):
                notations[subj].append(_unescape(m.group(1)))
    for node in adms_nodes:
        pointers.extend(notations.get(node, ()))
    return idents, pointers


def _unescape(s: str) -> str:
    return json.loads(f'"{s}"') if "\\" in s else s


def name_similarity(a: str, b: str, *, whole: bool = False) -> float:
    """Similarity of two normalised names that is not fooled by a long shared part.

    "ashfield district council" and "mansfield district council" share two words and score 0.94 on
    any token ratio; what tells them apart is the words that differ. So when both sides have words
    the other lacks, those leftovers must be near-identical too (a typo passes, another place does
    not: "list"/"lists" is 0.89, "east"/"west" 0.75, "ashfield"/"mansfield" 0.70, against
    ``LEFTOVER_MIN``). One side's words all inside the other's ("commodity futures trading commission" in
    "u s commodity futures trading commission") is a match for publishers, unless the shorter
    name is a single word; titles (``whole``) are then judged by the overall ratio.
    """
    from rapidfuzz import fuzz

    if a == b:
        return 1.0
    ta, tb = set(a.split()), set(b.split())
    ra, rb = ta - tb, tb - ta
    overall = fuzz.token_sort_ratio(a, b) / 100
    if ra and rb:
        leftover = fuzz.ratio(" ".join(sorted(ra)), " ".join(sorted(rb))) / 100
        return overall if leftover >= LEFTOVER_MIN else min(overall, leftover)
    if whole:
        return overall
    return 1.0 if min(len(ta), len(tb)) >= 2 else overall


__all__ = ["ADMS_IDENTIFIER", "LEFTOVER_MIN", "graph_keys", "identifier_key", "name_similarity", "norm_text",
           "norm_uri", "pointer_keys"]
